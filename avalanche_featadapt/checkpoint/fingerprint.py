"""What a checkpoint must match when it is loaded, besides the objects'
state (:mod:`.state`): the configuration (strategy, model and optimizer
classes, plugins in order, their hyperparameters), with its hash and the
differences named (docs/usage.md, "Checkpoints")."""

from __future__ import annotations

import hashlib
import inspect
import json
from typing import Any, Dict, List

import torch

from .state import _SCALARS, qualname

__all__ = [
    "config_differences",
    "config_hash",
    "config_of",
    "saved_plugins",
]


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
