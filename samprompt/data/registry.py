"""The dataset registry: every dataset a recipe can train on or `samprompt eval` can score on.

A dataset is registered under a name and a kind: "interactive" (image + one object mask),
"referring" (image or clip + an expression + masks), "semantic" (image + label map). One name
may serve several kinds ("shapes" serves them all). Each method declares the kind it uses;
recipes and the command line look datasets up here (`--dataset` choices come from it).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from torch.utils.data import Dataset

from samprompt.errors import ConfigError, UnknownNameError
from samprompt.utils.dataclass_config import check_types


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset.

    Attributes:
        name: e.g. "shapes", "sbd", "ade20k-150".
        kind: "interactive", "referring", "semantic" or a kind a plug-in defines.
        build: keyword options (e.g. root, split) -> the dataset.
        summary: one line for the docs and `--help`.
        needs_root: whether it reads files (then `root` is required).
    """

    name: str
    kind: str
    build: Callable[..., Dataset]
    summary: str = ""
    needs_root: bool = True

    def option_names(self) -> set[str] | None:
        """The options `build` takes (None: any)."""
        parameters = inspect.signature(self.build).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            return None
        return {p.name for p in parameters}

    def check_options(self, options: Mapping[str, Any]) -> None:
        """ConfigError naming the options `build` does not take, or a missing root."""
        known = self.option_names()
        if known is not None and set(options) - known:
            raise ConfigError(f"unknown options {sorted(set(options) - known)} for dataset {self.name!r} "
                              f"({self.kind}); it takes {sorted(known)}")
        if self.needs_root and not options.get("root"):
            raise ConfigError(f"dataset {self.name!r} needs 'root', the folder of its files")
        check_types(self.build, dict(options), f"dataset {self.name!r}")

    def __call__(self, **options: Any) -> Dataset:
        self.check_options(options)
        return self.build(**options)


_DATASETS: dict[tuple[str, str], DatasetSpec] = {}


def register_dataset(spec: DatasetSpec, *, overwrite: bool = False) -> DatasetSpec:
    key = (spec.name, spec.kind)
    if key in _DATASETS and not overwrite:
        raise ConfigError(f"dataset {spec.name!r} of kind {spec.kind!r} is already registered")
    _DATASETS[key] = spec
    return spec


def available_datasets(kind: str | None = None) -> list[str]:
    """Registered dataset names (of one kind, or of any)."""
    return sorted({name for name, k in _DATASETS if kind is None or k == kind})


def get_dataset(name: str, kind: str) -> DatasetSpec:
    """The dataset `name` of `kind` (UnknownNameError listing what that kind offers if none)."""
    spec = _DATASETS.get((name, kind))
    if spec is None:
        other = sorted(k for n, k in _DATASETS if n == name)
        hint = f" ({name!r} is a {' / '.join(other)} dataset)" if other else ""
        raise UnknownNameError(f"unknown {kind} dataset {name!r}{hint}; {kind} datasets: "
                               f"{', '.join(available_datasets(kind))}")
    return spec
