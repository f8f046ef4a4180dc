"""Checkpoints that can be trusted: loading runs no code, a crash never
loses the last good file, and a checkpoint of another strategy or
configuration is refused (docs/usage.md, "Checkpoints").

Why not Avalanche's ``save_checkpoint`` / ``maybe_load_checkpoint``: they
pickle the whole strategy with dill, and unpickling a file runs whatever code
it names (a crafted ``__reduce__`` does). Here the file holds only tensors
and plain containers, read with ``torch.load(weights_only=True)``, and the
state goes back into the objects of the strategy the user built:

- the model and the optimizer as state_dicts (a head that grew is resized
  to the saved width first);
- each plugin's attributes (the feature buffer, the adapters, distillation's
  seen classes, the clock...), in the strategy's plugin order;
- the random state of torch, numpy and Python.

The evaluator is not saved (its loggers write their own files). A strategy
that holds datasets in a plugin (Avalanche's ``ReplayPlugin``, the hybrid
memory) cannot be saved this way and is refused at save time; use
Avalanche's own pickled checkpoints for it, with files you trust only.

The file carries a format version, the strategy class, the configuration
(plugins and hyperparameters) with its hash, and a SHA-256 of the payload.
Saving writes a unique temporary file, fsyncs it, keeps the current file as
``<name>.prev`` (a hard link, or a copy), then moves the new one into place
with one atomic ``os.replace``; several writers never share a file name.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Tuple

import torch

from ._atomic import prev_path, write_atomically
from ._config import (
    config_differences,
    config_hash,
    config_of,
    rng_state,
    saved_plugins,
    set_rng_state,
)
from ._state import Encoder, UnsaveableError, decode, qualname

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
    "CheckpointMismatchError",
]

FORMAT = "avalanche-featadapt-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint cannot be written or used; nothing was changed."""


class CheckpointMismatchError(CheckpointError):
    """The checkpoint was saved by another strategy or configuration."""


def _check_path(path: Path):
    if path.is_dir():
        raise CheckpointError(
            f"Checkpoint path {path} is a folder; pass a file path such as "
            f"{path / 'strategy.ckpt'}."
        )


def _optimizer_state(strategy) -> dict:
    """The optimizer's state_dict and, for each of its parameters, its name in
    the model: the parameters a strategy adds while training (a grown or
    auxiliary head) are put back in the same places."""
    names = {id(p): n for n, p in strategy.model.named_parameters()}
    groups = [
        [names.get(id(p)) for p in g["params"]] for g in strategy.optimizer.param_groups
    ]
    if any(n is None for g in groups for n in g):
        raise UnsaveableError("the optimizer holds parameters that are not the model's")
    ids = getattr(strategy, "optimized_param_id", None)
    return {
        "state": strategy.optimizer.state_dict(),
        "param_names": groups,
        "optimized": None if ids is None else list(ids),
    }


def _load_optimizer(strategy, saved):
    params = dict(strategy.model.named_parameters())
    opt = strategy.optimizer
    if len(saved["param_names"]) != len(opt.param_groups):
        raise UnsaveableError(
            f"the checkpoint's optimizer has {len(saved['param_names'])} parameter "
            f"groups, this one {len(opt.param_groups)}"
        )
    for g, names in zip(opt.param_groups, saved["param_names"]):
        g["params"] = [params[n] for n in names]
    opt.load_state_dict(saved["state"])
    if saved["optimized"] is not None:  # Avalanche's record of what it optimizes
        strategy.optimized_param_id = {n: params[n] for n in saved["optimized"]}


def _state(strategy) -> dict:
    enc = Encoder()
    return {
        "model": enc(strategy.model, "model"),
        "optimizer": _optimizer_state(strategy),
        "plugins": [
            enc(p, f"plugins[{i}] {type(p).__name__}")
            for i, p in enumerate(saved_plugins(strategy))
        ],
        "rng": rng_state(),
    }


def _apply(strategy, state, map_location):
    strategy.model = decode(state["model"], strategy.model, map_location)
    _load_optimizer(strategy, state["optimizer"])
    for p, s in zip(saved_plugins(strategy), state["plugins"]):
        decode(s, p, map_location)
    set_rng_state(state["rng"])


def save_checkpoint(strategy, fname) -> Path:
    """Save ``strategy`` to ``fname`` atomically, keeping the previous file
    as ``fname.prev``. Call it between experiences. Raises
    :class:`CheckpointError` (and writes nothing) if part of the strategy is
    not tensors and plain data, or ``fname`` is a folder."""
    path = Path(fname)
    _check_path(path)
    try:
        state = _state(strategy)
    except UnsaveableError as e:
        raise CheckpointError(
            f"{type(strategy).__name__} cannot be saved safely: {e}. Safe "
            "checkpoints hold tensors and numbers only; nothing was written."
        ) from None
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    cfg = config_of(strategy)
    record = {
        "format": FORMAT,
        "version": VERSION,
        "strategy": qualname(strategy),
        "config": json.dumps(cfg, sort_keys=True),
        "config_hash": config_hash(cfg),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "next_experience": int(strategy.clock.train_exp_counter),
        "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8),
    }
    write_atomically(path, lambda f: torch.save(record, f))
    return path


def _read(path: Path, map_location) -> dict:
    """The verified record and payload of one file, or CheckpointError."""
    try:
        rec = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # a damaged file, or one that is not ours
        raise CheckpointError(
            f"{path} is not a readable avalanche-featadapt checkpoint "
            f"({type(e).__name__}: {str(e)[:200]}). Files that only a pickle "
            "reader can load (older versions of this package, Avalanche's own "
            "checkpoints) are refused: unpickling runs code."
        ) from None
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an avalanche-featadapt checkpoint.")
    if rec.get("version") != VERSION:
        raise CheckpointMismatchError(
            f"{path} has checkpoint format version {rec.get('version')}; this "
            f"version of avalanche-featadapt reads version {VERSION}."
        )
    payload = rec["payload"].numpy().tobytes()
    if hashlib.sha256(payload).hexdigest() != rec["payload_sha256"]:
        raise CheckpointError(
            f"{path} is damaged: its payload does not match its SHA-256."
        )
    rec["state"] = torch.load(
        io.BytesIO(payload), weights_only=True, map_location=map_location
    )
    return rec


def _check_match(rec: dict, strategy, path: Path):
    ours = qualname(strategy)
    if rec["strategy"] != ours:
        raise CheckpointMismatchError(
            f"{path} was saved by {rec['strategy']}; this strategy is {ours}. "
            "Load it into the same kind of strategy."
        )
    cfg = config_of(strategy)
    if rec["config_hash"] == config_hash(cfg):
        return
    diffs = config_differences(json.loads(rec["config"]), cfg)
    raise CheckpointMismatchError(
        f"{path} was saved with another configuration: "
        + "; ".join(diffs or ["(configuration hash differs)"])
        + ". Build the strategy with the checkpoint's settings to resume it."
    )


def load_checkpoint(strategy, fname, *, map_location=None) -> Tuple[object, int]:
    """Restore ``strategy`` from ``fname``; return ``(strategy,
    next_experience)``.

    - no file and no ``.prev`` in an existing folder: ``(strategy, 0)``, a
      fresh start;
    - a missing folder, or ``fname`` a folder: :class:`CheckpointError`;
    - a damaged or missing file with a good ``.prev``: the ``.prev`` is
      loaded, with a warning;
    - another strategy class or configuration:
      :class:`CheckpointMismatchError`, naming both sides.

    Nothing in the strategy changes unless the whole state is restored.
    """
    path = Path(fname)
    _check_path(path)
    if not path.parent.is_dir():
        raise CheckpointError(
            f"The folder {path.parent} does not exist, so {path.name} cannot be "
            "loaded from it; check the path (a fresh run needs an existing "
            "folder)."
        )
    prev = prev_path(path)
    if not path.exists() and not prev.exists():
        return strategy, 0
    try:
        if not path.exists():
            raise CheckpointError(f"{path} is missing")
        rec, used = _read(path, map_location), path
    except CheckpointMismatchError:
        raise
    except CheckpointError as e:
        if not prev.exists():
            raise
        warnings.warn(f"{e} Loading the previous checkpoint {prev} instead.")
        rec, used = _read(prev, map_location), prev
    _check_match(rec, strategy, used)
    before = _state(strategy)
    try:
        _apply(strategy, rec["state"], map_location)
    except Exception as e:
        _apply(strategy, before, None)
        raise CheckpointError(
            f"{used} could not be restored into this strategy ({e}); nothing "
            "was changed."
        ) from None
    return strategy, int(rec["next_experience"])
