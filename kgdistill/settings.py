"""Typed, frozen configuration from a TOML file, environment variables and CLI flags.

Precedence, lowest first: dataclass defaults, the TOML file, environment
variables ``KGDISTILL_<SECTION>__<KEY>`` (e.g. ``KGDISTILL_NEO4J__BOLT_PORT``;
nested sections add ``__``), then flags (``--set section.key=value`` and each
command's own flags). An unknown key or a value of the wrong type is a
:class:`ConfigError` that names the key and where it came from.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
ENV_PREFIX = "KGDISTILL_"


class ConfigError(ValueError):
    """A configuration key or value that cannot be used; the message names it and its source."""


def build(cls: type[T], layers: list[tuple[str, Mapping[str, Any]]]) -> T:
    """Build dataclass ``cls`` from layers of nested dicts, later layers winning.

    Each layer is ``(source, data)``; ``source`` ("kgdistill.toml", "environment",
    "--set") appears in error messages.
    """
    merged: dict[str, tuple[str, Any]] = {}
    for source, data in layers:
        _flatten(cls, data, "", source, merged)
    return _construct(cls, "", merged)


def _fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _flatten(
    cls: type, data: Mapping[str, Any], prefix: str, source: str, out: dict[str, tuple[str, Any]]
) -> None:
    fields = _fields(cls)
    hints = _hints(cls)
    for key, value in data.items():
        name = key.replace("-", "_")
        dotted = f"{prefix}{name}"
        if name not in fields:
            known = ", ".join(sorted(f"{prefix}{k}" for k in fields))
            raise ConfigError(f"unknown key '{dotted}' in {source}; known keys here: {known}")
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, Mapping):
                raise ConfigError(f"'{dotted}' in {source} must be a table of keys, not {value!r}")
            _flatten(typing.cast(type, hint), value, f"{dotted}.", source, out)
        else:
            out[dotted] = (source, value)


def _construct(
    cls: type[T], prefix: str, merged: dict[str, tuple[str, Any]], base: Any = None
) -> T:
    """Build ``cls`` from ``merged`` values; ``base`` (a default instance) supplies the rest.

    Starting from the field's own default keeps per-field defaults such as
    ``student_gat: StudentConfig = field(default_factory=lambda: StudentConfig(kind="gat"))``.
    """
    kwargs: dict[str, Any] = {}
    hints = _hints(cls)
    for name, f in _fields(cls).items():
        dotted = f"{prefix}{name}"
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            default = getattr(base, name) if base is not None else _field_default(f)
            kwargs[name] = _construct(typing.cast(type, hint), f"{dotted}.", merged, default)
        elif dotted in merged:
            source, raw = merged[dotted]
            kwargs[name] = coerce(raw, hint, dotted, source)
    try:
        if base is not None:
            return typing.cast(T, dataclasses.replace(base, **kwargs))
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        where = prefix.rstrip(".") or "configuration"
        raise ConfigError(f"invalid [{where}]: {exc}") from exc


def _field_default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    if f.default is not dataclasses.MISSING:
        return f.default
    return None


def coerce(raw: Any, hint: Any, key: str, source: str) -> Any:
    """Turn ``raw`` (a TOML value or a string from the environment or a flag) into ``hint``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(raw, hint, key, source)
    if origin is typing.Literal:
        return _coerce_literal(raw, typing.get_args(hint), key, source)
    if origin is tuple:
        return _coerce_tuple(raw, hint, key, source)
    convert = _SCALARS.get(hint)
    if convert is None:
        return raw
    try:
        return convert(raw)
    except (TypeError, ValueError):
        raise _invalid(raw, hint, key, source) from None


def _invalid(raw: Any, hint: Any, key: str, source: str) -> ConfigError:
    return ConfigError(f"'{key}' from {source}: {raw!r} is not a valid {_type_name(hint)}")


def _coerce_union(raw: Any, hint: Any, key: str, source: str) -> Any:
    """``X | None``: empty or "none" is None; otherwise the first member ``raw`` fits."""
    args = typing.get_args(hint)
    empty = raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none"))
    if empty and type(None) in args:
        return None
    for arg in (a for a in args if a is not type(None)):
        try:
            return coerce(raw, arg, key, source)
        except ConfigError:
            continue
    raise _invalid(raw, hint, key, source)


def _coerce_literal(raw: Any, options: tuple[Any, ...], key: str, source: str) -> Any:
    for option in options:
        if raw == option or (isinstance(raw, str) and str(option) == raw.strip()):
            return option
    raise ConfigError(
        f"'{key}' from {source}: {raw!r} is not one of {', '.join(map(repr, options))}"
    )


def _coerce_tuple(raw: Any, hint: Any, key: str, source: str) -> tuple[Any, ...]:
    """A TOML array, or a string like ``a, b`` or ``[1, 2]`` from the environment or a flag."""
    items = raw
    if isinstance(raw, str):
        text = raw.strip().removeprefix("[").removesuffix("]")
        items = [part.strip().strip("'\"") for part in text.split(",") if part.strip()]
    if not isinstance(items, (list, tuple)):
        raise _invalid(raw, hint, key, source)
    args = typing.get_args(hint)
    inner = args[0] if args else str
    return tuple(coerce(item, inner, key, source) for item in items)


# Scalar conversions: each raises ValueError or TypeError for a value it cannot take.
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    word = raw.strip().lower() if isinstance(raw, str) else None
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError(raw)


def _to_int(raw: Any) -> int:
    if isinstance(raw, bool):  # TOML's true is not the number 1
        raise ValueError(raw)
    if isinstance(raw, int):
        return raw
    return int(str(raw).strip().replace("_", ""))


def _to_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(raw)
    return float(str(raw).strip()) if isinstance(raw, str) else float(raw)


def _to_str(raw: Any) -> str:
    if isinstance(raw, (dict, list)):
        raise ValueError(raw)
    return str(raw)


def _to_path(raw: Any) -> Path:
    return Path(str(raw)).expanduser()


_SCALARS: dict[Any, Callable[[Any], Any]] = {
    bool: _to_bool,
    int: _to_int,
    float: _to_float,
    str: _to_str,
    Path: _to_path,
}


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def env_layer(cls: type, environ: Mapping[str, str]) -> dict[str, Any]:
    """Nested dict from ``KGDISTILL_SECTION__KEY=value`` variables that name known sections.

    Variables with one underscore after the prefix (``KGDISTILL_HOME``) are not
    configuration keys and are left alone.
    """
    data: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if parts[0] not in _fields(cls):
            raise ConfigError(
                f"environment variable {name} names no configuration section "
                f"(sections: {', '.join(sorted(_fields(cls)))})"
            )
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return data


def flag_layer(assignments: list[str]) -> dict[str, Any]:
    """Nested dict from ``section.key=value`` strings (``--set``)."""
    data: dict[str, Any] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected section.key=value")
        parts = [p.strip() for p in key.split(".")]
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return data


def to_dict(config: Any) -> dict[str, Any]:
    """A plain dict (for reports and artifacts); tuples become lists, Paths strings."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    return typing.cast(dict[str, Any], plain(config))
