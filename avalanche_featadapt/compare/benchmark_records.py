"""The benchmarks of the comparison, one record each: the builder, what
``--data-root`` must hold, the model by image shape, the training settings
and where they come from, the epochs chosen on validation data, and the
GPU recipe. :mod:`~avalanche_featadapt.compare.registry` re-exports them
beside the strategies; ``featadapt list`` prints them."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Callable, Dict, Mapping, Optional, Tuple

from ..benchmarks.layouts import CIFAR100_LAYOUT, IMAGE_TREE_LAYOUT
from ..benchmarks.layouts import IMAGEFOLDER_LAYOUT, NPZ_LAYOUT, TORCHVISION_LAYOUT
from .model_choice import (
    by_size,
    by_size_gpu,
    digits_cnn,
    resnet18,
    resnet32,
    small_cnn,
)

__all__ = ["BENCHMARKS", "BenchmarkSpec", "GPURecipe"]


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


class _Builder:
    """A builder of :mod:`avalanche_featadapt.benchmarks`, imported at its
    first call (torch, Avalanche): reading the records, as ``featadapt
    list`` and ``--help`` do, imports neither."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def _target(self) -> Callable:
        module = importlib.import_module(
            f"avalanche_featadapt.benchmarks.{self.module}"
        )
        return getattr(module, self.name)

    def __call__(self, *args, **kwargs):
        return self._target()(*args, **kwargs)

    @property
    def __signature__(self):
        return inspect.signature(self._target())

    def __repr__(self):
        return f"avalanche_featadapt.benchmarks.{self.name}"


#: the builders, each imported at its first call
B = SimpleNamespace(
    **{
        name: _Builder(module, name)
        for module, names in [
            ("digits", ["split_digits"]),
            ("arrays", ["split_npz", "split_fashion_mnist", "split_mnist"]),
            ("images", ["split_image_tree", "split_cifar100"]),
            ("real", ["split_imagefolder"]),
        ]
        for name in names
    }
)

_FASHION = (
    "Adam 1e-3, the small CNN at width 16, as measured on the 4,443-image "
    "Fashion-MNIST subset"
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
    lr=3e-3,
    batch_size=64,
    schedule="constant",
    source="the small CNN for images up to 64 x 64 (CIFAR-100 at CPU scale), "
    "ResNet-18 above; Adam, batch 64; the learning rate and the epochs chosen on "
    "validation data on CIFAR-100's PNG tree, 100 training images per class",
    best_epochs={
        "featadapt": 16,
        "featadapt-hybrid": 16,
        "icarl": 16,
        "replay": 16,
        "lwf": 16,
        "naive": 16,
    },
    selection="featadapt select --benchmark imagefolder --data-root DATA "
    "--protocol b50-5 --seeds 0 --epochs-grid 4 8 16 --strategies joint "
    "--memory-bytes 614400 --lr-grid 0.001 0.003 0.01 --train-per-class 100 "
    "(the rate), then the same with --strategies featadapt featadapt-hybrid icarl "
    "replay lwf naive --lr 0.003 (the epochs; Joint not converged at 16: 22.1 to "
    "31.9 %)",
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
    BS("npz", B.split_npz, NPZ_LAYOUT, small_cnn, 32, 1e-3, 16, "constant",
       _NPZ + "; as many input channels as the file's images",
       best_epochs={"featadapt": 8, "featadapt-fp32": 4, "featadapt-hybrid": 32,
                    "replay": 16, "icarl": 32},
       selection="featadapt select --benchmark npz --data-root "
       "fashion-mnist-test-4443.npz --protocol b0-5 --seeds 0 --epochs-grid 2 4 8 "
       "16 32 --strategies featadapt featadapt-fp32 featadapt-hybrid replay icarl "
       "--memory-bytes 78400 (Joint not converged at 32: 80.8 to 82.3 %)"),
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
