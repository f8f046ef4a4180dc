"""MemoryBytes: the bytes a strategy holds, as an Avalanche metric, counted
by the package's one rule (:mod:`avalanche_featadapt.memory`;
docs/comparison.md, "Memory in bytes")."""

from __future__ import annotations

from avalanche.evaluation import PluginMetric
from avalanche.evaluation.metric_results import MetricValue

from ..memory import _dataset_images, memory_bytes_of

__all__ = ["MemoryBytes"]


class MemoryBytes(PluginMetric[int]):
    """Avalanche metric: the bytes of the strategy's memory
    (:func:`~avalanche_featadapt.memory.memory_bytes_of`; images at 8 bits per pixel, features at their
    dtype), emitted after each training experience
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
        stream = getattr(strategy.experience, "origin_stream", None)
        name = f"MemoryBytes/{phase}/{getattr(stream, 'name', 'unknown')}_stream"
        return [MetricValue(self, name, self._value, strategy.clock.train_iterations)]

    def after_training_exp(self, strategy):
        from avalanche.training import JointTraining

        if isinstance(strategy, JointTraining):
            # the concatenated training set, public while training
            self._value = _dataset_images(strategy.adapted_dataset).nbytes
        else:
            self._value = memory_bytes_of(strategy)
        return self._emit(strategy, "train_phase")

    def after_eval(self, strategy):
        from avalanche.training import JointTraining

        if not isinstance(strategy, JointTraining):
            self._value = memory_bytes_of(strategy)
        return self._emit(strategy, "eval_phase")

    def __str__(self):
        return "MemoryBytes"
