"""Retrain the classifier on stored features, class-balanced, over all seen
classes (feature adaptation's step 5)."""

from __future__ import annotations

import copy
from typing import Optional

import torch
import torch.nn.functional as F
from avalanche.training.plugins import SupervisedPlugin
from torch import nn

from ..validation.arguments import check_non_negative, check_positive
from ..validation.early_stopping import (
    check_early_stopping_metric,
    check_early_stopping_setup,
)
from ..validation.inputs import check_buffer_order, check_float32
from .feature_buffer import FeatureBuffer

__all__ = ["ClassifierRetrainer"]


class ClassifierRetrainer(SupervisedPlugin, supports_distributed=True):
    """After each experience, train the classifier g_W on the features in
    ``buffer`` (adapted old classes plus the new ones), with class-balanced
    batches and cross-entropy over all classes seen so far (Iscen et al., ECCV
    2020, Sec. 3: "the classifier is optimized jointly over new and old
    classes without requiring old class images"; docs/method.md, step 5).

    Inference stays ``classifier(feature_extractor(x))``. It refuses a model
    that is not float32 (the buffer's features are), and an
    ``EarlyStoppingPlugin`` that the periodic evaluation would not feed
    between the epochs it counts (:mod:`avalanche_featadapt.validation.early_stopping`:
    it would restore the experience's initial weights).

    :param buffer: the :class:`FeatureBuffer` to train on.
    :param classifier: the head; default ``strategy.model.classifier``.
    :param epochs: passes over the buffer.
    :param lr: Adam learning rate.
    :param batch_size: features per step.
    :param weight_decay: Adam weight decay.
    :param seed: seed of the batch order.
    """

    def __init__(
        self,
        *,
        buffer: FeatureBuffer,
        classifier: Optional[nn.Module] = None,
        epochs: int = 30,
        lr: float = 1e-2,
        batch_size: int = 64,
        weight_decay: float = 0.0,
        seed: int = 0,
    ):
        super().__init__()
        if not isinstance(buffer, FeatureBuffer):
            raise ValueError("buffer must be a FeatureBuffer.")
        check_positive("epochs", epochs, integer=True)
        check_positive("lr", lr)
        check_positive("batch_size", batch_size, integer=True)
        check_non_negative("weight_decay", weight_decay)
        self.buffer = buffer
        self.classifier = classifier
        self.epochs = int(epochs)
        self.lr = lr
        self.batch_size = int(batch_size)
        self.weight_decay = weight_decay
        self.seed = seed

    def before_training(self, strategy, **kwargs):
        check_early_stopping_setup(strategy)

    def before_training_exp(self, strategy, **kwargs):
        check_buffer_order(strategy, self, self.buffer, buffer_after=False)
        check_float32(type(self).__name__, strategy.model, self.classifier)

    def before_training_epoch(self, strategy, **kwargs):
        if strategy.clock.train_exp_epochs > 0:  # after a periodic evaluation
            check_early_stopping_metric(strategy)

    def after_training(self, strategy, **kwargs):
        check_early_stopping_metric(strategy)

    def after_training_exp(self, strategy, **kwargs):
        head = self.classifier or getattr(strategy.model, "classifier", None)
        if head is None:
            raise ValueError(
                "ClassifierRetrainer needs classifier= or a model with a "
                "'classifier' attribute."
            )
        self.retrain(head, device=strategy.device)

    def retrain(self, head: nn.Module, *, device="cpu") -> None:
        """Train ``head`` on the buffer. A copy is trained and its weights
        are copied into ``head`` only if they are all finite: a failure
        leaves the head as it was."""
        feats, labels = self.buffer.features()
        if len(labels) == 0:
            return
        feats, labels = feats.to(device), labels.to(device)
        # class-balanced sampling: each class is drawn equally often
        counts = torch.bincount(labels)
        weights = (1.0 / counts.float())[labels]
        g = torch.Generator().manual_seed(self.seed)
        work = copy.deepcopy(head)
        opt = torch.optim.Adam(
            [p for p in work.parameters() if p.requires_grad],
            lr=self.lr,
            weight_decay=self.weight_decay,
        )
        work.train()
        n = len(labels)
        for _ in range(self.epochs):
            idx = torch.multinomial(weights.cpu(), n, replacement=True, generator=g)
            for start in range(0, n, self.batch_size):
                b = idx[start : start + self.batch_size].to(device)
                loss = F.cross_entropy(work(feats[b]), labels[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
        state = work.state_dict()
        if not all(
            torch.isfinite(t).all() for t in state.values() if t.is_floating_point()
        ):
            raise ValueError(
                "Retraining the classifier on the stored features gave NaN or inf "
                "weights; the classifier was left unchanged. Lower lr= of "
                "ClassifierRetrainer (head_lr= of the strategy)."
            )
        with torch.no_grad():
            for name, t in head.state_dict().items():
                t.copy_(state[name])
