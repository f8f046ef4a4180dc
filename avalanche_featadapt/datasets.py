"""Benchmarks by name and protocol, for the comparison. Real datasets load
only from a local folder; a missing one gives a message with the expected
layout, never a download."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, Tuple

import torch

from .benchmarks import SplitDigits

__all__ = ["BENCHMARKS", "parse_protocol", "make_benchmark", "model_factory_for"]

BENCHMARKS = {
    "split-digits": 10,
    "split-mnist": 10,
    "split-cifar100": 100,
    "imagenet-subset": None,  # as many classes as the folder has
}

LAYOUTS = {
    "split-mnist": "DATA_ROOT/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte",
    "split-cifar100": "DATA_ROOT/cifar-100-python/{train,test,meta} "
    "(the extracted python version of CIFAR-100)",
    "imagenet-subset": "DATA_ROOT/train/<class>/*.JPEG and DATA_ROOT/val/<class>/*.JPEG "
    "(torchvision ImageFolder layout, the same class folders in both)",
}


def parse_protocol(protocol: str, n_classes: int) -> Tuple[int, Optional[int]]:
    """'b0-N': N equal experiences; 'bP-N': P % of the classes first, then N
    equal experiences. Returns (n_experiences, first_exp_classes or None)."""
    m = re.fullmatch(r"b(\d+)-(\d+)", protocol or "")
    if not m:
        raise ValueError(
            f"Unknown protocol {protocol!r}; use bP-N, e.g. b0-5 (5 equal steps) or "
            "b50-5 (half the classes first, then 5 steps)."
        )
    pct, steps = int(m.group(1)), int(m.group(2))
    if steps < 1 or pct >= 100:
        raise ValueError(f"Protocol {protocol!r}: need N >= 1 steps and P < 100.")
    if pct == 0:
        if n_classes % steps:
            raise ValueError(
                f"Protocol {protocol}: {n_classes} classes do not split into {steps} "
                f"equal experiences; choose N dividing {n_classes}."
            )
        return steps, None
    first = n_classes * pct // 100
    rest = n_classes - first
    if first < 1 or rest < steps or rest % steps:
        raise ValueError(
            f"Protocol {protocol}: {first} classes first leaves {rest}, which do not "
            f"split into {steps} equal steps."
        )
    return steps + 1, first


def _require(path: Path, benchmark: str, data_root):
    if data_root is None:
        raise FileNotFoundError(
            f"--benchmark {benchmark} needs --data-root: nothing is downloaded. "
            f"Expected layout: {LAYOUTS[benchmark]}"
        )
    if not path.exists():
        raise FileNotFoundError(
            f"{benchmark}: {path} not found (nothing is downloaded). Expected "
            f"layout: {LAYOUTS[benchmark]}"
        )


def _avalanche_split(generator, protocol, n_classes, seed, root):
    """Avalanche's own SplitMNIST / SplitCIFAR100 from a local root, with
    torch's global RNG left as it was (``nc_benchmark`` reseeds it)."""
    n_exp, first = _avalanche_protocol(generator.__name__, protocol, n_classes)
    extra = {"first_exp_with_half_classes": True} if first else {}
    with torch.random.fork_rng(devices=[]):
        return generator(
            n_experiences=n_exp, seed=seed, dataset_root=str(root), **extra
        )


def _avalanche_protocol(name, protocol, n_classes):
    """Avalanche's SplitMNIST has equal experiences only; its SplitCIFAR100
    can also put half the classes first. Refuse the rest before any I/O."""
    n_exp, first = parse_protocol(protocol, n_classes)
    if first and (name != "SplitCIFAR100" or first != n_classes // 2):
        allowed = "b0-N or b50-N" if name == "SplitCIFAR100" else "b0-N"
        raise ValueError(
            f"Protocol {protocol} is not available with Avalanche's {name}; "
            f"use {allowed}."
        )
    return n_exp, first


def make_benchmark(name: str, protocol: str, *, seed: int, data_root=None):
    """The benchmark ``name`` under ``protocol``, class order by ``seed``."""
    if name not in BENCHMARKS:
        raise ValueError(f"Unknown benchmark {name!r}; choose from {list(BENCHMARKS)}.")
    root = Path(data_root).expanduser() if data_root is not None else None
    if name == "split-digits":
        n_exp, first = parse_protocol(protocol, 10)
        return SplitDigits(n_exp, first_exp_classes=first, seed=seed)
    if name == "split-mnist":
        _avalanche_protocol("SplitMNIST", protocol, 10)
        _require(root / "MNIST" / "raw" if root else Path(), name, data_root)
        raw = root / "MNIST" / "raw"
        if not any(raw.glob("train-images-idx3-ubyte*")):
            raise FileNotFoundError(
                f"split-mnist: no MNIST files in {raw}. {LAYOUTS[name]}"
            )
        from avalanche.benchmarks.classic import SplitMNIST

        return _avalanche_split(SplitMNIST, protocol, 10, seed, root)
    if name == "split-cifar100":
        _avalanche_protocol("SplitCIFAR100", protocol, 100)
        _require(
            root / "cifar-100-python" / "train" if root else Path(), name, data_root
        )
        from avalanche.benchmarks.classic import SplitCIFAR100

        return _avalanche_split(SplitCIFAR100, protocol, 100, seed, root)
    # imagenet-subset
    _require(root / "train" if root else Path(), name, data_root)
    _require(root / "val", name, data_root)
    from avalanche.benchmarks import nc_benchmark
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    tf = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    train, test = ImageFolder(str(root / "train"), tf), ImageFolder(
        str(root / "val"), tf
    )
    if train.classes != test.classes:
        raise ValueError(
            f"imagenet-subset: train/ and val/ have different class folders. "
            f"{LAYOUTS[name]}"
        )
    n_exp, first = parse_protocol(protocol, len(train.classes))
    with torch.random.fork_rng(devices=[]):
        return nc_benchmark(
            train,
            test,
            n_exp,
            task_labels=False,
            seed=seed,
            per_exp_classes={0: first} if first else None,
        )


def model_factory_for(name: str):
    """The model of each benchmark (DESIGN §4): a small CNN for digits,
    ResNet-32 for MNIST (1 channel) and CIFAR-100, ResNet-18 for ImageNet."""
    from .models import make_digits_model, make_resnet18, make_resnet32

    if name == "split-digits":
        return make_digits_model
    if name == "split-mnist":
        return lambda **kw: make_resnet32(in_channels=1, **kw)
    if name == "split-cifar100":
        return make_resnet32
    return make_resnet18
