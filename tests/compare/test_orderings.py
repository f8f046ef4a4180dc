"""Orderings that hold on any machine. Float results differ between CPUs, so
each assert is on the mean over three seeds of the SplitDigits comparison
(the benchmark's settings at 10 epochs instead of 20, to keep the suite
short; the margins below are larger than at 20), with a margin at least
three times the spread (population standard deviation) measured across the
seeds. The per-seed tables, and the orderings that are too close to assert
(FA vs iCaRL/Replay, LwF vs Naive, SDC's accuracy vs its uncompensated
base), are in summary.md.

Figures beside each assert were measured on the project's 2-core CPU
machine (Linux x86_64, torch 2.14.1 CPU, one torch thread per run),
2026-11-28.
"""

import numpy as np
import pytest

from avalanche_featadapt.compare import run_comparison, stats

pytestmark = pytest.mark.slow

SEEDS = [0, 1, 2]
# pinned, so that a change of the CLI's defaults does not move these figures
SETTINGS = dict(memory_bytes=51_200, epochs=10, lr=1e-4, batch_size=32)


@pytest.fixture(scope="module")
def rows():
    # 2 runs at a time: the same rows as one at a time (tests/compare/test_cli.py),
    # in half the time where 2 cores are free
    return run_comparison(
        strategies=["featadapt", "featadapt-noadapt", "sdc"],
        seeds=SEEDS,
        quiet=True,
        workers=2,
        **SETTINGS,
    )


def test_adapter_helps_on_average_over_seeds(rows):
    final = {k: np.array(v["final"]) for k, v in stats(rows).items()}
    gain = final["featadapt"] - final["featadapt-noadapt"]
    # measured: +7.2, +8.1, +5.8 points; mean 7.0, spread (std) 0.9
    # (4-bit storage and lambda_stored=3, the defaults; +4.6 with int8 and
    # no replay of stored features). The
    # ablation trains the same backbone, with the same distillation, which
    # holds its stale features close: the gain was +7.1 with lambda_fd=10,
    # +38.7 with 1 and +56.3 before the distillation on ADC's images.
    # Threshold 0: the margin, 7.0, is 7.4 times the spread.
    assert gain.mean() > 0.0, gain


def test_drift_compensation_moves_sdc_prototypes_towards_the_true_means(rows):
    """SDC's claim, measured directly: after each experience its compensated
    prototypes are nearer the true class means (of the current backbone)
    than the stale ones. Its effect on accuracy over E-LwF varies too much
    across seeds to assert (+11.6/+3.6/+16.4 points at 20 epochs;
    summary.md)."""
    per_seed = []
    for seed in SEEDS:
        rs = [r for r in rows if r["strategy"] == "sdc" and r["seed"] == seed]
        rs = [r for r in rs if r["experience"] > 0]
        stale = np.array([r["drift_stale_rel_l2"] for r in rs])
        est = np.array([r["drift_estimated_rel_l2"] for r in rs])
        per_seed.append(float((stale - est).mean()))
    per_seed = np.array(per_seed)
    # measured: relative L2 error lower by 0.235, 0.252, 0.206 (mean over
    # experiences 1-4); mean 0.231, spread (std) 0.019. Threshold 0: the
    # margin, 0.231, is 12 times the spread.
    assert per_seed.mean() > 0.0, per_seed
