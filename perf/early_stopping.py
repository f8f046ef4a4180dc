"""Feature adaptation with and without Avalanche's ``EarlyStoppingPlugin`` on
SplitDigits 5x2 at its own recipe (the package model, Adam 1e-4, 10 epochs,
batch 32, 51,200 B), with a 20 % validation stream split by Avalanche's
``benchmark_with_validation_stream``. Prints the final test accuracy per
seed (docs/usage.md, "Periodic evaluation and early stopping").

    .venv/bin/python perf/early_stopping.py [--seeds 0 1 2] [--patience 2 4]
    .venv/bin/python perf/early_stopping.py --curves --seeds 0

``--curves`` prints instead, without the plugin and then with each
``--patience``, the validation accuracy that ``EarlyStoppingPlugin`` reads
after each epoch of each experience (what stopping there would give), and
last the value of the model the experience ended with.

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
from avalanche.training.plugins import (
    EarlyStoppingPlugin,
    EvaluationPlugin,
    SupervisedPlugin,
)

from avalanche_featadapt import (
    FeatureAdaptationStrategy,
    SplitDigits,
    make_digits_model,
)

warnings.filterwarnings("ignore")


KEY = "Top1_Acc_Stream/eval_phase/valid_stream"


class ValidationCurve(SupervisedPlugin):
    """Records, before each epoch, the last validation accuracy: the value
    ``EarlyStoppingPlugin`` compares there (after ``epoch`` epochs)."""

    def __init__(self):
        super().__init__()
        self.rows = {}

    def before_training_epoch(self, strategy, **kwargs):
        last = strategy.evaluator.get_last_metrics()
        value = next(v for k, v in last.items() if k.startswith(KEY))
        self.rows.setdefault(strategy.clock.train_exp_counter, []).append(value)


def final_accuracy(seed: int, patience: int = 0, curve=None) -> float:
    """FA's final test accuracy; ``patience=0`` runs without the plugin, and
    ``curve`` (a :class:`ValidationCurve`) records the validation values."""
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
        eval_every=1 if patience or curve else -1,
        plugins=([stop] if patience else []) + ([curve] if curve else []),
        evaluator=EvaluationPlugin(accuracy_metrics(stream=True), loggers=[]),
    )
    for exp in bm.train_stream:
        s.train(exp, eval_streams=[bm.valid_stream] if patience or curve else [])
        if curve is not None:  # the value after the last epoch: the model kept
            res = s.eval(bm.valid_stream)
            curve.rows[exp.current_experience].append(
                next(v for k, v in res.items() if k.startswith(KEY))
            )
    res = s.eval(bm.test_stream)
    return next(v for k, v in res.items() if k.startswith("Top1_Acc_Stream"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--patience", nargs="+", type=int, default=[2, 4])
    p.add_argument("--curves", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.curves:
        return print_curves(args.seeds, args.patience)
    print("| run | " + " | ".join(f"seed {s}" for s in args.seeds) + " | mean |")
    print("|---" * (len(args.seeds) + 2) + "|")
    for patience in [0] + args.patience:
        accs = [100 * final_accuracy(s, patience) for s in args.seeds]
        name = f"patience={patience}" if patience else "without the plugin"
        cells = " | ".join(f"{a:.1f} %" for a in accs)
        print(f"| {name} | {cells} | {np.mean(accs):.1f} % |", flush=True)


def print_curves(seeds, patiences):
    for seed in seeds:
        for patience in [0] + patiences:
            curve = ValidationCurve()
            acc = final_accuracy(seed, patience, curve)
            run = f"patience={patience}" if patience else "without the plugin"
            print(f"\nseed {seed}, {run}: validation accuracy after k epochs")
            print("| experience | " + " | ".join(f"k={k}" for k in range(11)))
            print("|---" * 12 + "|")
            for exp, values in curve.rows.items():
                *during, end = values
                cells = [f"{v:.3f}" for v in during] + [""] * (10 - len(during))
                print(f"| {exp} | " + " | ".join(cells + [f"end {end:.3f}"]))
            print(f"final test accuracy: {100 * acc:.1f} %", flush=True)


if __name__ == "__main__":
    main()
