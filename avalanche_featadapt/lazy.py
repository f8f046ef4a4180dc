"""Names of a package imported on first use (PEP 562), so that ``featadapt
--help`` and ``featadapt list`` start without importing torch or Avalanche,
while ``from avalanche_featadapt import X`` works as usual."""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Dict, List, Tuple

__all__ = ["lazy_names"]


def lazy_names(package: str, homes: Dict[str, str]) -> Tuple[Callable, Callable]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package`` that
    import each name of ``homes`` from its module on first use.

    :param package: the package's ``__name__``.
    :param homes: name -> the module that defines it, relative to
        ``package`` (e.g. ``".strategies"``).
    :returns: ``(__getattr__, __dir__)``, to assign in the package.
    """

    def __getattr__(name: str):
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, package), name)
        setattr(sys.modules[package], name, value)  # next look-up: plain attribute
        return value

    def __dir__() -> List[str]:
        return sorted(set(vars(sys.modules[package])) | set(homes))

    return __getattr__, __dir__
