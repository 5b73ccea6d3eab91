"""The one YAML loader: a file that must hold a mapping (configs, the catalog, term lists)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import CommentmodError


class YamlFileError(CommentmodError):
    """A YAML file is missing, unreadable, not valid YAML, or not a mapping at the top."""


def load_yaml_mapping(path: Path | str, what: str, hint: str = "") -> dict[str, Any]:
    """The top-level mapping of a YAML file (an empty file gives ``{}``).

    ``what`` names the file in errors ("training config", "data catalog"); ``hint`` says what to
    pass instead when the file does not exist (e.g. "pass --config configs/quick.yaml").
    """
    path = Path(path)
    if not path.is_file():
        raise YamlFileError(f"{what} {path} does not exist" + (f"; {hint}" if hint else ""))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise YamlFileError(f"{what} {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise YamlFileError(
            f"{what} {path} holds a {type(data).__name__} at the top; it must be a mapping (key: value)"
        )
    return data
