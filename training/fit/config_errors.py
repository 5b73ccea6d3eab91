"""Pydantic's validation errors of the training config, rewritten as "what was found, what to write".

One line per problem, naming the field path, the value found and what is allowed (with the field's
default as an example and its description)::

    unknown key 'lr'; did you mean 'learning_rate'?
    batch_size is 'sixteen' (str); write an integer, e.g. 16 (rows per forward/backward pass)

Validators of :mod:`commentmod.training.fit.config` raise ``ValueError("a fraction in [0, 1)")``
(what is allowed, for one value), or :data:`WHOLE_MESSAGE` errors (a complete sentence, for rules
that tie several fields together).
"""

from __future__ import annotations

import difflib
import types
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

# the pydantic error type of a validator whose message is a complete sentence, shown as is
WHOLE_MESSAGE = "config_rule"

# common names from other trainers -> ours
ALIASES: dict[str, str] = {
    "lr": "learning_rate",
    "bs": "batch_size",
    "wd": "weight_decay",
    "epoch": "epochs",
    "num_epochs": "epochs",
    "num_train_epochs": "epochs",
    "steps": "max_steps",
    "warmup": "warmup_ratio",
    "warmup_steps": "warmup_ratio",
    "gradient_accumulation_steps": "grad_accum",
    "per_device_train_batch_size": "batch_size",
    "model": "base_model",
    "base": "base_model",
    "max_len": "max_length",
    "patience": "early_stopping_patience",
    "threads": "num_threads",
    "dtype": "precision",
    "mixed_precision": "precision",
    "amp": "precision",
    "bf16": "precision",
}

# pydantic error type -> what to write instead
_KINDS = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "tuple_type": "a list",
    "list_type": "a list",
}


def suggest(key: str, valid: list[str]) -> str | None:
    """The valid key most likely meant by ``key`` (alias, initials, then difflib), or None."""
    if ALIASES.get(key) in valid:
        return ALIASES[key]
    initials = [v for v in valid if "".join(part[:1] for part in v.split("_")) == key]
    if len(initials) == 1:
        return initials[0]
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return close[0] if close else None


def describe_errors(exc: ValidationError, root: type[BaseModel], origin: str) -> str:
    """One line per problem of ``exc`` (raised validating ``root``), each prefixed with ``origin``."""
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        lines += describe_error(err, root).splitlines()
    return "\n".join(f"{origin}: {line}" for line in lines)


def describe_error(err: ErrorDetails, root: type[BaseModel]) -> str:
    """What one pydantic error means for the person writing the YAML file."""
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == WHOLE_MESSAGE:
        return err["msg"]
    if kind == "extra_forbidden":
        return _unknown_key(loc, root)
    if loc and loc[-1] == "[key]":  # a mapping key (e.g. a label name) that is not allowed
        return f"{_path(loc[:-1])}: {_problem(err)}"
    field = _field(loc, root)
    value = err.get("input")
    if kind == "literal_error":
        options = get_args(field.annotation) if field is not None else ()
        return f"{_path(loc)} is {value!r}; write {_literal_hint(value, options, err)}"
    if kind == "value_error":
        found, allowed = repr(value), _problem(err)
    else:
        found = f"{value!r} ({type(value).__name__})"
        allowed = _KINDS.get(kind, err["msg"].removeprefix("Input should be ").lower())
        if field is not None and _nullable(field.annotation):
            allowed += " or null"
    return f"{_path(loc)} is {found}; write {allowed}{_example(field)}{_about(field)}"


def _problem(err: ErrorDetails) -> str:
    cause = (err.get("ctx") or {}).get("error")
    return str(cause) if cause is not None else err["msg"]


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(loc: tuple[int | str, ...], root: type[BaseModel]) -> type[BaseModel] | None:
    """The config section (model class) at ``loc``, or None when ``loc`` is not a section."""
    model: type[BaseModel] = root
    for part in loc:
        field = model.model_fields.get(str(part))
        sub = field.annotation if field is not None else None
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            return None
        model = sub
    return model


def _field(loc: tuple[int | str, ...], root: type[BaseModel]) -> FieldInfo | None:
    """The field declared at ``loc`` (None inside a list or mapping value)."""
    if not loc:
        return None
    model = _model_at(loc[:-1], root)
    return model.model_fields.get(str(loc[-1])) if model is not None else None


def _unknown_key(loc: tuple[int | str, ...], root: type[BaseModel]) -> str:
    model = _model_at(loc[:-1], root)
    valid = list(model.model_fields) if model is not None else []
    prefix = _path(loc[:-1]) + "." if len(loc) > 1 else ""
    close = suggest(str(loc[-1]), valid)
    more = f"; did you mean '{prefix}{close}'?" if close else f"; valid keys: {', '.join(valid)}"
    return f"unknown key '{_path(loc)}'{more}"


def _literal_hint(value: Any, options: tuple[Any, ...], err: ErrorDetails) -> str:
    if not options:
        return str((err.get("ctx") or {}).get("expected", err["msg"]))
    close = difflib.get_close_matches(str(value), [str(o) for o in options], n=1, cutoff=0.5)
    more = f"; did you mean {close[0]!r}?" if close else ""
    return " or ".join(repr(o) for o in options) + more


def _nullable(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


def _example(field: FieldInfo | None) -> str:
    default = None if field is None else field.default
    if not isinstance(default, (bool, int, float, str)):  # none, or a list/mapping/section
        return ""
    shown = yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("...").strip()
    return f", e.g. {shown}"


def _about(field: FieldInfo | None) -> str:
    return f" ({field.description})" if field is not None and field.description else ""
