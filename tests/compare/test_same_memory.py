"""One run for the budgets that hold the same memory: FA's budget that
already holds every training feature stands for every larger budget, and
its rows are those of a run at the larger budget."""

import pytest

import math

from avalanche_featadapt.compare import STRATEGIES, run_comparison
from avalanche_featadapt.compare.builders import FA
from avalanche_featadapt.compare.same_memory import budget_groups, memory_facts
from avalanche_featadapt.plugins.feature_codec import bytes_per_feature

TIMES = ("wall_time_s", "cpu_time_s")


def test_fa_holds_all_by_hand():
    assert bytes_per_feature(64, "int4") == 40  # 32 B of codes, 8 of scales
    holds_all = FA.holds_all
    # 40,000 B: 1,000 int4 features, 100 for each of 10 classes
    assert holds_all({}, 40_000, 64, 100, 10)
    assert not holds_all({}, 40_000, 64, 101, 10)
    assert not holds_all({}, 39_999, 64, 100, 10)
    # float32: 256 B a feature, 156 features in 40,000 B
    assert not holds_all({"feature_dtype": "float32"}, 40_000, 64, 100, 10)
    assert holds_all({"feature_dtype": "float32"}, 256_000, 64, 100, 10)
    # images in the memory, or a cap in features: never assumed
    assert not holds_all({"image_fraction": 0.5}, 10**9, 64, 100, 10)
    assert not holds_all({"mem_size": 10**6}, 10**9, 64, 100, 10)


def test_budget_groups():
    facts = lambda: (64, 100, 10)  # noqa: E731
    big = [40_000, 80_000, 120_000]
    assert budget_groups("featadapt", big, {}, facts) == [big]
    assert budget_groups("featadapt", [20_000, 40_000, 80_000], {}, facts) == [
        [20_000],
        [40_000, 80_000],
    ]
    assert budget_groups("replay", big, {}, facts) == [[b] for b in big]
    hybrid = STRATEGIES["featadapt-hybrid"].hyperparameters
    assert budget_groups("featadapt-hybrid", big, hybrid, facts) == [[b] for b in big]
    assert budget_groups("naive", big, {}, facts) == [big]


def test_memory_facts_of_split_digits(digits):
    dim, most, n = memory_facts("split-digits", digits)
    counts = {}
    for exp in digits.train_stream:
        for y in exp.dataset.targets:
            counts[int(y)] = counts.get(int(y), 0) + 1
    assert (most, n) == (max(counts.values()), 10)
    assert dim == 64  # the package's digits model: a 64-d feature


@pytest.mark.slow
def test_one_run_stands_for_the_budgets_that_hold_everything(tmp_path):
    kw = dict(strategies=["featadapt"], protocol="b0-2", seeds=[0], epochs=1, workers=1)
    # SplitDigits: at most ~130 training images a class, 40 B a feature:
    # 60,000 B hold every one of them, and so does 120,000 B
    both = run_comparison(memory_bytes=[60_000, 120_000], out=tmp_path / "a", **kw)
    alone = run_comparison(memory_bytes=[120_000], out=tmp_path / "b", **kw)
    logs = sorted(p.name for p in (tmp_path / "a" / "logs").iterdir())
    assert logs == ["featadapt_seed0_60000B"]  # one run

    def drop(r):  # the times differ; NaN (no old classes yet) != NaN
        nan = lambda v: isinstance(v, float) and math.isnan(v)  # noqa: E731
        return {k: "nan" if nan(v) else v for k, v in r.items() if k not in TIMES}

    at_big = [drop(r) for r in both if r["memory_bytes"] == 120_000]
    assert at_big == [drop(r) for r in alone]
    assert len(at_big) == 2 and all(r["held_bytes"] < 60_000 for r in at_big)
