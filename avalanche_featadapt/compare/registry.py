"""The one registry of the comparison: each strategy and each benchmark is
one record. Everything else (the CLI's choices, the defaults, the report's
orderings, the plots' colours, the memory check) reads these records.
``featadapt list`` prints them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Dict, Mapping, Optional, Tuple

from .. import benchmarks as B
from ..benchmarks.arrays import NPZ_LAYOUT, TORCHVISION_LAYOUT
from ..benchmarks.images import CIFAR100_LAYOUT, IMAGE_TREE_LAYOUT
from ..benchmarks.real import IMAGEFOLDER_LAYOUT
from .model_choice import (
    by_size,
    by_size_gpu,
    digits_cnn,
    resnet18,
    resnet32,
    small_cnn,
)

__all__ = [
    "BENCHMARKS",
    "BenchmarkSpec",
    "DEFAULT_STRATEGIES",
    "STRATEGIES",
    "StrategySpec",
]


@dataclass(frozen=True)
class StrategySpec:
    """One strategy of the comparison.

    :param name: its CLI name.
    :param kind: how :func:`~avalanche_featadapt.compare.build.build_strategy`
        builds it ("naive", "joint", "lwf", "icarl", "replay", "sdc", "fa").
    :param hyperparameters: its own keyword arguments.
    :param source: where they come from.
    :param memory: "none", "fixed" (a memory whose size does not depend on the
        budget, e.g. SDC's prototypes) or "budget" (sized to fit the budget).
    :param color: its colour in every plot.
    :param drift: whether ``DriftMetric`` can follow its belief about old
        features.
    :param default: whether ``featadapt compare`` runs it by default.
    :param versus: (other strategy, question) pairs the report answers.
    :param shares_base: whether its first experience is plain cross-entropy
        training of the benchmark's fresh model, the same for every strategy
        that has it, so it starts from the comparison's shared base model
        (:mod:`~avalanche_featadapt.compare.base_model`).
    """

    name: str
    kind: str
    hyperparameters: dict
    source: str
    memory: str
    color: str
    drift: bool = False
    default: bool = True
    versus: Tuple[Tuple[str, str], ...] = ()
    shares_base: bool = False

    @property
    def keeps_memory(self) -> bool:
        return self.memory != "none"

    @property
    def uses_budget(self) -> bool:
        return self.memory == "budget"


_FA: dict = {}  # FeatureAdaptationStrategy's own defaults, one place
_FA_SRC = (
    "Iscen et al., ECCV 2020: KD + cosine feature distillation (Sec. 3.1), an "
    "MLP adapter with a cosine loss (Sec. 3.2), herding on features, the "
    "classifier retrained on the memory; the strategy's defaults, measured on "
    "several models and datasets (docs/method.md, 'Defaults'; docs/ablations.md)"
)
_SDC = {"sigma": 0.3, "loss": "ce", "regularizer": "distill"}
_SDC_SRC = (
    "Yu et al., SDC, CVPR 2020: sigma = 0.3 on L2-normalised embeddings "
    "(official code yulu0724/SDC-IL); E-LwF+SDC is the paper's best variant"
)
_ICARL_SRC = (
    "Rebuffi et al., CVPR 2017, Sec. 3: a fixed memory of K images split evenly "
    "over classes, herding, nearest mean of exemplars"
)
_REPLAY_SRC = (
    "experience replay of images from a class-balanced buffer (Avalanche's "
    "ReplayPlugin with ClassBalancedBuffer)"
)
_EQ = "at the same bytes"
S = StrategySpec
# fmt: off
_RECORDS = [
    S("naive", "naive", {}, "fine-tuning: the lower bound", "none", "tab:gray",
      shares_base=True),
    S("joint", "joint", {}, "all experiences at once: the upper bound", "none",
      "black"),
    S("lwf", "lwf", {"alpha": 1.0, "temperature": 2.0},
      "Li & Hoiem, TPAMI 2017, Sec. 3: lambda_o = 1, T = 2", "none", "tab:orange",
      versus=(("naive", "LwF vs Naive"),), shares_base=True),
    S("icarl", "icarl", {"fixed_memory": True}, _ICARL_SRC, "budget", "tab:green"),
    S("replay", "replay", {}, _REPLAY_SRC, "budget", "tab:olive",
      shares_base=True),
    S("sdc", "sdc", dict(_SDC), _SDC_SRC, "fixed", "tab:blue", drift=True,
      versus=(("sdc-nocomp",
               "SDC vs its base E-LwF (same training, stale prototypes)"),)),
    S("sdc-nocomp", "sdc", {**_SDC, "compensate": False},
      _SDC_SRC + "; E-LwF: the same without compensation", "fixed", "tab:cyan",
      drift=True),
    S("sdc-ft", "sdc", {**_SDC, "regularizer": "none"},
      _SDC_SRC + "; E-FT+SDC: no distillation", "fixed", "tab:purple",
      drift=True, default=False),
    S("featadapt", "fa", dict(_FA), _FA_SRC, "budget", "tab:red", drift=True,
      versus=(("featadapt-noadapt",
               "Does the adapter help? (FA vs FA without adapter)"),
              ("featadapt-fp32",
               "Does 4-bit storage pay? (FA vs FA storing float32, the paper's)"),
              ("icarl", f"FA vs iCaRL (image exemplars) {_EQ}"),
              ("replay", f"FA vs Replay (image exemplars) {_EQ}"))),
    S("featadapt-fp16", "fa", {**_FA, "feature_dtype": "float16"},
      _FA_SRC + "; features stored as float16", "budget", "tab:brown",
      drift=True, default=False),
    S("featadapt-int8", "fa", {**_FA, "feature_dtype": "int8"},
      _FA_SRC + "; features stored as int8, the default before 4-bit codes "
      "(which hold 1.7-1.95 times as many)", "budget", "sienna", drift=True,
      default=False),
    S("featadapt-nostored", "fa", {**_FA, "lambda_stored": 0.0},
      _FA_SRC + "; the stored old-class features only retrain the classifier, "
      "as in the paper (no StoredFeatureReplay)", "budget", "mediumvioletred",
      drift=True, default=False),
    S("featadapt-fp32", "fa", {**_FA, "feature_dtype": "float32"},
      _FA_SRC + "; features stored as float32, the paper's storage (the "
      "default stores 4-bit codes)", "budget", "darkred", drift=True,
      versus=(("replay", f"FA with float32 features vs Replay {_EQ}"),)),
    S("featadapt-hybrid", "fa",
      {**_FA, "image_fraction": 0.5},
      _FA_SRC + "; the paper's 'Ours-hybrid': half the bytes images (replayed, "
      "and giving the adapter pairs), half 4-bit features", "budget", "gold",
      drift=True,
      versus=(("replay", f"FA hybrid (images + 4-bit features) vs Replay {_EQ}"),)),
    S("featadapt-noadapt", "fa", {**_FA, "adapt": False},
      _FA_SRC + "; ablation: no adapter, the stored features go stale", "budget",
      "tab:pink", drift=True),
]
# fmt: on
STRATEGIES: Dict[str, StrategySpec] = {r.name: r for r in _RECORDS}
DEFAULT_STRATEGIES = [r.name for r in _RECORDS if r.default]


@dataclass(frozen=True)
class GPURecipe:
    """A benchmark's training on a GPU (``--device cuda``), where the CPU
    scale's model and epochs need not hold back.

    :param model: as :class:`BenchmarkSpec`'s.
    :param epochs, lr, batch_size: its training settings (Adam).
    :param source: where they come from.
    """

    model: Callable
    epochs: int
    lr: float
    batch_size: int
    source: str


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark of the comparison.

    :param name: its CLI name.
    :param build: ``(protocol, seed=, data_root=) -> benchmark``.
    :param layout: what ``--data-root`` must hold ("" if embedded).
    :param model: ``(C, H, W) of an image -> model factory``; called as
        ``factory(initial_classes=...)`` for a fresh model.
    :param epochs, lr, batch_size: the shared training settings (Adam).
    :param schedule: the learning-rate schedule.
    :param source: where the settings come from.
    :param image_shape: C x H x W of an image as stored (for the budgets),
        or None when it depends on the file.
    :param best_epochs: strategy -> its epochs chosen on validation data
        ("each at its best"); empty when no selection is recorded.
    :param selection: the ``featadapt select`` command that chose ``epochs``
        (the shared training budget) and ``best_epochs``; "" when none did.
    :param gpu: the :class:`GPURecipe` used instead with a CUDA device, or
        None (the same settings on every device).
    """

    name: str
    build: Callable
    layout: str
    model: Callable
    epochs: int
    lr: float
    batch_size: int
    schedule: str
    source: str
    image_shape: Optional[Tuple[int, int, int]] = None
    best_epochs: Mapping[str, int] = field(default_factory=dict)
    selection: str = ""
    gpu: Optional[GPURecipe] = None

    def on(self, device) -> "BenchmarkSpec":
        """This record as it trains on ``device``: with a CUDA device and a
        :class:`GPURecipe`, that recipe's model and settings, every strategy
        at its epochs (a CPU-scale selection does not apply)."""
        import torch

        if self.gpu is None or torch.device(device).type != "cuda":
            return self
        g = self.gpu
        return replace(
            self,
            model=g.model,
            epochs=g.epochs,
            lr=g.lr,
            batch_size=g.batch_size,
            source=g.source,
            best_epochs={},
            selection="",
            gpu=None,
        )

    @property
    def selected(self) -> bool:
        """Whether a selection on validation data is recorded."""
        return bool(self.selection)

    def selection_note(self) -> str:
        """Where the epochs come from, in words."""
        if not self.selected:
            return f"{self.epochs} epochs chosen by hand; no selection recorded"
        best = ", ".join(f"{k} {v}" for k, v in self.best_epochs.items())
        return f"shared {self.epochs} epochs, each at its best: {best}; by {self.selection}"


_FASHION = (
    "Adam 1e-3 for 5 epochs, as measured on the 4,443-image Fashion-MNIST subset; "
    "the small CNN at width 16 keeps a 5-strategy sweep within minutes on 2 CPU "
    "cores"
)
_NPZ = (
    _FASHION + "; batch 16, not 64: at 64 the subset's 3,110 training images give "
    "50 steps per experience, and Avalanche's Replay of 100 images under-trains "
    "(a user's BatchNorm CNN, seeds 0-2: 51.0, 50.0 and 49.5 % at batch 64, "
    "70.5, 68.9 and 72.7 % at 16; docs/results.md, 'Caveat')"
)
#: CIFAR-100 at CPU scale: one recipe for both of its layouts, so that they
#: give the same results (docs/results.md, "CIFAR-100 at CPU scale")
_CIFAR_CPU = dict(
    model=by_size,
    epochs=16,
    lr=1e-3,
    batch_size=64,
    schedule="constant",
    source="the small CNN for images up to 64 x 64 (CIFAR-100 at CPU scale), "
    "ResNet-18 above; Adam 1e-3, batch 64; the epochs chosen on validation data "
    "on CIFAR-100's PNG tree, 100 training images per class",
    best_epochs={
        "featadapt": 16,
        "featadapt-hybrid": 16,
        "icarl": 16,
        "replay": 16,
        "lwf": 16,
        "naive": 16,
    },
    selection="featadapt select --benchmark imagefolder --data-root DATA "
    "--protocol b50-5 --seeds 0 --epochs-grid 4 8 16 --strategies featadapt "
    "featadapt-hybrid icarl replay lwf naive --memory-bytes 614400 "
    "--train-per-class 100 (Joint not converged at 16: 20.1 to 27.4 %)",
    gpu=None,
)


_PAPER_CIFAR = GPURecipe(
    by_size_gpu,
    60,
    1e-3,
    128,
    "ResNet-32 as in iCaRL (Rebuffi et al., CVPR 2017) and the paper's CIFAR-100 "
    "runs; Adam 1e-3 for 60 epochs instead of iCaRL's SGD 2.0 for 70, to share "
    "one optimiser",
)
_CIFAR_CPU["gpu"] = _PAPER_CIFAR
_DIGITS = (
    "Adam 1e-4 tuned on SplitDigits 5x2 for FA at 20 epochs; 10 keep the main "
    "job within 10 minutes on 2 cores, at 1 point of FA's final accuracy at "
    "51.2 KB (89.8 against 90.2 %, docs/results.md)"
)
_INET = "ResNet-18 as in the paper's ImageNet runs; Adam 1e-3, 30 epochs"
_TV = TORCHVISION_LAYOUT
BS = BenchmarkSpec
# fmt: off
BENCHMARKS: Dict[str, BenchmarkSpec] = {b.name: b for b in [
    BS("split-digits", B.split_digits, "", digits_cnn, 10, 1e-4, 32, "constant",
       _DIGITS, (1, 8, 8)),
    BS("npz", B.split_npz, NPZ_LAYOUT, small_cnn, 5, 1e-3, 16, "constant",
       _NPZ + "; as many input channels as the file's images"),
    BS("split-fashion-mnist", B.split_fashion_mnist,
       _TV.format(name="FashionMNIST"), small_cnn, 5, 1e-3, 64, "constant",
       _FASHION + "; batch 64: the full training set gives 940 steps per experience",
       (1, 28, 28)),
    BS("split-mnist", B.split_mnist, _TV.format(name="MNIST"), resnet32, 5, 1e-3,
       128, "constant", "ResNet-32; MNIST is learnt in a few epochs", (1, 28, 28)),
    BS("imagefolder", B.split_image_tree, IMAGE_TREE_LAYOUT, **_CIFAR_CPU),
    BS("split-cifar100", B.split_cifar100, CIFAR100_LAYOUT,
       image_shape=(3, 32, 32), **_CIFAR_CPU),
    BS("imagenet-subset", B.split_imagefolder, IMAGEFOLDER_LAYOUT, resnet18, 30,
       1e-3, 64, "constant", _INET, (3, 224, 224)),
]}
# fmt: on
