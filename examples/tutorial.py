# %% [markdown]
# # Class-incremental learning on SplitDigits: forgetting, and what feature adaptation does
#
# This tutorial runs as a script (`python examples/tutorial.py`) and opens as a
# notebook in Jupyter or VS Code (percent cells). It needs no download: the data
# is scikit-learn's 8x8 digits. It takes under a minute on a laptop CPU
# (`FEATADAPT_FAST=1` makes it shorter still, for CI). Plots go to
# `tutorial_out/`.
#
# The stream: 5 experiences of 2 classes each. After each experience we test on
# every class seen so far, with no task label.

# %%
import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from avalanche_featadapt.compare import COLORS, run_comparison

warnings.filterwarnings("ignore")
FAST = os.environ.get("FEATADAPT_FAST") == "1"
EPOCHS = 3 if FAST else 10
OUT = Path(os.environ.get("FEATADAPT_TUTORIAL_OUT", "tutorial_out"))
OUT.mkdir(exist_ok=True)

# %% [markdown]
# ## 1. Forgetting, and five ways to fight it
#
# We run, at one memory budget of 51,200 bytes (200 digit images as float32):
# **naive** fine-tuning (forgets), **LwF** (distillation, no memory),
# **iCaRL** (200 images), **SDC** (class prototypes moved by estimated drift)
# and **feature adaptation** (200 stored features, moved by a learned adapter).

# %%
rows = run_comparison(
    strategies=["naive", "lwf", "icarl", "sdc", "featadapt", "featadapt-noadapt"],
    seeds=[0],
    epochs=EPOCHS,
    lr=3e-4,
    quiet=True,
)
fig, ax = plt.subplots(figsize=(7, 4))
for name in dict.fromkeys(r["strategy"] for r in rows):
    rs = [r for r in rows if r["strategy"] == name]
    ax.plot(
        [r["experience"] + 1 for r in rs],
        [100 * r["accuracy"] for r in rs],
        "-o",
        label=name,
        color=COLORS[name],
    )
ax.set(xlabel="experience", ylabel="accuracy on seen classes (%)", ylim=(0, 101))
ax.set(xticks=range(1, 6), title="Accuracy on all the classes seen so far")
ax.legend()
ax.grid(alpha=0.3)
fig.savefig(OUT / "accuracy.png", dpi=100)
for r in rows:
    if r["experience"] == max(x["experience"] for x in rows):
        print(
            f"{r['strategy']:18s} final accuracy {100 * r['accuracy']:5.1f} %  memory {r['memory_bytes']:6d} B"
        )

# %% [markdown]
# Naive learns each new pair of digits and forgets the old ones. Feature
# adaptation keeps features, not images; without its adapter
# (`featadapt-noadapt`) the stored features go stale as the backbone changes.
#
# ## 2. Drift: how far old features really move, and what each method believes
#
# `DriftMetric` keeps a few probe images per class (for measurement only) and
# compares the new backbone's true features with what the strategy believes:
# the adapted features for FA, the stale ones without adapter, the compensated
# prototypes for SDC.

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for name in ("featadapt", "featadapt-noadapt", "sdc"):
    rs = [r for r in rows if r["strategy"] == name and r["experience"] > 0]
    ax.plot(
        [r["experience"] + 1 for r in rs],
        [r["drift_estimated_rel_l2"] for r in rs],
        "-o",
        label=f"{name}: belief",
        color=COLORS[name],
    )
rs = [r for r in rows if r["strategy"] == "featadapt" and r["experience"] > 0]
ax.plot(
    [r["experience"] + 1 for r in rs],
    [r["drift_stale_rel_l2"] for r in rs],
    "k--",
    label="featadapt: no compensation",
)
ax.set(xlabel="experience", ylabel="relative L2 error vs true features")
ax.set(xticks=range(2, 6), title="How wrong is what each method believes?")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
fig.savefig(OUT / "drift.png", dpi=100)

# %% [markdown]
# ## 3. Looking at adaptation: stored features before and after, against the truth
#
# We train FA for two experiences and look at the probe images of the first
# experience's classes: their features as stored (old backbone), after the
# adapter, and as the new backbone really computes them.

# %%
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.training.plugins import EvaluationPlugin

from avalanche_featadapt import (
    FeatureAdaptationStrategy,
    SplitDigits,
    make_digits_model,
)
from avalanche_featadapt._utils import extract_features
from avalanche_featadapt.drift import DriftMetric

torch.manual_seed(0)
bm = SplitDigits(5, seed=0)
model = make_digits_model()
drift = DriftMetric(probe_per_class=40)
fa = FeatureAdaptationStrategy(
    model=model,
    optimizer=torch.optim.Adam(model.parameters(), lr=3e-4),
    memory_bytes=51_200,
    train_epochs=EPOCHS,
    evaluator=EvaluationPlugin(accuracy_metrics(stream=True), drift, loggers=[]),
)
for exp in bm.train_stream[:2]:
    fa.train(exp)

old = bm.train_stream[0].classes_in_this_experience
stale = torch.cat([drift.stale[c] for c in old])
adapted = torch.cat([drift.believed[c] for c in old])
x = torch.cat([drift.x[c] for c in old])
(true,), _ = extract_features(
    [fa.model.feature_extractor],
    torch.utils.data.TensorDataset(x, torch.zeros(len(x))),
    device="cpu",
)
# PCA axes of the true new features; one class, each probe drawn with a line
# from its true feature to what FA stored (grey) and to what it adapted (red)
mean = true.mean(0)
_, _, vt = torch.linalg.svd(true - mean, full_matrices=False)


def proj(f):
    return ((f - mean) @ vt[:2].T).numpy()


n = len(drift.x[old[0]])
t, s_, a = proj(true[:n]), proj(stale[:n]), proj(adapted[:n])
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
for i in range(n):
    ax.plot([t[i, 0], s_[i, 0]], [t[i, 1], s_[i, 1]], color="grey", lw=0.6)
    ax.plot([t[i, 0], a[i, 0]], [t[i, 1], a[i, 1]], color="tab:red", lw=0.8)
ax.scatter(*t.T, marker="^", c="black", s=18, label="true new features")
ax.scatter(*s_.T, marker="x", c="grey", s=18, label="stored (old backbone)")
ax.scatter(*a.T, marker="o", c="tab:red", s=14, label="adapted by FA")
ax.set_title(f"Class {old[0]}: each probe, true vs stored vs adapted (PCA)")
ax.legend(fontsize=8)
err_stale = ((stale - true).norm(dim=1) / true.norm(dim=1)).numpy()
err_adapted = ((adapted - true).norm(dim=1) / true.norm(dim=1)).numpy()
bins = np.linspace(0, max(err_stale.max(), err_adapted.max()), 30)
ax2.hist(
    err_stale,
    bins,
    alpha=0.6,
    color="grey",
    label=f"stored: mean {err_stale.mean():.2f}",
)
ax2.hist(
    err_adapted,
    bins,
    alpha=0.6,
    color="tab:red",
    label=f"adapted: mean {err_adapted.mean():.2f}",
)
ax2.set(xlabel="relative L2 error against the true new feature", ylabel="probes")
ax2.set_title("Old classes' probes after experience 2")
ax2.legend()
fig.tight_layout()
fig.savefig(OUT / "pca.png", dpi=100)
print(
    "drift after experience 2:", {k: round(v, 3) for k, v in drift.history[-1].items()}
)

# %% [markdown]
# The red lines (adapted to true) are shorter than the grey ones (stored to
# true): the adapter moves stored features most of the way to where the new
# backbone puts them. That is the whole idea of the method: memory holds
# features, and a small network learned on the current images keeps them
# usable.
