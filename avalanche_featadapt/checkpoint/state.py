"""A strategy's state as tensors and plain containers: what
:mod:`avalanche_featadapt.checkpoint` writes (the random state is in
:mod:`.rng`, the configuration it must match in :mod:`.fingerprint`;
loading is in :mod:`.restore`).

Nothing here pickles an object. Modules and optimizers become state_dicts,
objects (plugins, the clock, selectors) become the state of their
attributes, so a file can only hold data, which
``torch.load(weights_only=True)`` reads without running any code. The only
dtypes and numpy dtypes written, and read back, are those of
:data:`DTYPES` and :data:`NP_DTYPES`.
"""

from __future__ import annotations

import inspect
from typing import Dict

import numpy as np
import torch
from torch import nn
from torch.optim import Optimizer

_SCALARS = (type(None), bool, int, float, str)
_SKIP = object()
_NUMBERS = ("float64", "float32", "float16", "int64", "int32", "int16", "int8")
#: The torch dtypes a checkpoint may name, by name.
DTYPES = {n: getattr(torch, n) for n in _NUMBERS + ("bfloat16", "uint8", "bool")}
#: The numpy dtypes of the arrays a checkpoint may hold.
NP_DTYPES = frozenset(_NUMBERS + ("uint8", "uint16", "uint32", "uint64", "bool"))


class UnsaveableError(ValueError):
    """Part of the strategy cannot be written as tensors and plain data."""


def qualname(obj) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def _plain_attrs(obj) -> dict:
    return {
        k: _set_or(v)
        for k, v in vars(obj).items()
        if not k.startswith("_") and isinstance(v, _SCALARS + (set, torch.Tensor))
    }


def _set_or(v):
    return {"__set__": sorted(v, key=repr)} if isinstance(v, set) else v


class Encoder:
    """Turn a tree of objects into tensors and plain containers; an object
    met twice is written once and referred to afterwards."""

    def __init__(self):
        self.seen: Dict[int, str] = {}

    def __call__(self, v, path: str):
        if isinstance(v, _SCALARS) or isinstance(v, torch.Tensor):
            return v
        if isinstance(v, torch.dtype):
            name = str(v).replace("torch.", "")
            if name not in DTYPES:
                raise UnsaveableError(f"{path} is the dtype {v}")
            return {"__dtype__": name}
        if isinstance(v, torch.device):
            return {"__device__": str(v)}
        if isinstance(v, torch.Generator):
            return {"__generator__": v.get_state()}
        if isinstance(v, np.ndarray):
            if str(v.dtype) not in NP_DTYPES:
                raise UnsaveableError(f"{path} is an array of {v.dtype}")
            return {"__ndarray__": torch.from_numpy(np.array(v)), "dtype": str(v.dtype)}
        if isinstance(v, np.generic):
            return v.item()
        if (
            inspect.isroutine(v)
            or isinstance(v, type)
            or callable(v)
            and not (hasattr(v, "__dict__"))
        ):
            return _SKIP  # code is configuration: the user's strategy has it
        if id(v) in self.seen:
            return {"__ref__": self.seen[id(v)]}
        if isinstance(v, (list, tuple, set, dict, nn.Module, Optimizer)) or hasattr(
            v, "__dict__"
        ):
            self.seen[id(v)] = path
        if isinstance(v, set):
            return {"__set__": [self(x, path) for x in sorted(v, key=repr)]}
        if isinstance(v, (list, tuple)):
            out = [self(x, f"{path}[{i}]") for i, x in enumerate(v)]
            return [x for x in out if x is not _SKIP]
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                if not isinstance(k, _SCALARS):
                    raise UnsaveableError(f"{path} has a key of type {type(k)}")
                e = self(x, f"{path}[{k!r}]")
                if e is not _SKIP:
                    out[k] = e
            return {"__dict__": out}
        if isinstance(v, nn.Module):
            for n, m in v.named_modules():
                self.seen.setdefault(id(m), f"{path}.{n}")
            attrs = {n: _plain_attrs(m) for n, m in v.named_modules()}
            kinds = {n: qualname(m) for n, m in v.named_modules()}
            return {
                "__module__": qualname(v),
                "attrs": attrs,
                "kinds": kinds,
                "state": v.state_dict(),
            }
        if isinstance(v, Optimizer):
            return {"__optimizer__": v.state_dict(), "class": qualname(v)}
        if isinstance(v, torch.utils.data.Dataset):
            raise UnsaveableError(
                f"{path} is a dataset ({type(v).__name__}); a checkpoint holds "
                "tensors and numbers only"
            )
        if hasattr(v, "__dict__"):
            state = {}
            for k, x in vars(v).items():
                e = self(x, f"{path}.{k}")
                if e is not _SKIP:
                    state[k] = e
            return {"__object__": qualname(v), "state": state}
        raise UnsaveableError(f"{path} is a {type(v).__name__}")
