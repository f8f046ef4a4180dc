"""ImageNet subsets from a local ImageFolder tree, decoded per epoch at
224 x 224 (CIFAR-100 and small-image trees: :mod:`.images`). Nothing is downloaded:
a missing or damaged file gives a clear error naming the expected layout."""

from __future__ import annotations

from pathlib import Path

import torch

from .layouts import IMAGEFOLDER_LAYOUT
from .protocol import parse_protocol

__all__ = [
    "IMAGEFOLDER_LAYOUT",
    "split_imagefolder",
]

#: ImageNet's channel statistics (torchvision's reference training scripts)
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def _require(path: Path, name: str, data_root, layout: str):
    if data_root is None:
        raise FileNotFoundError(
            f"--benchmark {name} needs --data-root: nothing is downloaded. "
            f"Expected layout: {layout}"
        )
    if not path.exists():
        raise FileNotFoundError(
            f"{name}: {path} not found (nothing is downloaded). Expected "
            f"layout: {layout}"
        )


def _nc(train, test, protocol, n_classes, seed, **kwargs):
    from avalanche.benchmarks import nc_benchmark

    n_exp, first = parse_protocol(protocol, n_classes)
    with torch.random.fork_rng(devices=[]):  # nc_benchmark reseeds torch
        return nc_benchmark(
            train,
            test,
            n_exp,
            task_labels=False,
            seed=seed,
            per_exp_classes={0: first} if first else None,
            **kwargs,
        )


def split_imagefolder(protocol: str, *, seed: int, data_root, size: int = 224):
    """``imagenet-subset``: class folders under ``train/`` and ``val/``.
    Training uses the usual ImageNet augmentation (random resized crop to
    ``size`` and horizontal flip); evaluation, and every image a strategy
    stores, uses resize to ``size * 8 / 7`` (256 for 224) and a centre crop
    (torchvision's reference recipe)."""
    from torchvision import transforms as T
    from torchvision.datasets import ImageFolder

    root = Path(data_root).expanduser() if data_root is not None else None
    for sub in ("train", "val"):
        _require(
            root / sub if root else Path(),
            "imagenet-subset",
            data_root,
            IMAGEFOLDER_LAYOUT,
        )
    norm = [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    train_tf = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip()] + norm)
    eval_tf = T.Compose([T.Resize(size * 8 // 7), T.CenterCrop(size)] + norm)
    train, test = ImageFolder(str(root / "train")), ImageFolder(str(root / "val"))
    if train.classes != test.classes:
        raise ValueError(
            "imagenet-subset: train/ and val/ have different class folders. "
            f"{IMAGEFOLDER_LAYOUT}"
        )
    return _nc(
        train,
        test,
        protocol,
        len(train.classes),
        seed,
        train_transform=train_tf,
        eval_transform=eval_tf,
    )
