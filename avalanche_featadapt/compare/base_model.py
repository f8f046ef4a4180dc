"""One base model per (model, data, seed, recipe), shared by the strategies
whose first experience is the same training.

In a bP-N protocol the first experience holds P % of the classes, and Naive,
Replay and LwF all learn it the same way: the same fresh model, Adam, plain
cross-entropy, the same batches (LwF's penalty is 0 without a previous
model; Replay's buffer is empty). Training it once per seed and starting
those strategies from it saves up to ``P / 100`` of their training (PyCIL
and FACIL offer the same). The first experience's end state is cached on
disk, ``<out>/base_models/<key>.pt``: the model's and the optimizer's state,
the random number generators' and the strategy clock's counters, so what
comes after it (Replay's buffer, drawn at random; Adam's moments; the next
experience's batches) is bit for bit what it would have been; results with
and without the cache are identical (tests/compare/test_base_model.py).

Which strategies share is each :class:`~avalanche_featadapt.compare.registry.StrategySpec`'s
``shares_base`` (docs/comparison.md, "The shared base model")."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import torch
from avalanche.training.plugins import SupervisedPlugin

from ..checkpoint.atomic import write_atomically
from ..checkpoint.rng import rng_state, set_rng_state

__all__ = ["BaseModelCache", "BaseModelKey", "data_fingerprint", "factory_identity"]

#: bump when the file's contents or what they mean change
_FORMAT = 2
_CLOCK = (
    "train_iterations",
    "train_exp_iterations",
    "train_epoch_iterations",
    "train_exp_epochs",
    "total_iterations",
)


class BaseModelCache(SupervisedPlugin):
    """Train the first experience once and reuse it: the first run to reach
    the end of its first experience writes ``path``; a later run that finds
    ``path`` skips the first experience's epochs
    (``strategy.stop_training()`` before the first one, as Avalanche's
    ``EarlyStoppingPlugin`` stops) and takes the model, the optimizer, the
    random number generators (torch, CUDA, numpy, ``random``) and the clock's
    counters from it, as they were when the first experience's training
    ended. Everything after that (the other plugins' ``after_training_exp``,
    the next experiences) then runs as if it had trained.

    The state is saved and restored in ``after_training_exp``, before any
    other plugin's: pass this plugin first in ``plugins``. Runs that race to
    write the same file write the same bytes, each in one atomic replace.

    :param path: the cache file, one per (model, data, seed, recipe); see
        :class:`BaseModelKey`.
    """

    def __init__(self, *, path: Union[str, Path]):
        super().__init__()
        if not isinstance(path, (str, Path)) or not str(path):
            raise ValueError(
                f"path must be the cache file (str or Path), got {path!r}."
            )
        self.path = Path(path)
        self.loaded = False  # whether this run took its first experience from path
        self._cached: Optional[dict] = None

    def _first(self, strategy) -> bool:
        return strategy.clock.train_exp_counter == 0

    def before_training_epoch(self, strategy, **kwargs):
        if not self._first(strategy) or strategy.clock.train_exp_epochs != 0:
            return
        if not self.path.exists():
            return
        try:
            cached = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as e:  # unreadable: train, and write it again
            warnings.warn(f"Cannot read the base model {self.path} ({e}); training.")
            return
        if cached.get("format") != _FORMAT:
            return
        self._cached = cached
        strategy.stop_training()

    def after_training_exp(self, strategy, **kwargs):
        if not self._first(strategy):
            return
        if self._cached is not None:
            _restore(strategy, self._cached)
            self._cached, self.loaded = None, True
        elif not self.path.exists():
            state = _snapshot(strategy)
            write_atomically(self.path, lambda f: torch.save(state, f))


def _snapshot(strategy) -> dict:
    return {
        "format": _FORMAT,
        "model": strategy.model.state_dict(),
        "optimizer": strategy.optimizer.state_dict(),
        "rng": rng_state(),  # the checkpoints' own record of the generators
        "clock": {k: getattr(strategy.clock, k) for k in _CLOCK},
    }


def _restore(strategy, cached: dict) -> None:
    strategy.model.load_state_dict(cached["model"])
    strategy.optimizer.load_state_dict(cached["optimizer"])
    set_rng_state(cached["rng"])
    for k, v in cached["clock"].items():
        setattr(strategy.clock, k, v)


def data_fingerprint(data_root) -> str:
    """What identifies the data: none (embedded), or ``data_root``'s path
    with, for a file, its size and modification time (a folder: its own
    modification time)."""
    if data_root is None:
        return "embedded"
    p = Path(data_root)
    try:
        st = p.stat()
    except OSError:
        return str(p.resolve())
    size = st.st_size if p.is_file() else 0
    return f"{p.resolve()}:{size}:{st.st_mtime_ns}"


def factory_identity(factory: Callable) -> str:
    """A model factory's module and name, with the values its closure holds
    (e.g. the image shape a benchmark's factory was made for)."""
    cells = getattr(factory, "__closure__", None) or ()
    held = []
    for c in cells:
        try:
            v = c.cell_contents
        except ValueError:
            continue
        held.append(factory_identity(v) if callable(v) else repr(v))
    name = getattr(factory, "__qualname__", type(factory).__qualname__)
    return f"{getattr(factory, '__module__', '')}.{name}({', '.join(held)})"


@dataclass(frozen=True)
class BaseModelKey:
    """Where the base models of one comparison live, and what besides the
    run's own settings tells them apart.

    :param folder: ``<out>/base_models``.
    :param benchmark: the benchmark's name.
    :param protocol: e.g. ``"b50-5"``.
    :param data_root: the data's path, or None for embedded data.
    :param data_options: the benchmark builder's extra arguments (e.g.
        ``train_per_class``).
    """

    folder: str
    benchmark: str
    protocol: str
    data_root: Optional[str] = None
    data_options: Optional[dict] = None

    def path(self, *, seed, model_factory, epochs, lr, batch_size, device) -> Path:
        """The cache file of one (model, data, seed, recipe)."""
        from .. import __version__

        key = {
            "format": _FORMAT,
            "benchmark": self.benchmark,
            "protocol": self.protocol,
            "data": data_fingerprint(self.data_root),
            "data_options": repr(sorted((self.data_options or {}).items())),
            "seed": int(seed),
            "model": factory_identity(model_factory),
            "recipe": "Adam, cross-entropy",
            "epochs": int(epochs),
            "lr": float(lr),
            "batch_size": int(batch_size),
            "device": str(device),
            "torch": torch.__version__,
            "package": __version__,
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode())
        name = f"{self.benchmark}_{self.protocol}_seed{seed}_{digest.hexdigest()[:16]}"
        return Path(self.folder) / f"{name}.pt"
