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

from __future__ import annotations

from ..lazy import lazy_names

# name -> the submodule that defines it, imported on first use (PEP 562):
# ``featadapt --help`` and ``featadapt list`` need neither torch nor Avalanche
_HOMES = {
    "build_strategy": ".build",
    "icarl_memory_size": ".build",
    "build_parser": ".cli",
    "main": ".cli",
    "COLORS": ".plots",
    "plot_all": ".plots",
    "BENCHMARKS": ".registry",
    "DEFAULT_STRATEGIES": ".registry",
    "STRATEGIES": ".registry",
    "crossover": ".report",
    "stats": ".report",
    "summarize": ".report",
    "CSV_FIELDS": ".results",
    "ComparisonFailed": ".run",
    "run_comparison": ".run",
}

__all__ = sorted(_HOMES, key=str.lower)


__getattr__, __dir__ = lazy_names(__name__, _HOMES)
