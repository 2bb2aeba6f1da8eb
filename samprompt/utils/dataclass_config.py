"""Building config dataclasses from plain dicts (JSON files) with clear errors for unknown keys."""
from __future__ import annotations

from typing import Any, TypeVar

from samprompt.errors import ConfigError

T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any], what: str) -> T:
    """`cls(**data)`, refusing keys that are not fields of `cls` (naming them and the known ones)."""
    fields = set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"unknown {what} options {unknown}; known: {sorted(fields)}")
    return cls(**data)
