"""FA on the short-training case of the robustness issue, with keyword
variants of :class:`~avalanche_featadapt.FeatureAdaptationStrategy`: the
Fashion-MNIST subset's 5x2 split (70/30, stratified, ``random_state=0``), a
BatchNorm CNN with a 64-d feature and an ``nn.Linear`` head, Adam 1e-3,
batch 64, 5 epochs (about 50 iterations per experience), 78,400 B.

    .venv/bin/python perf/named_case.py --seeds 0 1 2 '{}' '{"lambda_fd": 5}'

Each JSON object is one variant (its keys: the strategy's keyword
arguments, and ``epochs``, ``batch_size``, ``lr``); prints the final
accuracy per seed and the mean. One torch thread. A benchmark script.
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

FASHION = (
    Path(__file__).resolve().parents[2] / "shared/data/fashion-mnist-test-4443.npz"
)


def benchmark(path: Path, seed: int):
    """The case's 5x2 benchmark, built as the issue's check builds it."""
    from avalanche.benchmarks.scenarios.deprecated.generators import nc_benchmark
    from avalanche.benchmarks.utils.classification_dataset import (
        _make_taskaware_tensor_classification_dataset as tensor_dataset,
    )
    from sklearn.model_selection import train_test_split

    z = np.load(path)
    x = torch.tensor(z["x"], dtype=torch.float32).unsqueeze(1) / 255.0
    y = torch.tensor(z["y"], dtype=torch.long)
    tr, te = train_test_split(
        np.arange(len(y)), test_size=0.3, stratify=z["y"], random_state=0
    )
    train, test = tensor_dataset(x[tr], y[tr]), tensor_dataset(x[te], y[te])
    return nc_benchmark(train, test, n_experiences=5, task_labels=False, seed=seed)


def model():
    fe = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 49, 64),
    )  # fmt: skip
    return fe, nn.Linear(64, 10)


def run(path, seed, epochs=5, batch_size=64, lr=1e-3, **kw) -> float:
    from avalanche.evaluation.metrics import accuracy_metrics
    from avalanche.training.plugins import EvaluationPlugin

    from avalanche_featadapt import FeatureAdaptationStrategy

    torch.manual_seed(seed)
    bm = benchmark(path, seed)
    fe, clf = model()
    params = list(fe.parameters()) + list(clf.parameters())
    s = FeatureAdaptationStrategy(
        feature_extractor=fe,
        classifier=clf,
        memory_bytes=78_400,
        optimizer=torch.optim.Adam(params, lr=lr),
        train_mb_size=batch_size,
        train_epochs=epochs,
        eval_mb_size=500,
        evaluator=EvaluationPlugin(accuracy_metrics(stream=True), loggers=[]),
        **kw,
    )
    for exp in bm.train_stream:
        s.train(exp)
    res = s.eval(bm.test_stream)
    return res["Top1_Acc_Stream/eval_phase/test_stream/Task000"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("variants", nargs="*", default=["{}"], metavar="JSON")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--fashion", type=Path, default=FASHION)
    a = p.parse_args(argv)
    if not a.fashion.exists():
        p.error(f"{a.fashion} not found: pass --fashion FILE.npz")
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    for spec in a.variants:
        t = time.process_time()
        acc = [100 * run(a.fashion, s, **json.loads(spec)) for s in a.seeds]
        per = " ".join(f"{v:.1f}" for v in acc)
        cpu = time.process_time() - t
        print(f"{spec}: {per}; mean {np.mean(acc):.1f} ({cpu:.0f} s CPU)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
