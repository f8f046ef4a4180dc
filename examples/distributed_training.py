"""Feature adaptation under torchrun: an ordinary Avalanche script.

    torchrun --standalone --nproc_per_node=2 examples/distributed_training.py
    torchrun --standalone --nproc_per_node=2 examples/distributed_training.py \\
        --npz /path/to/fashion-mnist-test-4443.npz

It runs FeatureAdaptationStrategy on SplitDigits (or on the images of an
.npz file, e.g. the Fashion-MNIST subset) and ends by printing one line,
``final accuracy: X``. The same script runs without torchrun, in one
process. Avalanche's recipe (its examples/distributed_training.py) is
followed: ``DistributedHelper.init_distributed`` first (through
``avalanche_featadapt.distributed.init_distributed``, which gives each
process the GPU of its local rank), loggers on rank 0 only, the other
ranks' output silenced, and the mini-batch divided by the number of
processes so that the global batch stays the same. The strategy attaches
:class:`~avalanche_featadapt.distributed.DistributedSync` by itself, which
averages the gradients and keeps the memory identical on every rank
(docs/usage.md, "Distributed training").
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import torch
from avalanche.distributed import DistributedHelper
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.logging import TextLogger
from avalanche.training.plugins import EvaluationPlugin

from avalanche_featadapt import FeatureAdaptationStrategy, SplitDigits
from avalanche_featadapt import make_digits_model
from avalanche_featadapt.checkpoint import load_checkpoint
from avalanche_featadapt.distributed import (
    DistributedSync,
    init_distributed,
    save_checkpoint_main,
)
from avalanche_featadapt.metrics import MemoryBytes


def build(args):
    """(benchmark, model) for SplitDigits, or for an .npz file of images with
    the comparison's settings for it (``featadapt compare --benchmark npz``)."""
    if args.npz is None:
        return SplitDigits(5, seed=args.seed), make_digits_model()
    from avalanche_featadapt.compare import BENCHMARKS

    spec = BENCHMARKS["npz"]
    bm = spec.build("b0-5", seed=args.seed, data_root=args.npz)
    shape = tuple(bm.train_stream[0].dataset[0][0].shape)
    return bm, spec.model(shape)(initial_classes=2)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--npz", type=Path, default=None, help="images .npz (x, y)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32, help="global mini-batch")
    p.add_argument(
        "--memory-bytes", type=int, default=51_200, help="200 float32 features"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cuda", action="store_true", help="nccl, one GPU per rank")
    p.add_argument("--text-log", type=Path, default=None, help="rank 0's text log")
    p.add_argument(
        "--dump", type=Path, default=None, help="folder: each rank saves its memory"
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="resume from this file if it exists; rank 0 saves it after each "
        "experience",
    )
    args = p.parse_args(argv)

    # DistributedHelper.init_distributed, with cuda:LOCAL_RANK as the device
    # (Avalanche 0.6 picks cuda:<global rank>, absent beyond the first node)
    device = init_distributed(random_seed=args.seed, use_cuda=args.cuda)
    rank, world = DistributedHelper.rank, DistributedHelper.world_size
    if not DistributedHelper.is_main_process:  # print and log once
        sys.stdout = open(os.devnull, "w")
        warnings.filterwarnings("ignore")  # errors still reach stderr

    benchmark, model = build(args)
    loggers = []
    if DistributedHelper.is_main_process:  # Avalanche: loggers on rank 0 only
        log = open(args.text_log, "w") if args.text_log else sys.stdout
        loggers.append(TextLogger(log))
    evaluator = EvaluationPlugin(
        accuracy_metrics(stream=True), MemoryBytes(), loggers=loggers
    )
    if args.batch_size % world:
        raise ValueError(
            f"--batch-size {args.batch_size} is not a multiple of the "
            f"{world} processes; pass a multiple."
        )
    strategy = FeatureAdaptationStrategy(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=3e-4),
        memory_bytes=args.memory_bytes,
        train_mb_size=args.batch_size // world,
        train_epochs=args.epochs,
        eval_mb_size=256,
        device=device,
        evaluator=evaluator,
    )
    print(f"{world} process(es), device {device}")
    first = 0
    if args.checkpoint is not None:  # every rank loads the same file
        strategy, first = load_checkpoint(
            strategy, args.checkpoint, map_location=device
        )
    start = time.perf_counter()
    res = None
    for exp in benchmark.train_stream[first:]:
        strategy.train(exp, eval_streams=[])
        if args.checkpoint is not None:
            save_checkpoint_main(strategy, args.checkpoint)  # rank 0 writes
        res = strategy.eval(benchmark.test_stream[: exp.current_experience + 1])
    if res is None:  # resumed after the last experience
        res = strategy.eval(benchmark.test_stream)
    acc = res["Top1_Acc_Stream/eval_phase/test_stream/Task000"]
    if args.dump is not None:  # every rank: to check the ranks agree
        args.dump.mkdir(parents=True, exist_ok=True)
        feats, labels = strategy.buffer.features()
        sync = [p for p in strategy.plugins if isinstance(p, DistributedSync)]
        torch.save(
            {
                "features": feats,
                "labels": labels,
                "accuracy": acc,
                "divergence": sync[0].divergence if sync else [],
            },
            args.dump / f"rank{rank}.pt",
        )
    print(f"time: {time.perf_counter() - start:.1f} s")
    print(f"final accuracy: {acc:.4f}")
    DistributedHelper.barrier()
    if DistributedHelper.is_distributed:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
