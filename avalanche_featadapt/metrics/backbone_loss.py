"""BackboneLoss: a signal for ``EarlyStoppingPlugin`` that sees the backbone
learn (docs/usage.md, "Periodic evaluation and early stopping")."""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from avalanche.evaluation import PluginMetric
from avalanche.evaluation.metric_results import MetricValue
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader

from ..validation.early_stopping import (
    BACKBONE_LOSS,
    check_early_stopping_metric,
    check_early_stopping_setup,
)

__all__ = ["BACKBONE_LOSS", "BackboneLoss"]


class BackboneLoss(PluginMetric[float]):
    """Avalanche metric: at each periodic evaluation during training, the
    cross-entropy, on the evaluated stream's samples of the classes being
    learnt, of the head the backbone learns through. Emitted as
    ``BackboneLoss_Stream/eval_phase/<stream>_stream``; a ``strategy.eval``
    outside ``train`` emits nothing.

    Why: feature adaptation's validation accuracy is flat within an
    experience, because the classifier retrained after each epoch's
    provisional update separates the new classes before the backbone has
    learnt them, while the epochs build the features later classes need.
    ``EarlyStoppingPlugin`` on that accuracy stops the backbone early. This
    loss falls while the backbone learns the new classes and rises when it
    overfits them, so the plugin stops on what the epochs change::

        evaluator = EvaluationPlugin(accuracy_metrics(stream=True), BackboneLoss())
        stop = EarlyStoppingPlugin(patience=2, val_stream_name="valid_stream",
                                   metric_name=BACKBONE_LOSS, mode="min")

    The strategy needs ``eval_every=1``: without an evaluation between
    epochs the plugin would compare this metric's ``inf`` of the
    experience's start with itself and restore that start, so ``train()``
    refuses such a set-up (:mod:`avalanche_featadapt.validation.early_stopping`).

    The head is :class:`FeatureAdaptationStrategy`'s auxiliary head when the
    model has one (``train_head="auxiliary"``, the default); otherwise the
    model's own output (any other strategy; with ``train_head="model"``,
    inside FA's provisional evaluation, that is the retrained classifier).
    BatchNorm layers that train on batch statistics are evaluated with them
    too (their running statistics are put back): the value follows what the
    backbone learns, not the lag of BatchNorm's running averages, which in
    the first few epochs made the loss rise while the backbone learnt (the
    package model, Adam 1e-3, an ad-hoc run: 3.16, 3.36, 1.95, 0.51 after
    epochs 1-4).

    Before the experience's first iteration the value is ``inf``, and it is
    emitted for every periodic-evaluation stream as the experience starts:
    the head's units for the new classes are still at their random start,
    so the loss there says nothing of the backbone, and a plugin restoring
    that point would keep an experience that learnt nothing (a prototype
    without it restored the package model's random start in the first
    experience, SplitDigits seed 2, and lost 7 points). Without it, the
    plugin would also compare the first epoch with the previous
    experience's classes.
    """

    def __init__(self):
        super().__init__()
        self._classes: Optional[set] = None
        self._trained = False
        self._batch_stats: list = []  # BatchNorm layers training on batch statistics
        self._value = math.nan

    def reset(self) -> None:
        self._value = math.nan

    def result(self) -> float:
        return self._value

    def before_training(self, strategy):
        # refuse an EarlyStoppingPlugin that would restore the initial weights
        check_early_stopping_setup(strategy)

    def before_training_epoch(self, strategy):
        if strategy.clock.train_exp_epochs > 0:  # after a periodic evaluation
            check_early_stopping_metric(strategy)

    def before_training_exp(self, strategy):
        self._classes = {int(c) for c in strategy.experience.classes_in_this_experience}
        self._trained = False
        self._value = math.inf
        streams = [s[0].origin_stream.name for s in strategy._eval_streams if s]
        return [self._emit(strategy, name) for name in streams]

    def after_training_iteration(self, strategy):
        self._trained = True
        if strategy.clock.train_epoch_iterations == 0:  # modes hold for an epoch
            self._batch_stats = [
                name
                for name, m in strategy.model.named_modules()
                if isinstance(m, _BatchNorm) and m.training
            ]

    def after_training(self, strategy):
        self._classes = None
        check_early_stopping_metric(strategy)

    def after_eval(self, strategy):
        if self._classes is None:  # a user's own evaluation
            return None
        self._value = self._loss(strategy) if self._trained else math.inf
        return [self._emit(strategy, strategy.experience.origin_stream.name)]

    def _emit(self, strategy, stream: str) -> MetricValue:
        name = f"{BACKBONE_LOSS}/eval_phase/{stream}_stream"
        return MetricValue(self, name, self._value, strategy.clock.train_iterations)

    @torch.no_grad()
    def _loss(self, strategy) -> float:
        model = strategy.model
        aux = getattr(model, "aux_classifier", None)
        layers = dict(model.named_modules())
        bns = [layers[name] for name in self._batch_stats if name in layers]
        saved = [{k: v.clone() for k, v in m.state_dict().items()} for m in bns]
        for m in bns:  # as in training: batch statistics, running ones restored
            m.train()
        try:
            return self._mean_cross_entropy(strategy, model, aux)
        finally:
            for m, state in zip(bns, saved):
                m.eval()
                m.load_state_dict(state)

    def _mean_cross_entropy(self, strategy, model, aux) -> float:
        total, n = 0.0, 0
        for exp in strategy.current_eval_stream:
            data = exp.dataset.eval()
            keep = [i for i, y in enumerate(data.targets) if int(y) in self._classes]
            if not keep:
                continue
            # its own generator: iterating draws a seed, and the global one
            # would shift the training run's shuffling
            loader = DataLoader(
                data.subset(keep), batch_size=256, generator=torch.Generator()
            )
            for x, y, *_ in loader:
                x, y = x.to(strategy.device), y.to(strategy.device)
                out = aux(model.feature_extractor(x)) if aux is not None else model(x)
                total += float(F.cross_entropy(out, y, reduction="sum"))
                n += len(y)
        return total / n if n else math.nan

    def __str__(self):
        return "BackboneLoss"
