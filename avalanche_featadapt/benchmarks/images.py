"""Benchmarks from decoded uint8 images: any class-per-folder image tree
(``--benchmark imagefolder``) and CIFAR-100's python pickles
(``--benchmark split-cifar100``), through one pipeline, so that the same
data in both layouts gives the same benchmark, bit for bit.

- Images are decoded once (PNG, JPEG, anything PIL reads) and cached on disk
  as uint8 arrays (:func:`cache_dir`), keyed by the tree's file names, sizes
  and modification times; later runs and worker processes read the cache.
- They stay uint8 in memory, at their own size; a transform turns each
  mini-batch image into float32 when it is drawn. Memory budgets count an
  image at its 8-bit size, H x W x C bytes (a 32x32 RGB image is 3,072 B).
- Within each class, images are ordered by the SHA-1 of their pixels, not by
  file name or pickle position: the order, and so every shuffle drawn from a
  seed, depends on the data alone. ``train_per_class=N`` keeps the first N
  of each class in that order: a fixed subset, the same for every seed and
  strategy.
- Colour images are trained with a random crop (padding of 1/8 of the side)
  and a horizontal flip, the usual CIFAR augmentation (iCaRL, PyCIL,
  FACIL); grey images are not augmented. Pixels are normalised by the
  training images' channel means and standard deviations.

Nothing is downloaded; a bad tree gets an error that names the file.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch

from .layouts import CIFAR100_LAYOUT, IMAGE_TREE_LAYOUT
from .protocol import check_protocol_form, parse_protocol

__all__ = [
    "CIFAR100_LAYOUT",
    "IMAGE_TREE_LAYOUT",
    "cache_dir",
    "read_cifar100",
    "read_image_tree",
    "split_cifar100",
    "split_image_arrays",
    "split_image_tree",
]

_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}

Arrays = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, List[str]]


def cache_dir() -> Path:
    """Where decoded trees are cached: ``$FEATADAPT_CACHE``, else
    ``$XDG_CACHE_HOME/avalanche-featadapt`` (``~/.cache/...``)."""
    if os.environ.get("FEATADAPT_CACHE"):
        return Path(os.environ["FEATADAPT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "avalanche-featadapt"


def _listing(root: Path, name: str):
    """(train dir, test dir, classes, {split: [(class index, path)]})."""
    if root is None:
        raise FileNotFoundError(
            f"--benchmark {name} needs --data-root: nothing is downloaded. "
            f"Expected layout: {IMAGE_TREE_LAYOUT}"
        )
    test = root / "test" if (root / "test").is_dir() else root / "val"
    if not (root / "train").is_dir() or not test.is_dir():
        raise FileNotFoundError(
            f"{name}: {root} has no train/ and test/ (or val/) folders. Expected "
            f"layout: {IMAGE_TREE_LAYOUT}"
        )
    splits = {"train": root / "train", test.name: test}
    found = {
        s: sorted(p.name for p in d.iterdir() if p.is_dir()) for s, d in splits.items()
    }
    classes = found["train"]
    for s, names in found.items():
        other = [c for c in (set(classes) | set(names)) if c not in names]
        if other:
            raise ValueError(
                f"{name}: class folders {sorted(other)[:5]} are missing from "
                f"{splits[s]}; both splits need the same classes. Expected layout: "
                f"{IMAGE_TREE_LAYOUT}"
            )
    if not classes:
        raise ValueError(f"{name}: {root / 'train'} has no class folders.")
    files = {}
    for s, d in splits.items():
        files[s] = []
        for k, c in enumerate(classes):
            imgs = sorted(p for p in (d / c).iterdir() if p.suffix.lower() in _SUFFIXES)
            if not imgs:
                raise ValueError(
                    f"{name}: class folder {d / c} holds no image "
                    f"({', '.join(sorted(_SUFFIXES))}); remove it or add images."
                )
            files[s] += [(k, p) for p in imgs]
    return splits, classes, files


def _decode(path: Path, name: str, first: Optional[Tuple]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode not in ("L", "RGB"):
                im = im.convert("RGB" if mode in ("RGBA", "P", "CMYK") else "L")
            a = np.asarray(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise ValueError(
            f"{name}: cannot read image {path} ({type(e).__name__}: {e}); replace "
            "or remove it."
        ) from e
    a = a[..., None] if a.ndim == 2 else a
    if first is not None and a.shape != first[1]:
        raise ValueError(
            f"{name}: image {path} is {_shape(a.shape)}, but {first[0]} is "
            f"{_shape(first[1])}; all images must have one size and channel "
            "count (resize them first)."
        )
    return a


def _shape(s) -> str:
    return f"{s[1]}x{s[0]} with {s[2]} channel{'s' if s[2] > 1 else ''}"


def read_image_tree(data_root, name: str = "imagefolder") -> Arrays:
    """(x_train, y_train, x_test, y_test, classes) of a class-per-folder tree
    (:data:`IMAGE_TREE_LAYOUT`): uint8 N x H x W x C arrays in
    :func:`canonical_order`, labels by sorted class folder name. Decoded
    once, then read from :func:`cache_dir`."""
    root = Path(data_root).expanduser() if data_root is not None else None
    splits, classes, files = _listing(root, name)
    key = hashlib.sha1(str(root.resolve()).encode())
    for s in splits:
        for k, p in files[s]:
            st = p.stat()
            key.update(f"{s}/{k}/{p.name}/{st.st_size}/{st.st_mtime_ns}\n".encode())
    cached = cache_dir() / f"imagefolder-{key.hexdigest()[:20]}.npz"
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as f:
            return f["x_tr"], f["y_tr"], f["x_te"], f["y_te"], list(f["classes"])
    first, out = None, []
    for s in splits:
        xs = []
        for k, p in files[s]:
            xs.append(_decode(p, name, first))
            first = first or (p, xs[-1].shape)
        y = np.array([k for k, _ in files[s]], dtype=np.int64)
        out += list(canonical_order(np.stack(xs), y))
    arrays = (*out, classes)
    _save(cached, arrays)
    return arrays


def _save(path: Path, arrays: Arrays) -> None:
    from ..checkpoint.atomic import write_atomically

    x_tr, y_tr, x_te, y_te, classes = arrays
    try:
        write_atomically(
            path,
            lambda f: np.savez(
                f, x_tr=x_tr, y_tr=y_tr, x_te=x_te, y_te=y_te, classes=classes
            ),
        )
        Path(str(path) + ".prev").unlink(missing_ok=True)
    except OSError:  # a read-only cache folder: decode again next time
        pass


def canonical_order(x: np.ndarray, y: np.ndarray):
    """(x, y) sorted by label, then by the SHA-1 of each image's pixels: an
    order that depends on the data alone, not on file names or positions."""
    digests = [hashlib.sha1(img.tobytes()).hexdigest() for img in x]
    order = sorted(range(len(y)), key=lambda i: (int(y[i]), digests[i]))
    return x[order], y[order]


def read_cifar100(data_root) -> Arrays:
    """CIFAR-100's python pickles (:data:`CIFAR100_LAYOUT`) as
    (x_train, y_train, x_test, y_test, classes), in the same form and order
    as :func:`read_image_tree` gives for the same images as PNG files under
    their fine class names."""
    if data_root is None:
        raise FileNotFoundError(
            "--benchmark split-cifar100 needs --data-root: nothing is downloaded. "
            f"Expected layout: {CIFAR100_LAYOUT}"
        )
    base = Path(data_root).expanduser() / "cifar-100-python"
    for f in ("train", "test", "meta"):
        if not (base / f).is_file():
            raise FileNotFoundError(
                f"split-cifar100: {base / f} not found (nothing is downloaded). "
                f"Expected layout: {CIFAR100_LAYOUT}"
            )
    try:
        meta, *parts = (_unpickle(base / f) for f in ("meta", "train", "test"))
        names = [str(n) for n in meta["fine_label_names"]]
        rank = {n: i for i, n in enumerate(sorted(names))}  # the folder order
        out = []
        for d in parts:
            x = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            y = np.array([rank[names[t]] for t in d["fine_labels"]], dtype=np.int64)
            out += list(canonical_order(x.transpose(0, 2, 3, 1).copy(), y))
    except (KeyError, ValueError, pickle.UnpicklingError, EOFError) as e:
        raise ValueError(
            f"split-cifar100: {base} is damaged ({type(e).__name__}: {e}); nothing "
            f"is downloaded. Layout: {CIFAR100_LAYOUT}"
        ) from e
    return (*out, sorted(names))


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="latin1")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}


class _Normalize(torch.nn.Module):
    """uint8 C x H x W -> float32, minus the channel mean, over the std (the
    recorded figures' computation; torchvision's differs by up to 5e-7)."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def forward(self, x):
        return (x.float().div(255.0) - self.mean) / self.std


def split_image_arrays(
    arrays: Arrays, protocol: str, *, seed: int, train_per_class=None
):
    """A class-incremental benchmark (``nc_benchmark``, no task labels) from
    :func:`read_image_tree`'s or :func:`read_cifar100`'s arrays; see the
    module's docstring for the order, the subset and the transforms."""
    from avalanche.benchmarks import nc_benchmark
    from avalanche.benchmarks.utils.classification_dataset import (
        _make_taskaware_tensor_classification_dataset as tensor_dataset,
    )
    from torchvision.transforms import v2 as T

    x_tr, y_tr, x_te, y_te, classes = arrays
    n_exp, first = parse_protocol(protocol, len(classes))
    if train_per_class is not None:
        keep = _first_per_class(y_tr, train_per_class)
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    pixels = x_tr.reshape(-1, x_tr.shape[-1]).astype(np.float64) / 255.0
    norm = _Normalize(pixels.mean(0).tolist(), pixels.std(0).tolist())
    _, h, w, c = x_tr.shape
    aug = [T.RandomCrop((h, w), padding=max(1, h // 8)), T.RandomHorizontalFlip()]
    train_tf = T.Compose((aug if c == 3 else []) + [norm])

    def data(x, y):
        x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        return tensor_dataset(x, torch.from_numpy(y))

    with torch.random.fork_rng(devices=[]):  # nc_benchmark reseeds torch
        return nc_benchmark(
            data(x_tr, y_tr),
            data(x_te, y_te),
            n_exp,
            task_labels=False,
            seed=seed,
            per_exp_classes={0: first} if first else None,
            train_transform=train_tf,
            eval_transform=norm,
        )


def _first_per_class(y: np.ndarray, n) -> np.ndarray:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(
            f"--train-per-class must be a positive integer, got {n!r}; leave it "
            "out to train on every image."
        )
    counts = np.bincount(y)
    if n > counts.min():
        raise ValueError(
            f"--train-per-class {n}: a class has only {counts.min()} training "
            f"images; pass at most {counts.min()}, or leave it out."
        )
    return np.concatenate([np.flatnonzero(y == k)[:n] for k in range(len(counts))])


def split_image_tree(protocol: str, *, seed: int, data_root, train_per_class=None):
    """``--benchmark imagefolder``: any class-per-folder tree
    (:data:`IMAGE_TREE_LAYOUT`), e.g. CIFAR-100 exported as PNG files."""
    check_protocol_form(protocol)  # before any I/O
    arrays = read_image_tree(data_root)
    return split_image_arrays(
        arrays, protocol, seed=seed, train_per_class=train_per_class
    )


def split_cifar100(protocol: str, *, seed: int, data_root, train_per_class=None):
    """``--benchmark split-cifar100``: CIFAR-100 from torchvision's pickle
    layout (:data:`CIFAR100_LAYOUT`); the same benchmark as
    :func:`split_image_tree` on the same images exported as PNG files."""
    parse_protocol(protocol, 100)  # before any I/O
    return split_image_arrays(
        read_cifar100(data_root), protocol, seed=seed, train_per_class=train_per_class
    )
