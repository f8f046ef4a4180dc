"""Class-incremental benchmarks from image arrays: any ``.npz`` file
(``--benchmark npz``) and torchvision's raw MNIST / Fashion-MNIST files.

Nothing is downloaded: torchvision's readers are called with
``download=False``, after the files are checked, so a missing or damaged
file gives a clear error instead of a download attempt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from avalanche.benchmarks import nc_benchmark
from avalanche.benchmarks.utils.classification_dataset import (
    _make_taskaware_tensor_classification_dataset,
)

from .layouts import NPZ_LAYOUT, TORCHVISION_LAYOUT
from .protocol import parse_protocol, per_exp_classes

__all__ = [
    "NPZ_LAYOUT",
    "TORCHVISION_LAYOUT",
    "SplitArrays",
    "load_npz",
    "split_fashion_mnist",
    "split_mnist",
    "split_npz",
    "split_torchvision",
]


def to_tensor_images(x) -> torch.Tensor:
    """uint8 images N x H x W (x C) -> float32 N x C x H x W in [0, 1]."""
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        raise ValueError(
            f"x must be uint8 images N x H x W or N x H x W x C, got dtype "
            f"{x.dtype} and shape {x.shape}."
        )
    t = torch.from_numpy(np.ascontiguousarray(x)).float().div_(255.0)
    return t.unsqueeze(1) if t.dim() == 3 else t.permute(0, 3, 1, 2).contiguous()


def SplitArrays(
    x_train,
    y_train,
    x_test,
    y_test,
    *,
    n_experiences: int = 5,
    first_exp_classes: Optional[int] = None,
    seed: int = 0,
    class_order: Optional[Sequence[int]] = None,
):
    """A class-incremental benchmark (Avalanche's ``nc_benchmark``, no task
    labels) from image tensors (N x C x H x W) and integer labels. Building
    it leaves torch's global RNG untouched, although ``nc_benchmark(seed=...)``
    reseeds it.

    :param n_experiences: experiences; classes divided evenly unless
        ``first_exp_classes`` go first and the rest evenly.
    :param first_exp_classes: classes in the first experience, or None.
    :param seed: the class order's seed (unless ``class_order`` is given).
    :param class_order: an explicit order of the classes.
    """
    y_train = torch.as_tensor(np.asarray(y_train)).long()
    y_test = torch.as_tensor(np.asarray(y_test)).long()
    classes = sorted(set(y_train.tolist()))
    n_classes = len(classes)
    if classes != list(range(n_classes)):
        raise ValueError(f"Labels must be 0..K-1, got classes {classes[:20]}.")
    per_exp = per_exp_classes(n_experiences, first_exp_classes, n_classes)
    if class_order is not None and sorted(class_order) != classes:
        raise ValueError(
            f"class_order must be a permutation of 0..{n_classes - 1}, "
            f"got {class_order}."
        )
    train = _make_taskaware_tensor_classification_dataset(x_train, y_train)
    test = _make_taskaware_tensor_classification_dataset(x_test, y_test)
    with torch.random.fork_rng(devices=[]):
        return nc_benchmark(
            train,
            test,
            n_experiences,
            task_labels=False,
            seed=seed,
            fixed_class_order=list(class_order) if class_order is not None else None,
            per_exp_classes=per_exp,
        )


def load_npz(path):
    """(x float32 N x C x H x W in [0, 1], y int64) from an .npz file with
    ``x`` uint8 (N x H x W or N x H x W x C) and ``y``; see
    :data:`NPZ_LAYOUT`."""
    path = Path(path).expanduser()
    if path.suffix != ".npz" or not path.is_file():
        raise FileNotFoundError(
            f"--benchmark npz needs --data-root FILE.npz; {path} is not an .npz "
            f"file. Expected: {NPZ_LAYOUT}."
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            x, y = f["x"], f["y"]
    except (KeyError, ValueError, OSError) as e:
        raise ValueError(f"{path}: cannot read x and y ({e}). Expected: {NPZ_LAYOUT}.")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"{path}: y must be N integer labels for N = {len(x)} images, got "
            f"dtype {y.dtype} and shape {y.shape}."
        )
    return to_tensor_images(x), torch.from_numpy(y.astype(np.int64))


def split_npz(protocol: str = "b0-5", *, seed: int = 0, data_root, test_size=0.3):
    """``--benchmark npz``: the arrays of the file ``data_root``
    (:func:`load_npz`), split once into train and test (stratified,
    ``test_size``, ``random_state=0``), then class-incremental under
    ``protocol`` with class order ``seed``."""
    from sklearn.model_selection import train_test_split

    if data_root is None:
        raise FileNotFoundError(
            f"--benchmark npz needs --data-root FILE.npz: {NPZ_LAYOUT}; e.g. "
            "the Fashion-MNIST subset ../shared/data/fashion-mnist-test-4443.npz."
        )
    x, y = load_npz(data_root)
    n_exp, first = parse_protocol(protocol, len(torch.unique(y)))
    idx_tr, idx_te = train_test_split(
        np.arange(len(y)), test_size=test_size, stratify=y.numpy(), random_state=0
    )
    idx_tr, idx_te = torch.from_numpy(idx_tr), torch.from_numpy(idx_te)
    return SplitArrays(
        x[idx_tr],
        y[idx_tr],
        x[idx_te],
        y[idx_te],
        n_experiences=n_exp,
        first_exp_classes=first,
        seed=seed,
    )


def split_mnist(protocol: str, *, seed: int, data_root):
    """``split-mnist`` from torchvision's raw MNIST files (no download)."""
    return split_torchvision("MNIST", protocol, seed=seed, data_root=data_root)


def split_fashion_mnist(protocol: str, *, seed: int, data_root):
    """``split-fashion-mnist`` from torchvision's raw files (no download)."""
    return split_torchvision("FashionMNIST", protocol, seed=seed, data_root=data_root)


def split_torchvision(name: str, protocol: str, *, seed: int, data_root):
    """``split-mnist`` (name "MNIST") or ``split-fashion-mnist``
    ("FashionMNIST") from torchvision's raw files under ``data_root``, read
    with ``download=False`` after checking that every file is there."""
    import torchvision.datasets as tvd

    n_exp, first = parse_protocol(protocol, 10)
    layout = TORCHVISION_LAYOUT.format(name=name)
    if data_root is None:
        raise FileNotFoundError(
            f"This benchmark needs --data-root: nothing is downloaded. Expected "
            f"layout: {layout}"
        )
    raw = Path(data_root).expanduser() / name / "raw"
    files = [
        f"{s}-{k}-ubyte"
        for s in ("train", "t10k")
        for k in ("images-idx3", "labels-idx1")
    ]
    missing = [f for f in files if not (raw / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{raw}: {missing} not found (nothing is downloaded). Expected layout: "
            f"{layout}"
        )
    try:
        sets = [
            getattr(tvd, name)(
                str(Path(data_root).expanduser()), train=t, download=False
            )
            for t in (True, False)
        ]
    except Exception as e:  # a damaged file: torchvision's parser fails
        raise ValueError(
            f"{raw}: the files are damaged ({type(e).__name__}: {e}); nothing is "
            f"downloaded. Replace them with the original ones. Layout: {layout}"
        ) from e
    (x_tr, y_tr), (x_te, y_te) = [
        (to_tensor_images(s.data.numpy()), s.targets) for s in sets
    ]
    return SplitArrays(
        x_tr, y_tr, x_te, y_te, n_experiences=n_exp, first_exp_classes=first, seed=seed
    )
