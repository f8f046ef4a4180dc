"""What a checkpoint records besides the objects' state
(:mod:`._state`): the random state of torch, numpy and Python, and the
configuration (strategy, model and optimizer classes, plugins in order,
their hyperparameters) that must match when it is loaded, with its hash and the
differences named (docs/usage.md, "Checkpoints")."""

from __future__ import annotations

import hashlib
import inspect
import json
import random
from typing import Any, Dict, List

import numpy as np
import torch

from ._state import _SCALARS, qualname

__all__ = [
    "config_differences",
    "config_hash",
    "config_of",
    "rng_state",
    "saved_plugins",
    "set_rng_state",
]


def rng_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    out = {
        "torch": torch.get_rng_state(),
        "numpy": [
            kind,
            torch.from_numpy(keys.astype(np.int64)),
            pos,
            has_gauss,
            cached,
        ],
        "random": random.getstate(),
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    v, internal, gauss = state["random"]
    random.setstate((v, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def saved_plugins(strategy) -> list:
    """The plugins whose state is saved: all but the evaluator (its metrics
    and loggers write to their own files)."""
    return [p for p in strategy.plugins if p is not strategy.evaluator]


_NOT_CONFIG = {"self", "model", "optimizer", "criterion", "device", "evaluator"}


def _hyperparameters(obj) -> Dict[str, Any]:
    out = {}
    try:
        params = inspect.signature(type(obj).__init__).parameters
    except (TypeError, ValueError):
        return out
    for name in params:
        if name in _NOT_CONFIG or name == "plugins":
            continue
        v = getattr(obj, name, None)
        if isinstance(v, torch.dtype):
            v = str(v).replace("torch.", "")
        if isinstance(v, _SCALARS) and not isinstance(v, type(None)):
            out[name] = v
    return out


def config_of(strategy) -> Dict[str, Any]:
    """What must match between a checkpoint and the strategy it is loaded
    into: the classes (the optimizer's too), the plugins in order and their
    hyperparameters."""
    cfg = {
        "strategy": qualname(strategy),
        "model": qualname(strategy.model),
        "optimizer": qualname(getattr(strategy, "optimizer", None)),
        "hyperparameters": {"strategy": _hyperparameters(strategy)},
        "plugins": [qualname(p) for p in saved_plugins(strategy)],
    }
    for i, p in enumerate(saved_plugins(strategy)):
        hp = _hyperparameters(p)
        if hp:
            cfg["hyperparameters"][f"plugins[{i}] {type(p).__name__}"] = hp
    return cfg


def config_hash(cfg) -> str:
    """SHA-256 of a configuration (:func:`config_of`)."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()


def config_differences(saved: dict, cfg: dict) -> List[str]:
    """Each difference between a saved configuration and ``cfg``, as
    ``what: checkpoint X, this strategy Y``."""
    diffs = []
    if saved["plugins"] != cfg["plugins"]:
        diffs.append(
            f"plugins: checkpoint {saved['plugins']}, this strategy "
            f"{cfg['plugins']}"
        )
    for who in sorted(set(saved["hyperparameters"]) | set(cfg["hyperparameters"])):
        a = saved["hyperparameters"].get(who, {})
        b = cfg["hyperparameters"].get(who, {})
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                diffs.append(
                    f"{who}.{k}: checkpoint {a.get(k)!r}, this strategy {b.get(k)!r}"
                )
    for what in ("model", "optimizer"):
        if saved.get(what) != cfg[what]:
            diffs.append(
                f"{what}: checkpoint {saved.get(what)}, this strategy {cfg[what]}"
            )
    return diffs
