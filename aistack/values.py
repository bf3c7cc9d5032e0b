"""JSON round-trip for the frozen dataclasses aistack passes around.

``to_dict`` turns a dataclass tree into plain JSON types; ``from_dict`` builds
it back from the type hints, so ``from_dict(T, to_dict(x)) == x`` for every
value type (``HardwareProfile``, ``Plan``, ``ServiceSpec``...). Unknown keys are
rejected with the path of the offending key, so a hand-edited or foreign file
fails loudly instead of being half-read.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


class ValueError_(ValueError):
    """Raised with a dotted path to the key that did not fit."""


def to_dict(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_dict(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_dict(v) for k, v in value.items()}
    return value


_hints_cache: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _hints_cache:
        _hints_cache[cls] = typing.get_type_hints(cls)
    return _hints_cache[cls]


def from_dict(cls: type[T], data: Any, path: str = "") -> T:
    return _build(cls, data, path or cls.__name__)


def _build(tp: Any, data: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return data
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _build(arg, data, path)
            except (ValueError_, TypeError) as exc:
                errors.append(str(exc))
        raise ValueError_(f"{path}: {data!r} does not match {tp} ({'; '.join(errors)})")
    if origin is typing.Literal:
        if data not in args:
            raise ValueError_(f"{path}: expected one of {list(args)}, got {data!r}")
        return data
    if origin in (tuple, list):
        if not isinstance(data, (list, tuple)):
            raise ValueError_(f"{path}: expected a list, got {type(data).__name__}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v, f"{path}[{i}]") for i, v in enumerate(data))
        if origin is tuple:
            if len(args) != len(data):
                raise ValueError_(f"{path}: expected {len(args)} items, got {len(data)}")
            return tuple(_build(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, data)))
        return [_build(args[0] if args else Any, v, f"{path}[{i}]") for i, v in enumerate(data)]
    if origin is dict:
        if not isinstance(data, dict):
            raise ValueError_(f"{path}: expected a table, got {type(data).__name__}")
        kt, vt = args if args else (Any, Any)
        return {k: _build(vt, v, f"{path}.{k}") for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise ValueError_(f"{path}: expected a table, got {type(data).__name__}")
        hints = _hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = set(data) - set(fields)
        if unknown:
            raise ValueError_(f"{path}: unknown key(s) {sorted(unknown)}")
        kwargs = {}
        for name, f in fields.items():
            if name in data:
                kwargs[name] = _build(hints[name], data[name], f"{path}.{name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
                raise ValueError_(f"{path}: missing key '{name}'")
        return tp(**kwargs)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError as exc:
            raise ValueError_(f"{path}: {exc}") from None
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise ValueError_(f"{path}: expected a number, got {data!r}")
        return float(data)
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise ValueError_(f"{path}: expected an integer, got {data!r}")
        return data
    if tp in (str, bool):
        if not isinstance(data, tp):
            raise ValueError_(f"{path}: expected {tp.__name__}, got {data!r}")
        return data
    if tp is type(None):
        if data is not None:
            raise ValueError_(f"{path}: expected null, got {data!r}")
        return None
    return data
