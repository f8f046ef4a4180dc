"""A CSV logger that keeps every metric, including this package's own."""

from __future__ import annotations

import csv
import os

from avalanche.logging import CSVLogger

__all__ = ["MetricsCSVLogger"]


class MetricsCSVLogger(CSVLogger):
    """Avalanche's ``CSVLogger`` plus ``metrics.csv``: one row per metric
    value (``name, x, value``), for every metric of the ``EvaluationPlugin``.

    Why: Avalanche 0.6's ``CSVLogger`` writes only fixed columns (accuracy,
    loss, experience forgetting), so metrics such as ``MemoryBytes`` and
    ``Drift`` would not reach a CSV file. The usual two files are still
    written.

    :param log_folder: the folder of the CSV files.
    """

    def __init__(self, log_folder=None):
        super().__init__(log_folder)
        path = os.path.join(self.log_folder, "metrics.csv")
        self.metrics_file = open(path, "w", newline="")
        self._writer = csv.writer(self.metrics_file)
        self._writer.writerow(["name", "x", "value"])

    def log_single_metric(self, name, value, x_plot):
        if isinstance(value, (int, float)):
            self._writer.writerow([name, x_plot, value])
            self.metrics_file.flush()

    def close(self):
        super().close()
        self.metrics_file.close()
