"""Feature adaptation with and without Avalanche's ``EarlyStoppingPlugin`` on
SplitDigits 5x2 at its own recipe (the package model, Adam 1e-4, 10 epochs,
batch 32, 51,200 B), with a 20 % validation stream split by Avalanche's
``benchmark_with_validation_stream``. The plugin watches either the
validation accuracy (its default, ``--criteria accuracy``) or
:class:`~avalanche_featadapt.BackboneLoss` (``backbone-loss``, with
``mode="min"``). Prints the final test accuracy per seed (docs/usage.md,
"Periodic evaluation and early stopping"). ``--model plain`` or ``bncnn``
runs a user's model instead, ``perf/robustness.py``'s plain or BatchNorm
CNN (``nn.Linear`` head, split with ``last_layer_name="fc"``), and
``--data fashion`` the Fashion-MNIST subset; both at that matrix's recipe
(digits: Adam 1e-3, 10 epochs; Fashion: Adam 1e-3, 5 epochs, batch 16,
78,400 B).

    .venv/bin/python perf/early_stopping.py [--seeds 0 1 2] [--patience 2 4]
        [--criteria accuracy backbone-loss] [--model package|plain|bncnn]
        [--data digits|fashion]
    .venv/bin/python perf/early_stopping.py --curves --seeds 0

``--curves`` prints instead, without the plugin and then with each
``--patience`` and criterion, the value that ``EarlyStoppingPlugin`` reads
after each epoch of each experience, and last the value after the
experience (for accuracy: the model the experience ended with).

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

import robustness
from avalanche_featadapt import (
    BACKBONE_LOSS,
    BackboneLoss,
    FeatureAdaptationStrategy,
    SplitDigits,
)

warnings.filterwarnings("ignore")


MODELS = ["package", "plain", "bncnn"]


def recipe(model_name: str, data: str):
    """(bytes, epochs, Adam learning rate, batch size): the package model on
    digits at SplitDigits' recipe, everything else at the matrix's."""
    if (model_name, data) == ("package", "digits"):
        return 51_200, 10, 1e-4, 32
    return robustness.DATA[data]

METRIC = {"accuracy": "Top1_Acc_Stream", "backbone-loss": BACKBONE_LOSS}


def key(criterion: str) -> str:
    return f"{METRIC[criterion]}/eval_phase/valid_stream"


class ValidationCurve(SupervisedPlugin):
    """Records, before each epoch, the last value of ``criterion`` on the
    validation stream: what ``EarlyStoppingPlugin`` compares there (after
    ``epoch`` epochs)."""

    def __init__(self, criterion: str = "accuracy"):
        super().__init__()
        self.key = key(criterion)
        self.rows = {}

    def before_training_epoch(self, strategy, **kwargs):
        last = strategy.evaluator.get_last_metrics()
        value = next(v for k, v in last.items() if k.startswith(self.key))
        self.rows.setdefault(strategy.clock.train_exp_counter, []).append(value)


def final_accuracy(
    seed: int,
    patience: int = 0,
    curve=None,
    criterion: str = "accuracy",
    model_name: str = "package",
    data: str = "digits",
) -> float:
    """FA's final test accuracy; ``patience=0`` runs without the plugin, and
    ``curve`` (a :class:`ValidationCurve`) records the validation values."""
    source = (
        SplitDigits(5, seed=seed)
        if data == "digits"
        else robustness.benchmark(data, "b0-5", seed, robustness.FASHION)
    )
    bm = benchmark_with_validation_stream(
        source, validation_size=0.2, shuffle=True, seed=seed
    )
    budget, epochs, lr, batch = recipe(model_name, data)
    torch.manual_seed(seed)
    pixels = int(source.train_stream[0].dataset[0][0].numel())
    model, last = robustness.user_model(model_name, pixels)
    split = {"last_layer_name": last} if last else {}
    stop = EarlyStoppingPlugin(
        patience=patience,
        val_stream_name="valid_stream",
        metric_name=METRIC[criterion],
        mode="min" if criterion == "backbone-loss" else "max",
    )
    s = FeatureAdaptationStrategy(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=lr),
        memory_bytes=budget,
        train_mb_size=batch,
        train_epochs=epochs,
        eval_every=1 if patience or curve else -1,
        plugins=([stop] if patience else []) + ([curve] if curve else []),
        evaluator=EvaluationPlugin(
            accuracy_metrics(stream=True), BackboneLoss(), loggers=[]
        ),
        **split,
    )
    for exp in bm.train_stream:
        s.train(exp, eval_streams=[bm.valid_stream] if patience or curve else [])
        if curve is not None and criterion == "accuracy":  # the model kept
            res = s.eval(bm.valid_stream)
            curve.rows[exp.current_experience].append(
                next(v for k, v in res.items() if k.startswith(curve.key))
            )
    res = s.eval(bm.test_stream)
    return next(v for k, v in res.items() if k.startswith("Top1_Acc_Stream"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--patience", nargs="+", type=int, default=[2, 4])
    p.add_argument("--criteria", nargs="+", choices=list(METRIC), default=list(METRIC))
    p.add_argument("--model", choices=MODELS, default="package")
    p.add_argument("--data", choices=["digits", "fashion"], default="digits")
    p.add_argument("--curves", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.curves:
        return print_curves(args.seeds, args.patience, args.criteria, args)
    print("| run | " + " | ".join(f"seed {s}" for s in args.seeds) + " | mean |")
    print("|---" * (len(args.seeds) + 2) + "|")
    for patience, criterion in runs(args.patience, args.criteria):
        accs = [
            100 * final_accuracy(s, patience, None, criterion, args.model, args.data)
            for s in args.seeds
        ]
        cells = " | ".join(f"{a:.1f} %" for a in accs)
        row = f"| {name(patience, criterion)} | {cells} | {np.mean(accs):.1f} % |"
        print(row, flush=True)


def runs(patiences, criteria, curves=False):
    """Without the plugin (for curves: once per criterion, to record it),
    then each patience with each criterion."""
    without = [(0, c) for c in criteria] if curves else [(0, "accuracy")]
    return without + [(p, c) for p in patiences for c in criteria]


def name(patience: int, criterion: str) -> str:
    if not patience:
        return "without the plugin"
    return f"{criterion}, patience={patience}"


def print_curves(seeds, patiences, criteria, args):
    for seed in seeds:
        for patience, criterion in runs(patiences, criteria, curves=True):
            curve = ValidationCurve(criterion)
            acc = final_accuracy(
                seed, patience, curve, criterion, args.model, args.data
            )
            run = name(patience, criterion)
            print(f"\nseed {seed}, {run}: validation {criterion} after k epochs")
            print("| experience | " + " | ".join(f"k={k}" for k in range(11)))
            print("|---" * 12 + "|")
            for exp, values in curve.rows.items():
                # after the experience: accuracy only (BackboneLoss is
                # emitted during training)
                during, end = (
                    (values[:-1], f"end {values[-1]:.3f}")
                    if (criterion == "accuracy")
                    else (values, "")
                )
                cells = [f"{v:.3f}" for v in during] + [""] * (10 - len(during))
                print(f"| {exp} | " + " | ".join(cells + [end]))
            print(f"final test accuracy: {100 * acc:.1f} %", flush=True)


if __name__ == "__main__":
    main()
