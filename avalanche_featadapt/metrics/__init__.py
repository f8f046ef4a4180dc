"""The package's Avalanche metrics and the logger that writes them:
:class:`BackboneLoss` (what ``EarlyStoppingPlugin`` should watch with feature
adaptation), :class:`DriftMetric` (how far old classes' features moved, against what the
strategy believes), :class:`MemoryBytes` (the bytes held, by the rule of
:mod:`avalanche_featadapt.memory`) and :class:`MetricsCSVLogger` (every
metric to a CSV file). docs/comparison.md, "Drift" and "Memory in bytes";
docs/usage.md, "Periodic evaluation and early stopping"."""

from .backbone_loss import BACKBONE_LOSS, BackboneLoss
from .csv_logger import MetricsCSVLogger
from .drift import DriftMetric, drift_errors
from .memory_bytes import MemoryBytes

__all__ = [
    "BACKBONE_LOSS",
    "BackboneLoss",
    "DriftMetric",
    "MemoryBytes",
    "MetricsCSVLogger",
    "drift_errors",
]
