"""Freeze BatchNorm statistics after the first experience."""

from __future__ import annotations

import warnings

import torch
from avalanche.training.plugins import SupervisedPlugin
from torch import nn
from torch.optim.swa_utils import update_bn
from torch.utils.data import DataLoader

from ..validation.arguments import check_count
from ..validation.inputs import experience_classes
from .one_class import refuse_renamed

__all__ = ["BatchNormFreezer"]

ONE_CLASS_WARNING = (
    "The backbone is training on a single class with BatchNorm statistics frozen "
    "(freeze_bn=True, freeze_one_class=False). Trained one class at a time with "
    "frozen statistics, the features grew without bound and collapsed onto one "
    "direction (the package model on SplitDigits b50, seeds 0-2: final accuracy "
    "10.2 % with freeze_bn=True, 68.2 % with freeze_bn=False). Keep "
    "freeze_one_class=True (the default), or pass freeze_bn=False; docs/method.md, "
    "'Experiences of one class', has the figures."
)


class BatchNormFreezer(SupervisedPlugin, supports_distributed=True):
    """From the second experience on, keep every BatchNorm layer of the model
    in eval mode while training: the running statistics stay those of the
    first experience (the affine weights still learn).

    Why feature adaptation needs it: in train mode BatchNorm normalises with
    the statistics of the current classes only, and its running statistics
    drift toward them. The distillation then constrains train-mode features
    while the buffer stores eval-mode ones, and the old classes' eval-mode
    features move far. On SplitDigits 5x2 (seeds 0-2, 20 epochs) FA
    reaches 91.8 % final accuracy with frozen statistics and 85.8 % without
    when it stores float32 features with ``lambda_fd=1`` and the paper's
    training head; with the strategy's defaults (``perf/splitdigits_fa.py``
    prints both), 92.4 against 92.1 %, and the adapted old features'
    relative L2 error after five experiences is 0.22 against 0.38
    (docs/ablations.md, "Frozen BatchNorm statistics").

    When the running statistics it would freeze still carry more than 1 %
    of their initial values (fewer than 44 updates at BatchNorm's default
    momentum of 0.1), they are recomputed over that experience's training
    data as it ends, in batches of ``train_mb_size`` (torch's
    ``update_bn``: the mean of the batches' statistics under the final
    weights). That happens when the experience was short, as when
    ``EarlyStoppingPlugin`` stops it: on validation accuracy with
    ``patience=1``, the package model's first SplitDigits experience kept
    one epoch (8 iterations), its statistics were frozen still 43 % at
    their start, and FA ended at 24.8 % against 78.0 % without the plugin
    (seed 0, Adam 1e-3, 4 epochs, an ad-hoc run); now 90.6 against 84.2 %, the run
    without the plugin gaining too, its 32 updates being under 44
    (``tests/validation/test_early_stopping.py``). Longer experiences keep
    their running statistics, as before (recomputing them there too gave 90.6
    against 91.8 % with the package model and 82.8 against 81.6 % with the
    BatchNorm CNN of ``perf/robustness.py``, SplitDigits, seeds 0-2, ad-hoc
    runs on that script's run path).

    It warns, once, when it trains an experience of a single class: there,
    frozen statistics let feature adaptation's features grow without bound
    and collapse onto one direction (docs/method.md, "Experiences of one
    class"). Feature adaptation does not train such experiences by default
    (:class:`OneClassFreezer`).

    :param warmup_experiences: how many experiences train BatchNorm normally
        before its statistics are frozen (formerly ``after_experiences``, a
        name that Avalanche took for a callback).
    """

    def __init__(self, *, warmup_experiences: int = 1, **renamed):
        super().__init__()
        refuse_renamed("BatchNormFreezer", renamed)
        check_count("warmup_experiences", warmup_experiences)
        self.warmup_experiences = warmup_experiences
        self._bn = []
        self._warned = False
        self._warn_now = False

    def before_training_exp(self, strategy, **kwargs):
        frozen = strategy.clock.train_exp_counter >= self.warmup_experiences
        self._bn = (
            [
                m
                for m in strategy.model.modules()
                if isinstance(m, nn.modules.batchnorm._BatchNorm)
            ]
            if frozen
            else []
        )
        self._warn_now = (
            bool(self._bn)
            and not self._warned
            and len(experience_classes(strategy.experience)) == 1
        )

    def before_training_iteration(self, strategy, **kwargs):
        for m in self._bn:  # the template may have put the model back in train mode
            m.eval()
        if self._warn_now:  # only once a one-class experience really trains
            self._warn_now, self._warned = False, True
            warnings.warn(ONE_CLASS_WARNING, UserWarning, stacklevel=2)

    def after_training_exp(self, strategy, **kwargs):
        self._bn = []
        last = strategy.clock.train_exp_counter == self.warmup_experiences - 1
        if last and any(_unconverged(m) for m in strategy.model.modules()):
            data = DataLoader(  # own generator: the run's shuffling is kept
                strategy.adapted_dataset,
                strategy.train_mb_size,
                generator=torch.Generator(),
            )
            with torch.no_grad():  # the mean of the batches' statistics
                update_bn(data, strategy.model, device=strategy.device)


def _unconverged(m: nn.Module) -> bool:
    """A BatchNorm layer whose running average still holds more than 1 % of
    its initial values: (1 - momentum) ** updates > 0.01."""
    if not isinstance(m, nn.modules.batchnorm._BatchNorm) or m.momentum is None:
        return False
    if not m.track_running_stats:
        return False
    return (1 - m.momentum) ** int(m.num_batches_tracked) > 0.01
