"""Benchmarks. :func:`SplitDigits` is embedded (scikit-learn ships the data),
the others load only from a local folder that the user gives."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from avalanche.benchmarks import nc_benchmark
from avalanche.benchmarks.utils.classification_dataset import (
    _make_taskaware_tensor_classification_dataset,
)

__all__ = ["SplitDigits", "digits_tensors"]


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
    n_classes = 10
    if first_exp_classes is None:
        if n_experiences < 1 or n_classes % n_experiences:
            raise ValueError(
                f"SplitDigits has 10 classes: n_experiences must divide 10 "
                f"(1, 2, 5 or 10), got {n_experiences}; or pass first_exp_classes."
            )
        per_exp = None
    else:
        rest = n_classes - first_exp_classes
        if not 0 < first_exp_classes < n_classes or n_experiences < 2:
            raise ValueError(
                "first_exp_classes must be between 1 and 9 and n_experiences >= 2,"
                f" got first_exp_classes={first_exp_classes}, "
                f"n_experiences={n_experiences}."
            )
        if rest % (n_experiences - 1):
            raise ValueError(
                f"{rest} classes after the first experience do not divide into "
                f"{n_experiences - 1} equal experiences; change n_experiences."
            )
        per_exp = {0: first_exp_classes}
    if class_order is not None and sorted(class_order) != list(range(n_classes)):
        raise ValueError(
            f"class_order must be a permutation of 0..9, got {class_order}"
        )
    x_tr, y_tr, x_te, y_te = digits_tensors(test_size)
    train = _make_taskaware_tensor_classification_dataset(x_tr, y_tr)
    test = _make_taskaware_tensor_classification_dataset(x_te, y_te)
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
