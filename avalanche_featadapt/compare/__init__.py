"""``featadapt compare``: every strategy side by side at memory budgets in
bytes, writing results.csv, summary.md and plots.

    featadapt compare --benchmark split-digits --seeds 0 1 2
    python -m avalanche_featadapt.compare --help

- :mod:`~avalanche_featadapt.compare.registry`: every strategy and
  benchmark, one record each;
- :mod:`~avalanche_featadapt.compare.build`: ``build_strategy`` by name;
- :mod:`~avalanche_featadapt.compare.run`: the runs and results.csv;
- :mod:`~avalanche_featadapt.compare.single_run`: one strategy, seed and
  budget;
- :mod:`~avalanche_featadapt.compare.workers`: the runs one after the other
  or over a pool of processes (``--workers N``);
- :mod:`~avalanche_featadapt.compare.trainings`: the training budgets of
  each strategy (shared, or each at its best);
- :mod:`~avalanche_featadapt.compare.select`: ``featadapt select``, the
  training budgets chosen on validation data;
- :mod:`~avalanche_featadapt.compare.report`: statistics and summary.md;
- :mod:`~avalanche_featadapt.compare.plots`: one function per figure;
- :mod:`~avalanche_featadapt.compare.cli`: the ``featadapt`` command.
"""

from .build import build_strategy, icarl_memory_size
from .cli import build_parser, main
from .plots import COLORS, plot_all
from .registry import BENCHMARKS, DEFAULT_STRATEGIES, STRATEGIES
from .report import crossover, stats, summarize
from .run import CSV_FIELDS, ComparisonFailed, run_comparison

__all__ = [
    "BENCHMARKS",
    "COLORS",
    "CSV_FIELDS",
    "ComparisonFailed",
    "DEFAULT_STRATEGIES",
    "STRATEGIES",
    "build_parser",
    "build_strategy",
    "crossover",
    "icarl_memory_size",
    "main",
    "plot_all",
    "run_comparison",
    "stats",
    "summarize",
]
