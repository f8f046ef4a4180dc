"""The side-by-side comparison from Python instead of the CLI.

python examples/compare_baselines.py   # one seed, a few strategies, ~1 min
FEATADAPT_FAST=1 python examples/compare_baselines.py   # 1 epoch, not 5 (CI)
"""

import os

from avalanche_featadapt.compare import run_comparison, summarize

rows = run_comparison(
    benchmark="split-digits",
    protocol="b0-5",
    strategies=["naive", "lwf", "icarl", "sdc", "featadapt"],
    seeds=[0],
    memory_bytes=51_200,
    epochs=1 if os.environ.get("FEATADAPT_FAST") == "1" else 5,
    out="results/compare_baselines",  # results.csv, summary.md and plots
    quiet=True,
)
print(summarize(rows))
