"""SplitDigits: the embedded benchmark (scikit-learn ships the data)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

from .arrays import SplitArrays
from .protocol import parse_protocol

__all__ = ["SplitDigits", "digits_tensors", "split_digits"]


def digits_tensors(test_size: float = 0.2, split_seed: int = 0):
    """scikit-learn's 1,797 8x8 digits as float tensors in [0, 1], shape
    (N, 1, 8, 8), with a fixed stratified train/test split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=split_seed
    )
    return (
        torch.from_numpy(x_tr),
        torch.from_numpy(y_tr).long(),
        torch.from_numpy(x_te),
        torch.from_numpy(y_te).long(),
    )


def SplitDigits(
    n_experiences: int = 5,
    *,
    first_exp_classes: Optional[int] = None,
    seed: int = 0,
    class_order: Optional[Sequence[int]] = None,
    test_size: float = 0.2,
):
    """Class-incremental SplitDigits, built with Avalanche's ``nc_benchmark``
    (so Avalanche's own ``ICaRL`` runs on it).

    The data is scikit-learn's digits (real 8x8 images, 10 classes), split
    once into train and test with a fixed stratified split (``random_state=0``,
    1,437 train and 360 test images by default). There are no task labels.

    :param n_experiences: number of experiences. The classes are divided
        evenly, or ``first_exp_classes`` go to the first experience and the
        rest evenly over the others (the "B50"-style protocol).
    :param first_exp_classes: classes in the first experience, or None.
    :param seed: the class order's seed (ignored when ``class_order`` is
        given). Building the benchmark leaves torch's global RNG untouched,
        although ``nc_benchmark(seed=...)`` reseeds it.
    :param class_order: an explicit order of the 10 classes.
    :param test_size: the test fraction of the fixed split.
    """
    return SplitArrays(
        *digits_tensors(test_size),
        n_experiences=n_experiences,
        first_exp_classes=first_exp_classes,
        seed=seed,
        class_order=class_order,
    )


def split_digits(protocol: str = "b0-5", *, seed: int = 0, data_root=None):
    """``split-digits`` under ``protocol`` (``data_root`` is not used: the
    data ships with scikit-learn)."""
    n_exp, first = parse_protocol(protocol, 10)
    return SplitDigits(n_exp, first_exp_classes=first, seed=seed)
