"""What a strategy holds in memory, in bytes, measured from its tensors, and
an Avalanche metric that reports it."""

from __future__ import annotations

from typing import List

import torch
from avalanche.evaluation import PluginMetric
from avalanche.evaluation.metric_results import MetricValue

from .plugins import FeatureBuffer, SDCPlugin

__all__ = ["held_tensors", "memory_bytes_of", "MemoryBytes"]


def _dataset_tensors(dataset) -> List[torch.Tensor]:
    """The input tensors of a dataset, one per sample, as the strategy would
    feed them (after the dataset's eval transform)."""
    ds = dataset.eval() if hasattr(dataset, "eval") else dataset
    return [torch.as_tensor(ds[i][0]) for i in range(len(ds))]


def held_tensors(strategy) -> List[torch.Tensor]:
    """Every memory tensor a continual-learning strategy holds between
    experiences: stored features (FeatureBuffer), SDC prototypes, iCaRL's and
    Replay's image exemplars, and JointTraining's whole training set. Model
    weights and teachers are not counted (no paper counts them)."""
    from avalanche.training import JointTraining
    from avalanche.training.plugins import ReplayPlugin
    from avalanche.training.supervised.icarl import _ICaRLPlugin

    out: List[torch.Tensor] = []
    for p in strategy.plugins:
        if isinstance(p, FeatureBuffer):
            out += p.stored_tensors()
        elif isinstance(p, SDCPlugin):
            out += list(p.prototypes.values())
        elif isinstance(p, _ICaRLPlugin):
            out += list(p.x_memory)
        elif isinstance(p, ReplayPlugin):
            out += _dataset_tensors(p.storage_policy.buffer)
    if isinstance(strategy, JointTraining):
        for exp in getattr(strategy, "_experiences", []):
            out += _dataset_tensors(exp.dataset)
    return out


def memory_bytes_of(strategy) -> int:
    """Bytes of :func:`held_tensors`."""
    return int(sum(t.numel() * t.element_size() for t in held_tensors(strategy)))


class MemoryBytes(PluginMetric[int]):
    """Avalanche metric: the bytes of the strategy's memory
    (:func:`memory_bytes_of`), emitted after each training experience
    (``MemoryBytes/train_phase/...``) and after each evaluation
    (``MemoryBytes/eval_phase/...``), so every Avalanche logger shows it."""

    def __init__(self):
        super().__init__()
        self._value = 0

    def reset(self) -> None:
        self._value = 0

    def result(self) -> int:
        return self._value

    def _emit(self, strategy, phase: str):
        self._value = memory_bytes_of(strategy)
        stream = getattr(strategy.experience, "origin_stream", None)
        name = f"MemoryBytes/{phase}/{getattr(stream, 'name', 'unknown')}_stream"
        return [MetricValue(self, name, self._value, strategy.clock.train_iterations)]

    def after_training_exp(self, strategy):
        return self._emit(strategy, "train_phase")

    def after_eval(self, strategy):
        return self._emit(strategy, "eval_phase")

    def __str__(self):
        return "MemoryBytes"
