"""The package's Avalanche metrics and the logger that writes them:
:class:`DriftMetric` (how far old classes' features moved, against what the
strategy believes), :class:`MemoryBytes` (the bytes held, by the rule of
:mod:`avalanche_featadapt.memory`) and :class:`MetricsCSVLogger` (every
metric to a CSV file). docs/comparison.md, "Drift" and "Memory in bytes"."""

from .csv_logger import MetricsCSVLogger
from .drift import DriftMetric, drift_errors
from .memory_bytes import MemoryBytes

__all__ = ["DriftMetric", "MemoryBytes", "MetricsCSVLogger", "drift_errors"]
