"""The validation split of a benchmark: :func:`held_out` holds part of each
class's training images out as the validation stream, on which ``featadapt
select`` (:mod:`~avalanche_featadapt.compare.select`) chooses the training
budgets and the comparison's workers train and evaluate."""

from __future__ import annotations

from typing import List

import numpy as np

__all__ = ["SPLIT_SEED", "VALIDATION_FRACTION", "held_out"]

#: the validation share of each class's training images
VALIDATION_FRACTION = 0.2
#: the seed of the validation split, the same for every benchmark seed
SPLIT_SEED = 0


def held_out(benchmark, fraction: float = VALIDATION_FRACTION, *, seed=SPLIT_SEED):
    """A benchmark of the same experiences and classes whose training
    experiences lack ``fraction`` of each class's images (stratified, drawn
    with ``seed``), and whose ``test_stream`` is those held-out images: the
    validation stream, under the name the comparison evaluates. Nothing of
    ``benchmark``'s test stream is used; torch's global RNG is untouched.

    :raises ValueError: if ``fraction`` is not in (0, 1) or a class has
        fewer than 2 training images.
    """
    import torch  # here, as Avalanche: `featadapt --help` needs neither
    from avalanche.benchmarks import nc_benchmark
    from avalanche.benchmarks.utils import concat_datasets

    if not 0 < fraction < 1:
        raise ValueError(f"The validation fraction must be in (0, 1), got {fraction}.")
    rng = np.random.default_rng(seed)
    trains, vals, order = [], [], []
    for exp in benchmark.train_stream:
        data = exp.dataset
        y = np.asarray(list(data.targets))
        val: List[int] = []
        for c in sorted(set(y.tolist())):
            idx = np.flatnonzero(y == c)
            if len(idx) < 2:
                raise ValueError(
                    f"Class {c} has {len(idx)} training image(s): too few to hold "
                    "one out for validation."
                )
            k = min(len(idx) - 1, max(1, round(fraction * len(idx))))
            val += rng.choice(idx, k, replace=False).tolist()
        keep = np.setdiff1d(np.arange(len(y)), val)
        trains.append(data.subset(keep.tolist()))
        vals.append(data.subset(sorted(val)))
        order += sorted(exp.classes_in_this_experience)
    per_exp = dict(enumerate(benchmark.n_classes_per_exp))
    with torch.random.fork_rng(devices=[]):  # nc_benchmark may reseed torch
        return nc_benchmark(
            concat_datasets(trains),
            concat_datasets(vals),
            len(benchmark.train_stream),
            task_labels=False,
            fixed_class_order=order,
            per_exp_classes=per_exp,
        )
