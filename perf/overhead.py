"""Where feature adaptation spends its time, per experience, on SplitDigits
5x2 (the comparison's settings): backbone training against everything the
method adds after it (teacher copy, feature-pair extraction, adapter
training, buffer update, classifier retraining).

    .venv/bin/python perf/overhead.py [--epochs 20] [--device cpu]
"""

import argparse
import time
import warnings
from collections import defaultdict

import torch
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.training.plugins import EvaluationPlugin

import avalanche_featadapt.plugins.adapter as adapter_mod
import avalanche_featadapt.plugins.distillation as distill_mod
import avalanche_featadapt.plugins.feature_buffer as buffer_mod
from avalanche_featadapt import (
    AdapterTrainer,
    ClassifierRetrainer,
    FeatureAdaptationStrategy,
    FeatureBuffer,
    SplitDigits,
    make_digits_model,
)

warnings.filterwarnings("ignore")
p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=20)
p.add_argument("--device", default="cpu")
args = p.parse_args()

spent = defaultdict(float)


def timed(name, fn):
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            spent[name] += time.perf_counter() - t

    return wrapper


# the teacher copy is shared by distillation and the adapter
for mod in (adapter_mod, distill_mod):
    mod.teacher_of = timed("teacher copy", mod.teacher_of)
for mod in (adapter_mod, buffer_mod):
    mod.experience_features = timed("feature extraction", mod.experience_features)
AdapterTrainer.fit = timed("adapter training", AdapterTrainer.fit)
FeatureBuffer.add = timed("buffer update", FeatureBuffer.add)
FeatureBuffer.transform = timed("buffer update", FeatureBuffer.transform)
ClassifierRetrainer.retrain = timed(
    "classifier retraining", ClassifierRetrainer.retrain
)

torch.manual_seed(0)
bm = SplitDigits(5, seed=0)
model = make_digits_model()
strategy = FeatureAdaptationStrategy(
    model=model,
    optimizer=torch.optim.Adam(model.parameters(), lr=1e-4),
    memory_bytes=51200,
    train_mb_size=32,
    train_epochs=args.epochs,
    device=args.device,
    evaluator=EvaluationPlugin(accuracy_metrics(stream=True), loggers=[]),
)
parts = [
    "teacher copy",
    "feature extraction",
    "adapter training",
    "buffer update",
    "classifier retraining",
]
print(f"device {args.device}, {args.epochs} epochs per experience; seconds")
print(
    f"{'exp':>3} {'backbone':>9} "
    + " ".join(f"{p[:12]:>12}" for p in parts)
    + "  overhead"
)
totals = defaultdict(float)
for exp in bm.train_stream:
    spent.clear()
    t = time.perf_counter()
    strategy.train(exp)
    total = time.perf_counter() - t
    added = sum(spent[p] for p in parts)
    backbone = total - added
    totals["backbone"] += backbone
    for p_ in parts:
        totals[p_] += spent[p_]
    print(
        f"{exp.current_experience:>3} {backbone:9.2f} "
        + " ".join(f"{spent[p_]:12.3f}" for p_ in parts)
        + f"  {100 * added / backbone:6.1f} %"
    )
added = sum(totals[p_] for p_ in parts)
print(
    f"all {totals['backbone']:9.2f} "
    + " ".join(f"{totals[p_]:12.3f}" for p_ in parts)
    + f"  {100 * added / totals['backbone']:6.1f} %  (goal <= 30 %)"
)
