"""``save_checkpoint`` and ``load_checkpoint``: a strategy's model,
optimizer, plugins and random state into one verified file, and back into
the strategy the user built (docs/usage.md, "Checkpoints"; the package's
docstring gives the whole design)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Tuple

from .atomic import describe_write_error, prev_path, write_atomically
from .fingerprint import config_differences, config_hash, config_of, saved_plugins
from .record import (
    CheckpointError,
    CheckpointMismatchError,
    encode_record,
    read_record,
)
from .restore import StateMismatch, decode
from .rng import rng_state, set_rng_state
from .state import Encoder, UnsaveableError, qualname

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
    "CheckpointMismatchError",
]


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


def _check_optimizer(strategy, saved, model_state):
    names = saved["param_names"]
    ours = len(strategy.optimizer.param_groups)
    if len(names) != ours:
        raise StateMismatch(
            f"optimizer: checkpoint {len(names)} parameter groups, this strategy "
            f"{ours}"
        )
    wanted = [n for g in names for n in g] + list(saved["optimized"] or [])
    unknown = [n for n in wanted if n not in model_state]
    if unknown:
        raise UnsaveableError(f"the optimizer names {unknown[0]!r}, not in the model")
    groups = saved["state"]["param_groups"]
    if [len(g["params"]) for g in groups] != [len(g) for g in names]:
        raise UnsaveableError("the optimizer's groups do not match their names")


def _check_rng(saved):
    before = rng_state()
    try:
        set_rng_state(saved)
    finally:
        set_rng_state(before)


def _apply(strategy, state, map_location, *, check=False):
    """Restore ``state``; ``check=True`` only verifies, changing nothing."""
    plugins = saved_plugins(strategy)
    if len(plugins) != len(state["plugins"]):
        raise StateMismatch(
            f"plugins: checkpoint {len(state['plugins'])}, this strategy "
            f"{len(plugins)}"
        )
    model = decode(
        state["model"], strategy.model, map_location, check=check, where="model"
    )
    if check:
        _check_optimizer(strategy, state["optimizer"], state["model"]["state"])
        _check_rng(state["rng"])
    else:
        strategy.model = model
        _load_optimizer(strategy, state["optimizer"])
    for i, (p, s) in enumerate(zip(plugins, state["plugins"])):
        where = f"plugins[{i}] {type(p).__name__}"
        decode(s, p, map_location, check=check, where=where)
    if not check:
        set_rng_state(state["rng"])


def save_checkpoint(strategy, fname) -> Path:
    """Save ``strategy`` to ``fname`` atomically, keeping the previous file
    as ``fname.prev``. Call it between experiences. Raises
    :class:`CheckpointError` (and keeps the last good file) if part of the
    strategy is not tensors and plain data, if ``fname`` is a folder or lies
    below a file, or if the disk is full or the file passes a size limit.

    :param strategy: the strategy to save.
    :param fname: the checkpoint's path; missing folders are created."""
    path = Path(fname)
    _check_path(path)
    try:
        state = _state(strategy)
    except UnsaveableError as e:
        raise CheckpointError(
            f"{type(strategy).__name__} cannot be saved safely: {e}. Safe "
            "checkpoints hold tensors and numbers only; nothing was written."
        ) from None
    cfg = config_of(strategy)
    header = {
        "strategy": qualname(strategy),
        "config": json.dumps(cfg, sort_keys=True),
        "config_hash": config_hash(cfg),
        "next_experience": int(strategy.clock.train_exp_counter),
    }
    data = encode_record(header, state)
    try:
        write_atomically(path, lambda f: f.write(data))
    except OSError as e:
        raise CheckpointError(describe_write_error(path, e)) from None
    return path


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
    diffs = config_differences(rec["config"], cfg)
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
    - a damaged or missing file (any byte of its record) with a good
      ``.prev``: the ``.prev`` is loaded, with a warning;
    - another strategy class or configuration (optimizer class included),
      another model shape or head type: :class:`CheckpointMismatchError`,
      naming both sides;
    - a file that passes its checksum but holds what no strategy writes (a
      dtype or type off the list, a callable bound to an attribute):
      :class:`CheckpointError`.

    The whole state is checked before anything is restored; nothing in the
    strategy changes unless the whole state is restored.

    :param strategy: a strategy built as for the run that saved the file.
    :param fname: the checkpoint's path, in an existing folder.
    :param map_location: where the tensors go, as for ``torch.load``.
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
        rec, used = read_record(path, map_location), path
    except CheckpointMismatchError:
        raise
    except CheckpointError as e:
        if not prev.exists():
            raise
        warnings.warn(f"{e} Loading the previous checkpoint {prev} instead.")
        rec, used = read_record(prev, map_location), prev
    _check_match(rec, strategy, used)
    try:
        _apply(strategy, rec["state"], map_location, check=True)
    except StateMismatch as e:
        raise CheckpointMismatchError(
            f"{used} does not fit this strategy: {e}. Build the strategy as for "
            "the run that saved it (the same model, head and optimizer); nothing "
            "was changed."
        ) from None
    except Exception as e:  # a file made to pass the checksum
        raise CheckpointError(
            f"{used} holds state that this strategy cannot take ({e}); nothing "
            "was changed."
        ) from None
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
