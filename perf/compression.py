"""Compressed feature storage: bytes per stored sample against the image it
replaces, and the accuracy cost of float16 and int8 features against float32
on SplitDigits 5x2 (3 seeds), at the same number of features and at the same
bytes.

    .venv/bin/python perf/compression.py [--seeds 0 1 2] [--epochs 20]

At 20 epochs, FA's tuned recipe (the benchmark's default is 10).
"""

import argparse
import warnings

import numpy as np

from avalanche_featadapt import FeatureBuffer
from avalanche_featadapt.compare import run_comparison, stats

warnings.filterwarnings("ignore")
p = argparse.ArgumentParser()
p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
p.add_argument("--epochs", type=int, default=20)
args = p.parse_args()

print("Bytes per stored sample (int8 includes a float32 scale per feature)")
for what, d, image in (
    ("ResNet-32 CIFAR feature", 64, ("3x32x32 uint8", 3 * 32 * 32)),
    ("ResNet-18 ImageNet feature", 512, ("3x224x224 uint8", 3 * 224 * 224)),
):
    cells = []
    for dtype in ("float32", "float16", "int8"):
        b = FeatureBuffer(mem_size=1, feature_dtype=dtype).bytes_per_sample(d)
        cells.append(f"{dtype} {b:5d} B ({image[1] / b:6.1f}x smaller)")
    print(
        f"  {what:27s} d={d:3d}: "
        + "; ".join(cells)
        + f"  vs image {image[0]} = {image[1]} B"
    )

names = {"float32": "featadapt-fp32", "float16": "featadapt-fp16", "int8": "featadapt"}
per_sample = {
    k: FeatureBuffer(mem_size=1, feature_dtype=k).bytes_per_sample(64) for k in names
}
results = {}
for label, budget in (
    ("same count (200 features)", {k: 200 * per_sample[k] for k in names}),
    ("same bytes (51,200 B)", {k: 51200 for k in names}),
):
    for dtype, name in names.items():
        rows = run_comparison(
            strategies=[name],
            seeds=args.seeds,
            memory_bytes=budget[dtype],
            epochs=args.epochs,
            quiet=True,
        )
        s = stats(rows)[name]
        results[(label, dtype)] = (np.array(s["final"]) * 100, int(max(s["held"])))

print(
    f"\nFA final accuracy on SplitDigits 5x2, seeds {args.seeds} (mean ± std, cost vs float32)"
)
for label in ("same count (200 features)", "same bytes (51,200 B)"):
    base = results[(label, "float32")][0].mean()
    for dtype in names:
        acc, mem = results[(label, dtype)]
        print(
            f"  {label:26s} {dtype:8s} {acc.mean():5.1f} ± {acc.std():3.1f} %  "
            f"({acc.mean() - base:+.1f} points)  {mem:6d} B held"
        )
