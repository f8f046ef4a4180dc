"""Where a strategy's time goes, per plugin, on any benchmark of the
registry: each plugin's callbacks are timed, and the rest of ``train`` is
the backbone's training loop (and Avalanche's own work). Prints one table
per strategy and FA's time against Replay's at equal epochs.

    .venv/bin/python perf/plugin_time.py --benchmark imagefolder \
        --data-root ~/data/cifar100-png --protocol b50-5 --train-per-class 100 \
        --epochs 2 --experiences 3

One torch thread, as in ``featadapt compare``, and every time is CPU time
(``time.process_time``): with one thread it is the wall time on an idle
core, so other jobs on the machine do not skew the ratio. A benchmark
script, not a test: its figures depend on the machine.
"""

import argparse
import time
import warnings
from collections import defaultdict

import torch
from avalanche.training.plugins import SupervisedPlugin

from avalanche_featadapt.compare import BENCHMARKS
from avalanche_featadapt.compare.build import build_strategy
from avalanche_featadapt.compare.run import data_options
from avalanche_featadapt.compare.single_run import evaluator
from avalanche_featadapt.compare.workers import model_factory_of

warnings.filterwarnings("ignore")
warnings.showwarning = lambda *a, **k: None  # Avalanche re-enables its own


_CALLBACKS = {a for a in dir(SupervisedPlugin) if a.startswith(("before_", "after_"))}


def timed_plugins(strategy, spent):
    """Wrap every callback of every plugin but the evaluator with a timer."""
    for plugin in strategy.plugins:
        if plugin is strategy.evaluator:
            continue
        name = type(plugin).__name__
        for attr in dir(plugin):
            if attr not in _CALLBACKS:  # attributes that are not callbacks
                continue
            fn = getattr(plugin, attr)

            def wrapper(*a, _fn=fn, _key=name, **k):
                t0 = time.process_time()
                try:
                    return _fn(*a, **k)
                finally:
                    spent[_key] += time.process_time() - t0

            setattr(plugin, attr, wrapper)


def profile(name, bench, args):
    torch.manual_seed(0)
    spent = defaultdict(float)
    strategy = build_strategy(
        name,
        model_factory=model_factory_of(args.benchmark, bench),
        benchmark=bench,
        memory_bytes=args.memory_bytes,
        epochs=args.epochs,
        lr=BENCHMARKS[args.benchmark].lr,
        batch_size=BENCHMARKS[args.benchmark].batch_size,
        device="cpu",
        evaluator=evaluator(None),
    )
    timed_plugins(strategy, spent)
    per_exp = []
    for exp in list(bench.train_stream)[: args.experiences]:
        t0 = time.process_time()
        strategy.train(exp)
        per_exp.append(time.process_time() - t0)
    total = sum(per_exp)
    print(
        f"\n{name}: {total:.1f} s over {len(per_exp)} experiences "
        f"({', '.join(f'{t:.1f}' for t in per_exp)} s)"
    )
    print("| part | s | share |\n|---|---|---|")
    for key, s in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"| {key} | {s:.1f} | {100 * s / total:.0f} % |")
    rest = total - sum(spent.values())
    print(f"| training loop and Avalanche | {rest:.1f} | {100 * rest / total:.0f} % |")
    return total


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--benchmark", default="split-digits", choices=list(BENCHMARKS))
    p.add_argument("--data-root", default=None)
    p.add_argument("--protocol", default="b0-5")
    p.add_argument("--train-per-class", type=int, default=None)
    p.add_argument("--memory-bytes", type=int, default=614_400)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--experiences", type=int, default=3)
    p.add_argument("--strategies", nargs="+", default=["featadapt", "replay"])
    args = p.parse_args()
    torch.set_num_threads(1)
    opts = data_options(args.benchmark, args.train_per_class) or {}
    bench = BENCHMARKS[args.benchmark].build(
        args.protocol, seed=0, data_root=args.data_root, **opts
    )
    times = {n: profile(n, bench, args) for n in args.strategies}
    if "featadapt" in times and "replay" in times:
        print(f"\nfeatadapt / replay: {times['featadapt'] / times['replay']:.2f}")


if __name__ == "__main__":
    main()
