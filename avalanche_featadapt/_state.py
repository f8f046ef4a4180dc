"""A strategy's state as tensors and plain containers, and back into the
user's own objects: what :mod:`avalanche_featadapt.checkpoint` writes (the
random state and the configuration it must match are in :mod:`._config`).

Nothing here pickles an object. Modules and optimizers become state_dicts,
objects (plugins, the clock, selectors) become the state of their
attributes, and loading writes that state into the objects of the strategy
the user built (same classes, same order), so a file can only hold data,
which ``torch.load(weights_only=True)`` reads without running any code.
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


class UnsaveableError(ValueError):
    """Part of the strategy cannot be written as tensors and plain data."""


def qualname(obj) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def _module_factories():
    """Modules that a strategy makes during training (an adapter per
    experience, an auxiliary head), rebuilt from their saved tensors."""
    from avalanche.models import IncrementalClassifier

    from .models import CosineIncrementalClassifier
    from .plugins.adapter import FeatureAdapter

    def adapter(state, attrs):
        hidden, dim = state["mlp.0.weight"].shape
        return FeatureAdapter(dim, hidden, residual=attrs[""]["residual"])

    def incremental(cls):
        return lambda state, attrs: cls(state["classifier.weight"].shape[1])

    def linear(state, attrs):
        out, inp = state["weight"].shape
        return nn.Linear(inp, out, bias="bias" in state)

    return {
        qualname_of(FeatureAdapter): adapter,
        qualname_of(CosineIncrementalClassifier): incremental(
            CosineIncrementalClassifier
        ),
        qualname_of(IncrementalClassifier): incremental(IncrementalClassifier),
        qualname_of(nn.Linear): linear,
    }


def qualname_of(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _build(kind: str, state, attrs):
    factory = _module_factories().get(kind)
    if factory is None:
        raise UnsaveableError(f"cannot rebuild a {kind} module")
    return factory(state, attrs)


def _sub(tree: dict, name: str) -> dict:
    """The entries of a state_dict (or attrs) under submodule ``name``."""
    if not name:
        return dict(tree)
    pre = name + "."
    out = {k[len(pre) :]: v for k, v in tree.items() if k.startswith(pre)}
    if name in tree:  # attrs are keyed by module name, "" for the root
        out[""] = tree[name]
    return out


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
            return {"__dtype__": str(v).replace("torch.", "")}
        if isinstance(v, torch.device):
            return {"__device__": str(v)}
        if isinstance(v, torch.Generator):
            return {"__generator__": v.get_state()}
        if isinstance(v, np.ndarray):
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
            return {"__optimizer__": v.state_dict()}
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


def _resize_and_load(module: nn.Module, saved, map_location):
    """Load a state_dict into ``module`` whose grown layers (an incremental
    head) may still have their initial size, and whose submodules made
    during training (an auxiliary head) may still be missing: those are
    rebuilt, and tensors take the saved shape first."""
    state, attrs = saved["state"], saved["attrs"]
    device = next(iter(module.parameters()), torch.empty(0)).device
    names = dict(module.named_modules())
    for name, kind in saved.get("kinds", {}).items():
        if name in names or not name:
            continue
        parent_name, _, leaf = name.rpartition(".")
        parent = names.get(parent_name)
        if parent is None:  # built with its parent
            continue
        built = _build(kind, _sub(state, name), _sub(attrs, name)).to(device)
        setattr(parent, leaf, built)
        names = dict(module.named_modules())
    own = dict(module.named_parameters())
    own.update(dict(module.named_buffers()))
    for key, saved in state.items():
        cur = own.get(key)
        if cur is not None and cur.shape != saved.shape:
            owner_name, _, leaf = key.rpartition(".")
            owner = module.get_submodule(owner_name)
            new = torch.zeros(saved.shape, dtype=saved.dtype, device=cur.device)
            if leaf in owner._parameters:
                owner._parameters[leaf].data = new
            else:
                owner._buffers[leaf] = new
    for name, m in module.named_modules():
        for k, v in attrs.get(name, {}).items():
            setattr(m, k, decode(v, None, map_location))
    module.load_state_dict(state)


def decode(saved, target, map_location=None):
    """The value to put where ``target`` was, restoring into ``target`` itself
    when it is a module, an optimizer or an object of the saved class."""
    if isinstance(saved, _SCALARS):
        return saved
    if isinstance(saved, torch.Tensor):
        return saved
    if isinstance(saved, list):
        tl = target if isinstance(target, (list, tuple)) else []
        out = [
            decode(x, tl[i] if i < len(tl) else None, map_location)
            for i, x in enumerate(saved)
        ]
        return type(target)(out) if isinstance(target, tuple) else out
    kind = next(iter(saved))
    body = saved[kind]
    if kind == "__dict__":
        td = target if isinstance(target, dict) else {}
        out = {k: decode(x, td.get(k), map_location) for k, x in body.items()}
        if isinstance(target, dict):
            target.clear()
            target.update(out)
            return target
        return out
    if kind == "__set__":
        return set(decode(x, None, map_location) for x in body)
    if kind == "__dtype__":
        return getattr(torch, body)
    if kind == "__device__":
        return torch.device(body)
    if kind == "__generator__":
        g = target if isinstance(target, torch.Generator) else torch.Generator()
        g.set_state(body)
        return g
    if kind == "__ndarray__":
        return body.numpy().astype(saved["dtype"])
    if kind == "__ref__":
        return target  # restored where it was first met
    if kind == "__optimizer__":
        if not isinstance(target, Optimizer):
            raise UnsaveableError("an optimizer was saved where there is none")
        target.load_state_dict(body)
        return target
    if kind == "__module__":
        if not (isinstance(target, nn.Module) and qualname(target) == body):
            target = _build(body, saved["state"], saved["attrs"])
        _resize_and_load(target, saved, map_location)
        return target
    if kind == "__object__":
        if target is None or qualname(target) != body:
            raise UnsaveableError(
                f"the checkpoint holds a {body} where this strategy has "
                f"{qualname(target) if target is not None else 'nothing'}"
            )
        for k, x in saved["state"].items():
            setattr(target, k, decode(x, getattr(target, k, None), map_location))
        return target
    raise UnsaveableError(f"unknown entry {kind!r}")
