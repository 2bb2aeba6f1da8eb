"""Building config dataclasses from plain dicts (JSON files) with clear errors for unknown keys
and for values of the wrong type, before anything runs."""
from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from typing import Any, TypeVar, Union

from samprompt.errors import ConfigError

T = TypeVar("T")


def describe(hint: Any) -> str:
    """A reader's name for a type hint: "an integer", "a list of strings", "null or a number"."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else describe(a) for a in args)
    if origin in (tuple, list, collections.abc.Sequence):
        items = [a for a in args if a is not Ellipsis]
        return "a list" + (f" of {describe(items[0]).removeprefix('a ').removeprefix('an ')}s"
                           if len(set(items)) == 1 else "")
    if origin in (dict, collections.abc.Mapping) or hint in (dict, collections.abc.Mapping):
        return "an object"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(hint, str(hint))


def matches(value: Any, hint: Any) -> bool:
    """Whether a JSON-like value fits a type hint (ints count as floats; bools are not numbers;
    hints this does not know, such as nested dataclasses or Any, accept anything)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is typing.Literal:
        return value in args
    if origin in (tuple, list, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args))
        item = args[0] if args else Any
        return all(matches(v, item) for v in value)
    if origin in (dict, collections.abc.Mapping) or hint in (dict, collections.abc.Mapping):
        return isinstance(value, collections.abc.Mapping)
    return True


def check_types(annotated: Any, data: dict[str, Any], what: str) -> None:
    """Raise `ConfigError` naming the first value of `data` whose type does not fit its field (of a
    dataclass) or parameter (of a function)."""
    try:
        hints = typing.get_type_hints(annotated)
    except (NameError, TypeError):  # an annotation this module cannot resolve: leave it to the callee
        return
    for name, value in data.items():
        hint = hints.get(name)
        if hint is not None and not matches(value, hint):
            raise ConfigError(f"{what} option {name!r} must be {describe(hint)}, got {value!r} "
                              f"({type(value).__name__})")


def from_dict(cls: type[T], data: dict[str, Any], what: str) -> T:
    """`cls(**data)`, refusing keys that are not fields of `cls` (naming them and the known ones)
    and values whose type does not fit the field (naming the field, the value and the type)."""
    if not isinstance(data, collections.abc.Mapping):
        raise ConfigError(f"{what} options must be a JSON object, got {type(data).__name__}: {data!r}")
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"unknown {what} options {unknown}; known: {sorted(fields)}")
    check_types(cls, dict(data), what)
    return cls(**data)
