"""Herding speed: HerdingSelector (running sum, one matrix-vector product per
step, stops after m) against Avalanche's HerdingSelectionStrategy (orders all
n, an n x d candidate matrix per step), on L2-normalised random float32 features.
Checks that both select the same m indices.

    .venv/bin/python perf/herding_speed.py [--device cuda]
"""

import argparse
import time

import torch
import torch.nn.functional as F
from avalanche.training.storage_policy import HerdingSelectionStrategy

from avalanche_featadapt import HerdingSelector

p = argparse.ArgumentParser()
p.add_argument("--device", default="cpu")
args = p.parse_args()
dev = torch.device(args.device)


def timed(fn, repeats=1):
    best = float("inf")
    for _ in range(repeats):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best, out


# the method under test needs no model; skip the constructor's hooks
avalanche_herding = object.__new__(HerdingSelectionStrategy)
print(f"device: {dev}")
print(
    f"{'n':>6} {'d':>5} {'m':>4} {'avalanche s':>12} {'ours s':>9} {'speedup':>9}  same"
)
for n, d, m in ((500, 64, 20), (1300, 512, 20), (5000, 512, 50)):
    g = torch.Generator().manual_seed(0)
    x = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float32), dim=1).to(dev)
    t_ref, ref = timed(lambda: avalanche_herding.make_sorted_indices_from_features(x))
    t_ours, ours = timed(lambda: HerdingSelector().select(x, m), repeats=5)
    same = list(ref[:m]) == ours.tolist()
    print(
        f"{n:>6} {d:>5} {m:>4} {t_ref:>12.3f} {t_ours:>9.4f} {t_ref / t_ours:>8.0f}x  {same}"
    )
