"""Joint's validation accuracy on CIFAR-100 at CPU scale under a learning-
rate schedule: Adam at a constant rate, or with a cosine decay over the
epochs (Avalanche's ``LRSchedulerPlugin`` with ``CosineAnnealingLR``), on
``featadapt select``'s validation split (100 images per class, b50-5, seed
0). Prints one line per epochs value (docs/known_issues.md, "CIFAR-100 at
CPU scale is not converged").

    .venv/bin/python perf/joint_schedule.py --schedule cosine --lr 0.003 \\
        --epochs 8 16 32 --data-root ~/data/cifar100-png

One torch thread; a benchmark script, not a test.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--schedule", choices=["constant", "cosine"], default="cosine")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epochs", nargs="+", type=int, default=[8, 16, 32])
    p.add_argument("--data-root", type=Path, default=Path("~/data/cifar100-png"))
    a = p.parse_args(argv)
    root = a.data_root.expanduser()
    if not root.exists():
        p.error(f"{root} not found: pass --data-root (CIFAR-100's PNG tree)")
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    from avalanche.training.plugins import LRSchedulerPlugin

    from avalanche_featadapt.benchmarks.images import split_image_tree
    from avalanche_featadapt.compare.build import build_strategy
    from avalanche_featadapt.compare.registry import BENCHMARKS
    from avalanche_featadapt.compare.single_run import evaluator
    from avalanche_featadapt.compare.validation_split import held_out

    tree = split_image_tree("b50-5", seed=0, data_root=root, train_per_class=100)
    bm = held_out(tree)
    factory = BENCHMARKS["imagefolder"].model(
        tuple(bm.train_stream[0].dataset[0][0].shape)
    )
    for e in a.epochs:
        torch.manual_seed(0)
        s = build_strategy(
            "joint",
            model_factory=factory,
            benchmark=bm,
            memory_bytes=None,
            epochs=e,
            lr=a.lr,
            batch_size=a.batch_size,
            device="cpu",
            evaluator=evaluator(None),
        )
        if a.schedule == "cosine":
            cosine = torch.optim.lr_scheduler.CosineAnnealingLR(s.optimizer, T_max=e)
            s.plugins.append(LRSchedulerPlugin(cosine))
        t = time.process_time()
        s.train(bm.train_stream)
        acc = s.eval(bm.test_stream)["Top1_Acc_Stream/eval_phase/test_stream/Task000"]
        cpu = time.process_time() - t
        print(
            f"{a.schedule} lr={a.lr:g} {e} epochs: {100 * acc:.1f} % ({cpu:.0f} s CPU)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
