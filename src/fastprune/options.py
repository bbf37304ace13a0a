"""One definition of a stage's options: a dataclass from which its argparse options and its YAML section
are both derived, so a default, a type or a help text cannot drift between ``fastprune STAGE`` and
``fastprune run``.

A field is declared with :func:`option` (default, help and how it is spelled on the command line). Its type
comes from the annotation: ``str``, ``int``, ``float``, ``bool``, ``Path``, ``Literal[...]`` (choices),
``X | None``, ``list[T]`` / ``tuple[T, ...]`` (comma-separated on the command line, a list in YAML),
``dict[str, T]`` (``k=v,k=v`` on the command line, a mapping in YAML) and a nested options dataclass
(its flags prefixed with the field name: field ``ppl`` with field ``max_length`` is ``--ppl-max-length``
and ``ppl: {max_length: ...}`` in YAML). How a value of each type is read and checked lives in
:mod:`fastprune.option_types`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import typing
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from fastprune.errors import FastpruneError
from fastprune.option_types import check_value, is_options, parse_text, scalar, strip_optional

_KEY = "fastprune.option"


@dataclass(frozen=True)
class OptionSpec:
    help: str
    flag: str | None = None  # e.g. "--no-progress"; default "--field-name"
    short: str | None = None  # e.g. "-o"
    positional: bool = False
    nargs: str | None = None  # positional lists: "+" or "*"
    append: bool = False  # a list given by repeating the flag (--verify vllm --verify x)
    metavar: str | None = None
    cli: bool = True  # False: YAML / Python only
    yaml: bool = True  # False: command line only (the pipeline sets it, or it is a one-off switch)
    parse: typing.Callable[[str], Any] | None = None  # command-line text -> value, for unusual types
    group: str | None = None  # argparse group title
    flatten: bool = False  # a nested options dataclass whose fields sit at this level (no prefix, no sub-mapping)
    exclusive: str | None = None  # name of an argparse mutually exclusive group (e.g. --drop | --ratio | --layers)
    choices: tuple | None = None  # allowed values known at run time (e.g. a schema's metric names); else Literal


def option(default: Any = MISSING, *, help: str, default_factory: Any = MISSING, **spec: Any) -> Any:
    """A dataclass field with its command-line and YAML spelling; a list/dict default gets a factory."""
    if isinstance(default, (list, dict, set)):
        value = default
        default_factory, default = (lambda: type(value)(value)), MISSING
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={_KEY: OptionSpec(help=help, **spec)})


def spec_of(f: dataclasses.Field) -> OptionSpec:
    spec = f.metadata.get(_KEY)
    if spec is None:
        raise TypeError(f"field {f.name!r} was not declared with fastprune.options.option()")
    return spec


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def option_fields(cls: type) -> list[tuple[dataclasses.Field, Any, OptionSpec]]:
    """(field, resolved type, spec) of every option of ``cls``, in declaration order."""
    hints = _hints(cls)
    return [(f, hints[f.name], spec_of(f)) for f in dataclasses.fields(cls) if f.init]


def default_of(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def _flag(name: str, prefix: str) -> str:
    return "--" + (prefix + name).replace("_", "-")


def _help(spec: OptionSpec, default: Any) -> str:
    if default in (MISSING, None, False) or "default" in spec.help:
        return spec.help
    if isinstance(default, (list, tuple)):
        shown = ",".join(map(str, default)) if default else "none"
    elif isinstance(default, dict):
        shown = ",".join(f"{k}={v}" for k, v in default.items()) if default else "none"
    elif default is True:
        return spec.help
    else:
        shown = str(default)
    return f"{spec.help} (default: {shown})"


def add_options(parser: argparse.ArgumentParser, cls: type, *, prefix: str = "",
                exclude: typing.Container[str] = ()) -> None:
    """Add every command-line option of ``cls`` to ``parser`` (dest = prefix + field name)."""
    groups: dict[str, Any] = {}
    for f, tp, spec in option_fields(cls):
        if not spec.cli or f.name in exclude:
            continue
        inner, _ = strip_optional(tp)
        if is_options(inner):
            add_options(parser, inner, prefix=prefix if spec.flatten else f"{prefix}{f.name}_")
            continue
        target = parser
        if spec.group:
            target = groups.get(spec.group) or groups.setdefault(spec.group, parser.add_argument_group(spec.group))
        if spec.exclusive:
            key = "exclusive:" + spec.exclusive
            target = groups.get(key) or groups.setdefault(key, target.add_mutually_exclusive_group())
        default = default_of(f)
        dest = prefix + f.name
        where = spec.flag or (dest if spec.positional else _flag(f.name, prefix))
        convert = spec.parse or (lambda text, tp=tp, where=where: parse_text(tp, text, where))
        kwargs: dict[str, Any] = {"help": _help(spec, default)}
        if spec.metavar:
            kwargs["metavar"] = spec.metavar
        if spec.positional:
            if spec.nargs:
                item = get_args(inner)[0]
                kwargs.update(nargs=spec.nargs, type=_argparse_type(spec.parse or (
                    lambda text, item=item, where=where: scalar(item, text, where)), where))
            else:
                kwargs["type"] = _argparse_type(convert, where)
            if default is not MISSING:
                kwargs.setdefault("nargs", "?")
                kwargs["default"] = default
            target.add_argument(dest, **kwargs)
            continue
        names = [spec.short, where] if spec.short else [where]
        kwargs["dest"] = dest
        if inner is bool and spec.parse is None:
            if spec.flag and default is True:  # an explicit flag turns a default-on setting off (--no-verify)
                kwargs.update(action="store_false", default=True)
            elif default is True:
                kwargs.update(action=argparse.BooleanOptionalAction, default=True)
            else:
                kwargs.update(action="store_true", default=False)
        elif spec.append:
            item = get_args(inner)[0]
            kwargs.update(action="append", default=default, type=_argparse_type(spec.parse or (
                lambda text, item=item, where=where: scalar(item, text, where)), where))
        else:
            if default is MISSING:
                kwargs["required"] = True
            else:
                kwargs["default"] = default
            kwargs["type"] = _argparse_type(convert, where)
            if get_origin(inner) is Literal:
                kwargs["choices"] = get_args(inner)
                kwargs["type"] = str
        if spec.choices is not None:
            kwargs["choices"] = spec.choices
        target.add_argument(*names, **kwargs)


def _argparse_type(convert, where: str):
    """Turn a FastpruneError from parsing into argparse's own usage error (exit 2; argparse names the flag)."""
    def parse(text: str):
        try:
            return convert(text)
        except FastpruneError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{where}: ")) from None
    return parse


def options_from_args(cls: type, args: argparse.Namespace, *, prefix: str = "", **overrides: Any) -> Any:
    """Build ``cls`` from a parsed namespace; fields not on the command line keep their defaults."""
    kwargs: dict[str, Any] = {}
    for f, tp, spec in option_fields(cls):
        inner, _ = strip_optional(tp)
        if f.name in overrides:
            kwargs[f.name] = overrides[f.name]
        elif is_options(inner) and spec.cli:
            kwargs[f.name] = options_from_args(inner, args, prefix=prefix if spec.flatten else f"{prefix}{f.name}_")
        elif spec.cli and hasattr(args, prefix + f.name):
            value = getattr(args, prefix + f.name)
            kwargs[f.name] = check_value(tp, value, spec.flag or _flag(f.name, prefix)) if value is not None else None
    return cls(**kwargs)


def yaml_fields(cls: type) -> list[str]:
    """The keys of ``cls``'s YAML section (a flattened nested dataclass contributes its own keys)."""
    keys: list[str] = []
    for f, tp, spec in option_fields(cls):
        if spec.yaml and spec.flatten:
            keys += yaml_fields(strip_optional(tp)[0])
        elif spec.yaml:
            keys.append(f.name)
    return keys


def options_from_mapping(cls: type, data: Any, where: str = "", **overrides: Any) -> Any:
    """Build ``cls`` from a YAML mapping with strict keys; ``overrides`` supply the fields YAML may not set."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FastpruneError(f"{where or 'config'} must be a mapping, got {type(data).__name__}")
    allowed = yaml_fields(cls)
    unknown = [k for k in data if k not in allowed]
    if unknown:
        dotted = f"{where}.{unknown[0]}" if where else str(unknown[0])
        raise FastpruneError(f"unknown config key '{dotted}'; allowed keys{' in ' + where if where else ''}: "
                             f"{', '.join(allowed)}")
    kwargs = dict(overrides)
    hints = _hints(cls)
    for f, tp, spec in option_fields(cls):
        if spec.flatten and f.name not in kwargs:
            inner = strip_optional(tp)[0]
            own = set(yaml_fields(inner))
            kwargs[f.name] = options_from_mapping(inner, {k: v for k, v in data.items() if k in own}, where)
    for key, value in data.items():
        if key in hints and not spec_of(_field(cls, key)).flatten:
            dotted = f"{where}.{key}" if where else key
            kwargs[key] = _in_choices(spec_of(_field(cls, key)), check_value(hints[key], value, dotted), dotted)
    missing = [f.name for f, _, _ in option_fields(cls) if default_of(f) is MISSING and f.name not in kwargs]
    if missing:
        raise FastpruneError(f"{where or 'config'} needs {', '.join(missing)}")
    return cls(**kwargs)


def _in_choices(spec: OptionSpec, value: Any, where: str) -> Any:
    if spec.choices is None or value is None:
        return value
    for item in value if isinstance(value, (list, tuple)) else [value]:
        if item not in spec.choices:
            raise FastpruneError(f"{where}: {item!r} is not one of {', '.join(map(str, spec.choices))}")
    return value


def _field(cls: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def options_to_mapping(obj: Any, *, yaml_only: bool = True) -> dict[str, Any]:
    """The YAML (JSON) form of an options dataclass: paths as strings, tuples as lists, nested as mappings."""
    out: dict[str, Any] = {}
    for f, _, spec in option_fields(type(obj)):
        if yaml_only and not spec.yaml:
            continue
        if spec.flatten:
            out.update(options_to_mapping(getattr(obj, f.name), yaml_only=yaml_only))
        else:
            out[f.name] = _plain(getattr(obj, f.name), yaml_only)
    return out


def _plain(value: Any, yaml_only: bool) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return options_to_mapping(value, yaml_only=yaml_only)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, yaml_only) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, yaml_only) for k, v in value.items()}
    return value


def as_namespace(obj: Any) -> argparse.Namespace:
    """The flat view of an options object a parser would produce (flattened groups' fields at the top,
    nested groups prefixed), for code that still reads ``args.x``."""
    out = argparse.Namespace()
    _fill_namespace(out, obj, "")
    return out


def _fill_namespace(ns: argparse.Namespace, obj: Any, prefix: str) -> None:
    for f, tp, spec in option_fields(type(obj)):
        value = getattr(obj, f.name)
        if is_options(strip_optional(tp)[0]) and value is not None:
            _fill_namespace(ns, value, prefix if spec.flatten else f"{prefix}{f.name}_")
        else:
            setattr(ns, prefix + f.name, value)


def section_of(cls: type, name: str | None = None, base: type | None = None) -> type:
    """A dataclass of ``cls``'s YAML fields only (same types, defaults and help): a pipeline's section for a
    stage whose other fields the pipeline sets itself. ``base``: a dataclass of extra, pipeline-own keys."""
    hints = _hints(cls)
    own = [(f.name, hints[f.name], dataclasses.field(default=f.default, default_factory=f.default_factory,
                                                      metadata=f.metadata))
           for f, _, spec in option_fields(cls) if spec.yaml]
    return dataclasses.make_dataclass(name or f"{cls.__name__}Section", own, bases=(base,) if base else (),
                                      namespace={"__module__": cls.__module__, "options_class": cls})


def options_from_section(cls: type, section: Any, **overrides: Any) -> Any:
    """``cls`` from a section made by :func:`section_of` plus the fields the caller owns."""
    own = {f.name for f, _, spec in option_fields(cls) if spec.yaml}
    kwargs = {f.name: getattr(section, f.name) for f in dataclasses.fields(section) if f.name in own}
    kwargs.update(overrides)
    return cls(**kwargs)


def options_to_argv(obj: Any, *, prefix: str = "") -> list[str]:
    """The command line that parses back to ``obj``, defaults left out: what to type to rerun a step of
    ``fastprune run`` by hand. A value the command line cannot spell (None where the default is not) is
    left out too."""
    positional: list[str] = []
    flags: list[str] = []
    for f, tp, spec in option_fields(type(obj)):
        if not spec.cli:
            continue
        value = getattr(obj, f.name)
        inner, _ = strip_optional(tp)
        if is_options(inner):
            flags += options_to_argv(value, prefix=prefix if spec.flatten else f"{prefix}{f.name}_")
            continue
        if spec.positional:
            positional += [str(v) for v in value] if spec.nargs else [str(value)]
            continue
        default = default_of(f)
        if value is None or (default is not MISSING and _plain(value, False) == _plain(default, False)):
            continue
        flag = spec.flag or _flag(f.name, prefix)
        if inner is bool and spec.parse is None:
            # default on: --no-NAME (BooleanOptionalAction), or the explicit off flag (--no-verify)
            flags.append("--no-" + flag[2:] if default is True and not spec.flag else flag)
        elif spec.append:
            for item in value:
                flags += [flag, str(item)]
        elif isinstance(value, (list, tuple)):
            flags += [flag, ",".join(map(str, value))]
        elif isinstance(value, dict):
            flags += [flag, ",".join(f"{k}={v}" for k, v in value.items())]
        else:
            flags += [flag, str(value)]
    return positional + flags
