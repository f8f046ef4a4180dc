"""Budgets that hold the same memory: a strategy whose budget already holds
every training sample of every class runs the same at any larger budget
(its record's :attr:`~avalanche_featadapt.compare.builders.Builder.
holds_all`), so the comparison runs it once and lets that run stand for each
of those budgets, as one run of a strategy without a budget stands for all
of them (e.g. FA on CIFAR-100 at 100 images per class: its 4-bit features
of every training image fit in 614,400 B, so its run at 6,144,000 B would
be the same)."""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from .registry import STRATEGIES

__all__ = ["budget_groups", "memory_facts"]


def memory_facts(benchmark_name: str, benchmark, device="cpu") -> Tuple[int, int, int]:
    """(feature_dim, most_per_class, n_classes) of ``benchmark``: the
    width of the features of the model it trains on ``device`` (built on
    the CPU), the most training images of one class, and the number of
    classes."""
    import numpy as np
    import torch

    from .workers import model_factory_of

    counts: Dict[int, int] = {}
    for exp in benchmark.train_stream:
        for c, n in zip(*np.unique(list(exp.dataset.targets), return_counts=True)):
            counts[int(c)] = counts.get(int(c), 0) + int(n)
    x = benchmark.train_stream[0].dataset.eval()[0][0]
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        model = model_factory_of(benchmark_name, benchmark, device)().eval()
        dim = model.feature_extractor(x[None]).flatten(1).shape[1]
    return int(dim), max(counts.values()), len(counts)


def budget_groups(
    name: str, budgets: Sequence[int], hyperparameters: dict, facts
) -> List[List[int]]:
    """``budgets`` (ascending) in groups, each served by one run at its
    first budget: one group for a strategy without a budget, one per budget
    for a strategy whose record cannot say that a budget holds everything.

    :param facts: ``() -> memory_facts(...)``, called only if needed.
    """
    spec = STRATEGIES[name]
    if not spec.uses_budget:
        return [list(budgets)]
    holds_all = spec.builder.holds_all
    groups: List[List[int]] = []
    for b in budgets:
        if groups and holds_all and holds_all(hyperparameters, groups[-1][0], *facts()):
            groups[-1].append(b)
        else:
            groups.append([b])
    return groups
