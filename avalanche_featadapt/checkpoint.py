"""Crash-safe checkpoints on top of Avalanche's ``save_checkpoint`` /
``maybe_load_checkpoint``.

Avalanche pickles the whole strategy (with dill) together with its RNG
manager, so everything a strategy of this package holds survives: the
feature buffer, the adapters, the teacher, the classifier, the optimizer and
SDC's prototypes, and the random state. Two things are added here:

- the new file is written next to the old one and moved into place only when
  complete (``os.replace``), and the previous checkpoint is kept as
  ``<name>.prev``: a crash while saving never destroys the last good one;
- a file that cannot be read is refused with a clear error, and nothing is
  changed (neither the strategy nor the files).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dill

from avalanche.checkpointing import maybe_load_checkpoint
from avalanche.checkpointing import save_checkpoint as _avalanche_save

__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError"]


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be used."""


def save_checkpoint(strategy, fname, *, exclude=None) -> Path:
    """Save ``strategy`` to ``fname`` atomically; keep the old file as
    ``fname.prev``. Call it between experiences (as Avalanche requires)."""
    path = Path(fname)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # With torch 2.14, dill pickles optimizer classes by value and fails
    # ("Can't pickle sentinel"); by reference they round-trip.
    byref = dill.settings["byref"]
    dill.settings["byref"] = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dill.PicklingWarning)
            _avalanche_save(strategy, str(tmp), exclude=exclude)
    finally:
        dill.settings["byref"] = byref
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    if path.exists():
        os.replace(path, path.with_name(path.name + ".prev"))
    os.replace(tmp, path)
    return path


def load_checkpoint(strategy, fname, *, map_location=None):
    """Return ``(strategy, next_experience)`` from ``fname``, or
    ``(strategy, 0)`` if it does not exist. A corrupted file raises
    :class:`CheckpointError` and leaves the strategy and the files as they
    were."""
    path = Path(fname)
    if not path.exists():
        return strategy, 0
    before = dict(strategy.__dict__)
    try:
        return maybe_load_checkpoint(strategy, str(path), map_location=map_location)
    except Exception as e:  # torch/dill raise many kinds on a damaged file
        strategy.__dict__.clear()
        strategy.__dict__.update(before)
        prev = path.with_name(path.name + ".prev")
        hint = (
            f" The previous checkpoint {prev} is intact: load that one to resume."
            if prev.exists()
            else ""
        )
        raise CheckpointError(
            f"Checkpoint {path} is corrupted or unreadable ({type(e).__name__}: "
            f"{str(e)[:200]}); it was not loaded and nothing was changed.{hint}"
        ) from e
