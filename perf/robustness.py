"""Robustness of feature adaptation outside its tuned recipe: a matrix of
users' models x data x protocols x strategies, at equal bytes, with three
references per model that tell where a loss comes from.

    python perf/robustness.py                                   # the whole matrix
    python perf/robustness.py --models plain --data digits --seeds 0 1 2

Models (users' own, split with ``last_layer_name``, none tuned for):
``package`` (this package's DigitsCNN + cosine head), ``plain`` (conv-ReLU x2,
Linear(1024, 64)-ReLU feature, ``nn.Linear`` head, no BatchNorm), ``bncnn``
(the same with BatchNorm), ``mlp`` (Avalanche's ``SimpleMLP``,
``last_layer_name="classifier"``) and ``resnet18`` (torchvision's, 3x3 stem,
no max-pool, ``last_layer_name="fc"``).
Data: SplitDigits (51,200 B) and the Fashion-MNIST subset (78,400 B, the
bytes of 100 images), 5x2 (``b0-5``) and half the classes first (``b50-5``).
References: ``probe``, a logistic regression on FA's final backbone trained
on all training data (the ceiling of any classifier on that backbone),
``oracle``, FA whose adapter also gets feature pairs of every old-class
training image (the best any pair generator could do), and ``perfect``, FA's
head retrained on the final backbone's true features of the very images
whose features the buffer holds (the best any adapter could do at this
budget).

Writes robustness.md (mean ± std over seeds) and robustness.png (FA minus
Replay) to ``--out`` (perf/robustness_report.py, which also merges the logs
of runs made one cell or seed at a time).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
FASHION = ROOT.parent / "shared" / "data" / "fashion-mnist-test-4443.npz"
#: data -> (budget in bytes, epochs, Adam learning rate, batch size), shared by all
#: strategies; digits at the users' usual Adam 1e-3 (the split-digits record's
#: 1e-4 was tuned for FA), Fashion at the matrix's own recipe, 5 epochs at batch
#: 16 (docs/results.md; the npz record's epochs are chosen on validation data)
DATA = {
    "digits": (51_200, 10, 1e-3, 32),
    "fashion": (78_400, 5, 1e-3, 16),
}
STRATEGIES = [
    "featadapt",
    "featadapt-noadapt",
    "featadapt-hybrid",
    "replay",
    "icarl",
    "naive",
]


class PlainCNN(nn.Module):
    """A user's CNN: ReLU feature, ``nn.Linear`` head, optional BatchNorm."""

    def __init__(self, bn: bool = False):
        super().__init__()
        norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            norm(32),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1),
            norm(64),
            nn.ReLU(),
            nn.AdaptiveMaxPool2d(4),
            nn.Flatten(),
            nn.Linear(1024, 64),
            nn.ReLU(),
        )
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(self.features(x))


def _resnet18():
    from torchvision.models import resnet18

    m = resnet18(num_classes=10)
    m.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False)
    m.maxpool = nn.Identity()
    return m


def user_model(name: str, pixels: int, initial_classes: int = 2):
    """(model, last_layer_name) of one of the matrix's models; only the
    package's growing head takes ``initial_classes`` (iCaRL needs it full
    width), the users' heads are 10 wide."""
    from avalanche.models import SimpleMLP

    from avalanche_featadapt import make_digits_model

    if name == "package":
        return make_digits_model(initial_classes=initial_classes), None
    if name in ("plain", "bncnn"):
        return PlainCNN(bn=name == "bncnn"), "fc"
    if name == "mlp":
        return SimpleMLP(num_classes=10, input_size=pixels), "classifier"
    if name == "resnet18":
        return _resnet18(), "fc"
    raise ValueError(f"Unknown model {name!r}.")


def factory(name: str, pixels: int):
    from avalanche_featadapt import split_model

    def make(*, initial_classes: int = 2):
        model, last = user_model(name, pixels, initial_classes)
        return split_model(model=model, last_layer_name=last)

    return make


def benchmark(data: str, protocol: str, seed: int, fashion: Path):
    from avalanche_featadapt.benchmarks import split_digits, split_npz

    if data == "digits":
        return split_digits(protocol, seed=seed)
    return split_npz(protocol, seed=seed, data_root=fashion)


def final_accuracy(rows):
    return rows[-1]["accuracy"]


def probe_accuracy(strategy, bm) -> float:
    """A logistic regression on the final backbone, all training data."""
    from sklearn.linear_model import LogisticRegression
    from torch.utils.data import ConcatDataset

    from avalanche_featadapt.features import extract_features

    fe = strategy.model.feature_extractor
    data = [
        ConcatDataset([e.dataset.eval() for e in s])
        for s in (bm.train_stream, bm.test_stream)
    ]
    (f_tr,), y_tr = extract_features([fe], data[0], device="cpu")
    (f_te,), y_te = extract_features([fe], data[1], device="cpu")
    mu, sd = f_tr.mean(0), f_tr.std(0) + 1e-6
    clf = LogisticRegression(max_iter=3000).fit((f_tr - mu) / sd, y_tr)
    return float(clf.score((f_te - mu) / sd, y_te))


class StoredImages:
    """Records which training images FA's buffer holds (a diagnostic): the
    buffer selects among one class's features in dataset order, so the
    selector's indices name the images."""

    def __init__(self, strategy):
        self.images, self._queue, self._x = {}, [], None
        buf = strategy.buffer
        select, update = buf.selector, buf.update

        def selector(pool, k):
            idx = torch.as_tensor(select(pool, k)).long()
            c = self._queue.pop(0)
            self.images[c] = self._x[c][idx]
            return idx

        def recording_update(features=None, labels=None, **kw):
            if features is not None:
                ds = strategy.experience.dataset.eval()
                x = torch.stack([ds[i][0] for i in range(len(ds))])
                labels = torch.as_tensor(labels)
                self._queue = [int(c) for c in torch.unique(labels).tolist()]
                self._x = {c: x[labels == c] for c in self._queue}
            return update(features, labels, **kw)

        buf.selector, buf.update = selector, recording_update


def perfect_adapter_accuracy(strategy, stored: StoredImages, bm) -> float:
    """FA's head retrained, as FA retrains it, on the final backbone's own
    features of the very images whose features the buffer holds: what FA
    would reach with a perfect adapter, at the same budget."""
    import copy

    from avalanche_featadapt.features import extract_features
    from avalanche_featadapt.plugins import ClassifierRetrainer, FeatureBuffer

    fe = strategy.model.feature_extractor.eval()
    buf = FeatureBuffer(mem_size=10**9)
    with torch.no_grad():
        for c in strategy.buffer.classes:
            x = stored.images[c][: len(strategy.buffer.features_of(c))]
            buf.add(fe(x).flatten(1), torch.full((len(x),), c))
    head = copy.deepcopy(strategy.model.classifier)
    rt = strategy.retrainer
    ClassifierRetrainer(buffer=buf, epochs=rt.epochs, lr=rt.lr).retrain(head)
    test = torch.utils.data.ConcatDataset([e.dataset.eval() for e in bm.test_stream])
    (f,), y = extract_features([fe], test, device="cpu")
    with torch.no_grad():
        return float((head.eval()(f).argmax(1) == y).float().mean())


def shared_settings(model, data, bm, epochs=None, batch_size=None):
    """(budget in bytes, build_strategy's keyword arguments) that every
    strategy of a cell shares; ``epochs``/``batch_size`` replace DATA's."""
    budget, e, lr, bs = DATA[data]
    epochs, bs = epochs or e, batch_size or bs
    pixels = bm.train_stream[0].dataset[0][0].numel()
    kw = dict(
        model_factory=factory(model, pixels),
        epochs=epochs,
        lr=lr,
        batch_size=bs,
        device="cpu",
    )
    return budget, kw


def run_cell(
    model, data, protocol, seed, strategies, fashion, references=True, **training
):
    """{strategy or reference: final accuracy} for one cell and seed;
    ``training``: ``epochs``/``batch_size`` instead of DATA's."""
    from avalanche_featadapt.compare.build import build_strategy
    from avalanche_featadapt.compare.run import evaluator, run_one

    bm = benchmark(data, protocol, seed, fashion)
    budget, kw = shared_settings(model, data, bm, **training)
    out = {}
    for name in strategies:
        out[name] = final_accuracy(
            run_one(name, bm, seed=seed, memory_bytes=budget, **kw)
        )
    if not references:
        return out

    def old_images(s):  # the oracle: every old-class training image
        return [e.dataset for e in bm.train_stream[: s.experience.current_experience]]

    torch.manual_seed(seed)
    fa = build_strategy(
        "featadapt",
        benchmark=bm,
        memory_bytes=budget,
        evaluator=evaluator(None),
        overrides={"adapter_kwargs": {"extra_pairs": old_images}},
        **kw,
    )
    for exp in bm.train_stream:
        fa.train(exp)
    res = fa.eval(bm.test_stream)
    out["oracle"] = res["Top1_Acc_Stream/eval_phase/test_stream/Task000"]
    out["probe"] = probe_accuracy(fa, bm)
    torch.manual_seed(seed)
    fa = build_strategy(
        "featadapt", benchmark=bm, memory_bytes=budget, evaluator=evaluator(None), **kw
    )
    stored = StoredImages(fa)
    for exp in bm.train_stream:
        fa.train(exp)
    out["perfect"] = perfect_adapter_accuracy(fa, stored, bm)
    return out


def main(argv=None):
    # imported here, so that a module that loads this file for PlainCNN
    # (tests/strategies/test_own_model.py) needs no perf/ on sys.path
    from robustness_report import report

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--models", nargs="+", default=["package", "plain", "bncnn", "mlp", "resnet18"]
    )
    p.add_argument("--data", nargs="+", default=list(DATA), choices=list(DATA))
    p.add_argument("--protocols", nargs="+", default=["b0-5", "b50-5"])
    p.add_argument("--strategies", nargs="*", default=STRATEGIES)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument(
        "--no-references",
        action="store_true",
        help="skip oracle, perfect and probe (three more FA runs per cell)",
    )
    p.add_argument("--fashion", type=Path, default=FASHION)
    p.add_argument("--out", type=Path, default=Path("results/robustness"))
    a = p.parse_args(argv)
    if "fashion" in a.data and not a.fashion.exists():
        p.error(f"{a.fashion} not found: pass --fashion FILE.npz or --data digits")
    a.out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    results = {}
    refs = not a.no_references
    for d, proto, m in itertools.product(a.data, a.protocols, a.models):
        cell = []
        for seed in a.seeds:
            cell.append(run_cell(m, d, proto, seed, a.strategies, a.fashion, refs))
            acc = {k: round(100 * v, 1) for k, v in cell[-1].items()}
            print(m, d, proto, seed, acc, flush=True)
        results[(m, d, proto)] = cell
        report(results, a.seeds, a.out, STRATEGIES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
