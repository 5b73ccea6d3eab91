"""Converters: one module per dataset, each exposing ``convert(folder, **params) -> Iterator[CommentRecord]``.

The catalog (``configs/data.yaml``) names a converter by module name; :func:`get_converter`
imports it lazily.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ....model.record import CommentRecord

Converter = Callable[..., Iterator[CommentRecord]]


def get_converter(name: str) -> Converter:
    """The ``convert`` function of ``commentmod.training.data.converters.<name>``."""
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        known = sorted(p.stem for p in Path(__file__).parent.glob("*.py") if not p.stem.startswith("_"))
        raise KeyError(f"no converter named {name!r}; known converters: {', '.join(known)}") from None
    convert: Any = module.convert
    return convert
