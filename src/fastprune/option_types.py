"""Reading option values by their annotated type: a command-line string (``parse_text``: lists
comma-separated, dicts ``k=v,...``) or a YAML / Python value (``check_value``: checked and normalised).
The type rules of :mod:`fastprune.options`, kept apart from how fields are declared and wired to argparse.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from fastprune.errors import FastpruneError


def strip_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        optional = len(args) < len(get_args(tp))
        return (args[0] if len(args) == 1 else functools.reduce(operator.or_, args)), optional
    return tp, False


def is_options(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def scalar(tp: Any, text: str, where: str) -> Any:
    if tp is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise FastpruneError(f"{where}: expected true or false, got {text!r}")
    if get_origin(tp) is Literal:
        if text not in get_args(tp):
            raise FastpruneError(f"{where}: {text!r} is not one of {', '.join(map(str, get_args(tp)))}")
        return text
    if get_origin(tp) in (typing.Union, types.UnionType):  # e.g. int | str: the first that parses
        for member in get_args(tp):
            try:
                return scalar(member, text, where)
            except FastpruneError:
                continue
        raise FastpruneError(f"{where}: cannot read {text!r}")
    try:
        return tp(text)
    except (TypeError, ValueError):
        raise FastpruneError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {text!r}") from None


def parse_text(tp: Any, text: str, where: str) -> Any:
    """A command-line string as a value of type ``tp`` (lists comma-separated, dicts ``k=v,...``)."""
    tp, _ = strip_optional(tp)
    origin = get_origin(tp)
    if origin in (list, tuple):
        (item, *rest) = get_args(tp)
        try:
            values = [scalar(item, x.strip(), where) for x in text.split(",") if x.strip()]
        except FastpruneError:
            values = []
        if not values:
            kinds = {int: "integers", float: "numbers"}.get(item, "values")
            raise FastpruneError(f"{where}: expected a comma-separated list of {kinds}, got {text!r}")
        return tuple(values) if origin is tuple else values
    if origin is dict:
        _, value_tp = get_args(tp)
        out = {}
        for part in (x.strip() for x in text.split(",") if x.strip()):
            key, sep, value = part.rpartition("=")
            if not sep or not key:
                raise FastpruneError(f"{where}: expected KEY=VALUE pairs, got {part!r}")
            out[key.strip()] = scalar(value_tp, value.strip(), where)
        return out
    return scalar(tp, text, where)


def check_value(tp: Any, value: Any, where: str) -> Any:
    """A YAML / Python value checked against ``tp`` and normalised (int -> float, list -> tuple, str -> Path);
    ``Any``: taken as given (the owner validates it)."""
    if tp is Any:
        return value
    inner, optional = strip_optional(tp)
    if value is None:
        if optional:
            return None
        raise FastpruneError(f"{where} must not be empty")
    origin = get_origin(inner)
    if origin in (typing.Union, types.UnionType):
        for member in get_args(inner):
            try:
                return check_value(member, value, where)
            except FastpruneError:
                continue
        raise FastpruneError(f"{where}: {value!r} is not a valid value")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise FastpruneError(f"{where} must be a list, got {value!r}")
        item = get_args(inner)[0]
        values = [check_value(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(values) if origin is tuple else values
    if origin is dict:
        if not isinstance(value, dict):
            raise FastpruneError(f"{where} must be a mapping, got {value!r}")
        key_tp, value_tp = get_args(inner)
        return {check_value(key_tp, k, f"{where} key"): check_value(value_tp, v, f"{where}.{k}")
                for k, v in value.items()}
    if origin is Literal:
        if value not in get_args(inner):
            raise FastpruneError(f"{where}: {value!r} is not one of {', '.join(map(str, get_args(inner)))}")
        return value
    if inner is bool:
        if not isinstance(value, bool):
            raise FastpruneError(f"{where} must be true or false, got {value!r}")
        return value
    if inner is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FastpruneError(f"{where} must be an integer, got {value!r}")
        return value
    if inner is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FastpruneError(f"{where} must be a number, got {value!r}")
        return float(value)
    if inner is str:
        if not isinstance(value, str):
            raise FastpruneError(f"{where} must be a string, got {value!r}")
        return value
    if inner is Path:
        if not isinstance(value, (str, Path)):
            raise FastpruneError(f"{where} must be a path, got {value!r}")
        return Path(value)
    if is_options(inner):
        from fastprune.options import options_from_mapping  # a nested section is read like the outer one

        return value if isinstance(value, inner) else options_from_mapping(inner, value, where)
    return value
