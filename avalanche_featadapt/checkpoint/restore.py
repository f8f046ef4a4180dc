"""Putting a checkpoint's state back into the objects of the strategy the
user built (docs/usage.md, "Checkpoints"; modules are in
:mod:`.modules`).

:func:`decode` runs twice on a checkpoint: first with ``check=True``, which
changes nothing and raises :class:`StateMismatch` (another model shape,
head type or optimizer class, named on both sides) or
:class:`~.state.UnsaveableError` (an entry no strategy writes); then for
real. A file can put only data in place: tensors, numbers, strings,
containers, the dtypes of :data:`.state.DTYPES` and
:data:`.state.NP_DTYPES`, devices, generator states, and modules of the
kinds registered with :func:`.modules.register_rebuild`. No attribute
is bound to a callable from a file: dunder names and names that the
object's class defines (``forward``, a callback, a property) are refused,
and a module is restored into the module already there, or built inside a
list or a dict, or into a submodule slot that holds ``None`` (the auxiliary
head made at the first experience).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim import Optimizer

from .modules import StateMismatch, _at, _build, _check_name, load_module
from .state import _SCALARS, DTYPES, NP_DTYPES, UnsaveableError, qualname

__all__ = ["StateMismatch", "decode"]


def _bind(obj, name, value, current, where: str, check: bool):
    if callable(value) and value is not current:
        raise UnsaveableError(
            f"{_at(where, name)} would become a {type(value).__name__} from the "
            "file; a checkpoint binds no callable to an attribute"
        )
    if not check:
        setattr(obj, name, value)


def _check_optimizer(opt, sd, where: str):
    groups = sd["param_groups"]
    ours = [len(g["params"]) for g in opt.param_groups]
    if [len(g["params"]) for g in groups] != ours:
        raise StateMismatch(
            f"{where}: checkpoint {[len(g['params']) for g in groups]} parameters "
            f"per group, this strategy {ours}"
        )


def decode(saved, target, map_location=None, *, check=False, where="state"):
    """The value to put where ``target`` was, restoring into ``target`` itself
    when it is a module, an optimizer or an object of the saved class;
    ``check=True`` changes nothing and raises where the real run would."""
    kw = dict(check=check)
    if isinstance(saved, _SCALARS) or isinstance(saved, torch.Tensor):
        return saved
    if isinstance(saved, list):
        tl = target if isinstance(target, (list, tuple)) else []
        out = [
            decode(x, tl[i] if i < len(tl) else None, map_location, **kw, where=w)
            for i, x in enumerate(saved)
            for w in [f"{where}[{i}]"]
        ]
        return type(target)(out) if isinstance(target, tuple) else out
    if not isinstance(saved, dict) or not saved:
        raise UnsaveableError(f"{where} holds a {type(saved).__name__}")
    kind = next(iter(saved))
    body = saved[kind]
    if kind == "__dict__":
        td = target if isinstance(target, dict) else {}
        out = {
            k: decode(x, td.get(k), map_location, **kw, where=f"{where}[{k!r}]")
            for k, x in body.items()
        }
        if isinstance(target, dict) and not check:
            target.clear()
            target.update(out)
            return target
        return out
    if kind == "__set__":
        return set(decode(x, None, map_location, **kw, where=where) for x in body)
    if kind == "__dtype__":
        if not isinstance(body, str) or body not in DTYPES:
            raise UnsaveableError(
                f"{where} names the dtype {body!r}; a checkpoint may name "
                f"{sorted(DTYPES)}"
            )
        return DTYPES[body]
    if kind == "__device__":
        if not isinstance(body, str):
            raise UnsaveableError(f"{where} names the device {body!r}")
        return torch.device(body)
    if kind == "__generator__":
        live = isinstance(target, torch.Generator) and not check
        g = target if live else torch.Generator()
        g.set_state(body)
        return g
    if kind == "__ndarray__":
        if saved.get("dtype") not in NP_DTYPES or not isinstance(body, torch.Tensor):
            raise UnsaveableError(f"{where} holds an array of {saved.get('dtype')!r}")
        return body.numpy().astype(saved["dtype"])
    if kind == "__ref__":
        return target  # restored where it was first met
    if kind == "__optimizer__":
        ours = qualname(target) if isinstance(target, Optimizer) else "none"
        if saved.get("class") != ours:
            raise StateMismatch(
                f"{where}: checkpoint {saved.get('class')}, this strategy {ours}"
            )
        _check_optimizer(target, body, where)
        if not check:
            target.load_state_dict(body)
        return target
    if kind == "__module__":
        if isinstance(target, nn.Module):
            if qualname(target) != body:
                raise StateMismatch(
                    f"{where}: checkpoint {body}, this strategy {qualname(target)}"
                )
            load_module(target, saved, map_location, **kw, where=where)
            return target
        built = _build(body, saved["state"], saved["attrs"])
        load_module(built, saved, map_location, check=False, where=where)
        return built
    if kind == "__object__":
        if target is None or qualname(target) != body:
            ours = qualname(target) if target is not None else "none"
            raise StateMismatch(f"{where}: checkpoint {body}, this strategy {ours}")
        for k, x in saved["state"].items():
            _check_name(target, k, where)
            cur = getattr(target, k, None)
            value = decode(x, cur, map_location, **kw, where=f"{where}.{k}")
            _bind(target, k, value, cur, where, check)
        return target
    raise UnsaveableError(f"{where} holds an unknown entry {kind!r}")
