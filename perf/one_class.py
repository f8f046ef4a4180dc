"""Feature adaptation on a SplitDigits stream that mixes experiences of one
and of two classes, with and without ``freeze_one_class`` (docs/ablations.md,
"Experiences of one class"). The b50 protocol, where every experience after
the first has one class, is in perf/robustness.py; this one checks the rule
where a one-class step can come while the backbone has seen only two classes.

    python perf/one_class.py --models package plain mlp bncnn --seeds 0 1 2

The models and the shared settings (Adam 1e-3, 10 epochs, batch 32,
51,200 B) are perf/robustness.py's. Prints final accuracy (%) per seed.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch

from avalanche.benchmarks import nc_benchmark
from avalanche.benchmarks.utils.classification_dataset import (
    _make_taskaware_tensor_classification_dataset as tensor_dataset,
)

from avalanche_featadapt.benchmarks.digits import digits_tensors
from avalanche_featadapt.compare.build import build_strategy
from avalanche_featadapt.compare.run import evaluator
from robustness import shared_settings


def mixed_digits(counts, seed):
    """SplitDigits' data and split with ``counts[i]`` classes in experience
    i (Avalanche's ``nc_benchmark``, class order from ``seed``)."""
    if sum(counts) != 10:
        raise ValueError(f"the class counts must add up to 10, got {counts}.")
    x_tr, y_tr, x_te, y_te = digits_tensors()
    with torch.random.fork_rng(devices=[]):  # nc_benchmark reseeds torch
        return nc_benchmark(
            tensor_dataset(x_tr, y_tr),
            tensor_dataset(x_te, y_te),
            len(counts),
            task_labels=False,
            seed=seed,
            per_exp_classes=dict(enumerate(counts)),
        )


def final_accuracy(model, bm, seed, overrides) -> float:
    budget, kw = shared_settings(model, "digits", bm)
    torch.manual_seed(seed)
    fa = build_strategy(
        "featadapt",
        benchmark=bm,
        memory_bytes=budget,
        evaluator=evaluator(None),
        overrides=overrides,
        **kw,
    )
    for exp in bm.train_stream:
        fa.train(exp)
    res = fa.eval(bm.test_stream)
    return 100 * res["Top1_Acc_Stream/eval_phase/test_stream/Task000"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["package", "plain", "mlp", "bncnn"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--counts", nargs="+", type=int, default=[2, 1, 1, 2, 2, 1, 1])
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    print(f"SplitDigits, classes per experience {args.counts}, final accuracy %")
    for model in args.models:
        for label, over in (("default", {}), ("trained", {"freeze_one_class": False})):
            accs = [
                final_accuracy(model, mixed_digits(args.counts, s), s, over)
                for s in args.seeds
            ]
            print(
                f"{model:8s} {label:8s} {np.mean(accs):5.1f} ± {np.std(accs):4.1f}"
                f"   per seed {np.round(accs, 1).tolist()}",
                flush=True,
            )


if __name__ == "__main__":
    main()
