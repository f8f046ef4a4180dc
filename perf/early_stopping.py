"""Feature adaptation with and without Avalanche's ``EarlyStoppingPlugin`` on
SplitDigits 5x2 at its own recipe (the package model, Adam 1e-4, 10 epochs,
batch 32, 51,200 B), with a 20 % validation stream split by Avalanche's
``benchmark_with_validation_stream``. Prints the final test accuracy per
seed (docs/usage.md, "Periodic evaluation and early stopping").

    .venv/bin/python perf/early_stopping.py [--seeds 0 1 2] [--patience 2 4]

About 20 s per run without the plugin and 100-200 s with it on one CPU core:
with ``eval_every=1`` every epoch runs a provisional update
(strategies/provisional.py).
"""

import argparse
import warnings

import numpy as np
import torch
from avalanche.benchmarks import benchmark_with_validation_stream
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.training.plugins import EarlyStoppingPlugin, EvaluationPlugin

from avalanche_featadapt import (
    FeatureAdaptationStrategy,
    SplitDigits,
    make_digits_model,
)

warnings.filterwarnings("ignore")


def final_accuracy(seed: int, patience: int = 0) -> float:
    """FA's final test accuracy; ``patience=0`` runs without the plugin."""
    bm = benchmark_with_validation_stream(
        SplitDigits(5, seed=seed), validation_size=0.2, shuffle=True, seed=seed
    )
    torch.manual_seed(seed)
    model = make_digits_model()
    stop = EarlyStoppingPlugin(patience=patience, val_stream_name="valid_stream")
    s = FeatureAdaptationStrategy(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-4),
        memory_bytes=51_200,
        train_mb_size=32,
        train_epochs=10,
        eval_every=1 if patience else -1,
        plugins=[stop] if patience else [],
        evaluator=EvaluationPlugin(accuracy_metrics(stream=True), loggers=[]),
    )
    for exp in bm.train_stream:
        s.train(exp, eval_streams=[bm.valid_stream] if patience else [])
    res = s.eval(bm.test_stream)
    return next(v for k, v in res.items() if k.startswith("Top1_Acc_Stream"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--patience", nargs="+", type=int, default=[2, 4])
    args = p.parse_args()
    torch.set_num_threads(1)
    print("| run | " + " | ".join(f"seed {s}" for s in args.seeds) + " | mean |")
    print("|---" * (len(args.seeds) + 2) + "|")
    for patience in [0] + args.patience:
        accs = [100 * final_accuracy(s, patience) for s in args.seeds]
        name = f"patience={patience}" if patience else "without the plugin"
        cells = " | ".join(f"{a:.1f} %" for a in accs)
        print(f"| {name} | {cells} | {np.mean(accs):.1f} % |", flush=True)


if __name__ == "__main__":
    main()
