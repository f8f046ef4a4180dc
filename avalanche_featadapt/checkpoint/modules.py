"""A module's saved state (its state_dict, plain attributes and submodule
classes) back into the user's module, checked first: the same submodule
classes, tensors of the same shapes (a growing head may differ in its
class dimension), and the submodules made during training (an adapter, the
auxiliary head) rebuilt from a fixed list of kinds into empty slots only
(docs/usage.md, "Checkpoints"; :mod:`.restore` decodes the rest).

The kinds that may be rebuilt are registered with :func:`register_rebuild`
by the modules that define them (the adapter in
:mod:`avalanche_featadapt.plugins.adapter`, the cosine head in
:mod:`avalanche_featadapt.models`), so the checkpoint imports nothing of
the package."""

from __future__ import annotations

import inspect
from typing import Callable, Dict

import torch
from avalanche.models import IncrementalClassifier
from torch import nn

from .state import _SCALARS, UnsaveableError, qualname


class StateMismatch(ValueError):
    """The checkpoint's state does not fit this strategy's objects."""


def qualname_of(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


#: class path -> build(state_dict, attrs): the modules that a strategy
#: makes during training (an adapter per experience, an auxiliary head)
_FACTORIES: Dict[str, Callable[[dict, dict], nn.Module]] = {}


def register_rebuild(cls: type, build: Callable[[dict, dict], nn.Module]) -> None:
    """Let a checkpoint rebuild a module of class ``cls`` that the strategy
    made during training: ``build(state, attrs)`` returns a new module
    shaped by its saved state_dict ``state`` (attrs: its plain attributes,
    ``attrs[""]`` the module's own), into which the state is then loaded.
    Only registered kinds are ever built from a file."""
    _FACTORIES[qualname_of(cls)] = build


def rebuild_head(cls: type) -> Callable[[dict, dict], nn.Module]:
    """The build function of an incremental head of class ``cls`` (an
    Avalanche ``IncrementalClassifier`` or a subclass that takes the same
    first argument): ``cls(in_features)``, the width grown by the load."""
    return lambda state, attrs: cls(state["classifier.weight"].shape[1])


def _linear(state, attrs):
    out, inp = state["weight"].shape
    return nn.Linear(inp, out, bias="bias" in state)


register_rebuild(IncrementalClassifier, rebuild_head(IncrementalClassifier))
register_rebuild(nn.Linear, _linear)


def _build(kind: str, state, attrs):
    factory = _FACTORIES.get(kind)
    if factory is None:
        raise UnsaveableError(f"cannot rebuild a {kind} module")
    return factory(state, attrs)


def _sub(tree: dict, name: str) -> dict:
    """The entries of a state_dict (or attrs, kinds) under submodule ``name``."""
    if not name:
        return dict(tree)
    pre = name + "."
    out = {k[len(pre) :]: v for k, v in tree.items() if k.startswith(pre)}
    if name in tree:  # attrs and kinds are keyed by module name, "" for the root
        out[""] = tree[name]
    return out


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if name else where


def _check_name(obj, name, where: str):
    """Refuse a name that is not a plain data attribute of ``obj``."""
    if not isinstance(name, str) or not name.isidentifier() or name[:2] == "__":
        raise UnsaveableError(f"{where} sets the attribute {name!r}")
    defined = inspect.getattr_static(type(obj), name, None)
    if isinstance(defined, type) or hasattr(type(defined), "__get__"):
        raise UnsaveableError(
            f"{where} sets {name!r}, which {type(obj).__name__} defines as code"
        )
    if isinstance(obj, nn.Module) and any(
        name in d for d in (obj._parameters, obj._buffers, obj._modules)
    ):
        raise UnsaveableError(f"{where} sets {name!r} as a plain attribute")


def _module_attr(v, where: str, name: str):
    """A module's plain attribute: a scalar, a tensor or a set of scalars."""
    if isinstance(v, _SCALARS + (torch.Tensor,)):
        return v
    if (
        isinstance(v, dict)
        and list(v) == ["__set__"]
        and isinstance(v["__set__"], list)
    ):
        if all(isinstance(x, _SCALARS) for x in v["__set__"]):
            return set(v["__set__"])
    raise UnsaveableError(
        f"{where}.{name} would be a {type(v).__name__}; a module's attributes "
        "from a file are numbers, strings, tensors or sets"
    )


def _check_slot(parent: nn.Module, leaf: str, kind: str, where: str):
    """A module may be built into an empty slot only."""
    if isinstance(parent, nn.ModuleDict):
        if leaf[:2] == "__" or leaf in parent._modules:
            raise UnsaveableError(f"{where} names the slot {leaf!r}")
        return
    _check_name(parent, leaf, where)
    if leaf not in vars(parent) and leaf not in parent._modules:
        raise StateMismatch(f"{where}: checkpoint {kind}, this strategy has none")
    if getattr(parent, leaf) is not None:
        raise UnsaveableError(f"{where} would replace a {type(getattr(parent, leaf))}")


def _grows(names: dict, key: str, cur: torch.Tensor, saved: torch.Tensor) -> bool:
    """Whether ``key`` is a class dimension of a growing head (its owner, or
    the owner's parent, is an Avalanche ``DynamicModule``)."""
    from avalanche.models import DynamicModule

    owner = key.rpartition(".")[0]
    near = {owner, owner.rpartition(".")[0]} if owner else {owner}
    return (
        any(isinstance(names.get(n), DynamicModule) for n in near)
        and cur.dim() == saved.dim() >= 1
        and cur.shape[1:] == saved.shape[1:]
    )


def load_module(module: nn.Module, saved, map_location, *, check, where):
    """Load ``saved`` (state, attrs, kinds) into ``module``: the same
    submodule classes, tensors of the same shape (a growing head may differ
    in its class dimension), submodules made during training built into
    their empty slots. ``check=True`` verifies without changing ``module``."""
    state, attrs, kinds = saved["state"], saved["attrs"], saved["kinds"]
    if not all(isinstance(x, dict) for x in (state, attrs, kinds)):
        raise UnsaveableError(f"{where} is not a module's state")
    names = dict(module.named_modules())
    built = {}
    inside = lambda n: any(n == b or n.startswith(b + ".") for b in built)
    for name in sorted(kinds, key=lambda n: (n.count("."), n)):
        kind = kinds[name]
        if name in names:
            if qualname(names[name]) != kind:
                raise StateMismatch(
                    f"{_at(where, name)}: checkpoint {kind}, this strategy "
                    f"{qualname(names[name])}"
                )
        elif not inside(name):
            parent, _, leaf = name.rpartition(".")
            if parent not in names:
                raise StateMismatch(
                    f"{_at(where, name)}: checkpoint {kind}, this strategy has none"
                )
            _check_slot(names[parent], leaf, kind, _at(where, name))
            sub = {k: _sub(saved[k], name) for k in ("state", "attrs", "kinds")}
            m = _build(kind, sub["state"], sub["attrs"])
            load_module(m, sub, map_location, check=False, where=_at(where, name))
            built[name] = m
    for name in names:
        if name not in kinds:
            raise StateMismatch(
                f"{_at(where, name)}: checkpoint has none, this strategy "
                f"{qualname(names[name])}"
            )
    own = module.state_dict(keep_vars=True)
    mine = {k: v for k, v in state.items() if not inside(k)}
    for k in sorted(set(own) ^ set(mine)):
        a, b = mine.get(k), own.get(k)
        raise StateMismatch(
            f"{_at(where, k)}: checkpoint {_shape(a)}, this strategy {_shape(b)}"
        )
    grow = []
    for k, v in mine.items():
        cur = own[k]
        if isinstance(cur, torch.Tensor) and cur.shape != _shape_of(v):
            if not _grows(names, k, cur, v):
                raise StateMismatch(
                    f"{_at(where, k)}: checkpoint {_shape(v)}, this strategy "
                    f"{_shape(cur)}"
                )
            grow.append(k)
    plain = []
    for name, values in attrs.items():
        if inside(name):
            continue
        if name not in names or not isinstance(values, dict):
            raise UnsaveableError(f"{_at(where, name)} holds attributes of no module")
        for k, v in values.items():
            _check_name(names[name], k, _at(where, name))
            plain.append((names[name], k, _module_attr(v, _at(where, name), k)))
    if check:
        return
    device = next(iter(module.parameters()), torch.empty(0)).device
    for name, m in built.items():
        parent, _, leaf = name.rpartition(".")
        setattr(names[parent], leaf, m.to(device))
    for key in grow:
        owner_name, _, leaf = key.rpartition(".")
        owner, cur = module.get_submodule(owner_name), own[key]
        new = torch.zeros(state[key].shape, dtype=state[key].dtype, device=cur.device)
        if leaf in owner._parameters:
            owner._parameters[leaf].data = new
        else:
            owner._buffers[leaf] = new
    for m, k, v in plain:
        setattr(m, k, v)
    module.load_state_dict(state)


def _shape_of(v):
    if not isinstance(v, torch.Tensor):
        raise UnsaveableError(f"a module's state holds a {type(v).__name__}")
    return v.shape


def _shape(v) -> str:
    if v is None:
        return "has none"
    return f"shape {tuple(v.shape)}" if isinstance(v, torch.Tensor) else repr(v)
