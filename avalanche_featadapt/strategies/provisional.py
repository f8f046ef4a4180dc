"""Evaluate, during an experience, the model that the experience will end with.

Feature adaptation gives the user's classifier its weights only after the
experience: the adapter moves the stored features, the buffer adds the new
ones and the classifier is retrained on them (docs/method.md, steps 2-5).
Avalanche's periodic evaluation (``eval_every``) runs between epochs, before
that, so whatever it evaluates is not the model that will be used: the
classifier as the previous experience left it, or the auxiliary head that
trains the backbone, which knows only the current classes. Validation curves
then mislead, and ``EarlyStoppingPlugin`` keeps an early backbone (docs/usage.md,
"Periodic evaluation and early stopping").

:func:`provisional_update` runs the post-experience update on the weights of
the moment, lets the evaluation run, and then puts everything back. Avalanche
has no hook for this, hence this module.
"""

from __future__ import annotations

import copy
import operator
from contextlib import contextmanager

from avalanche.training.templates.base_sgd import PeriodicEval

from ..features import release_caches
from ..models import AuxiliaryHeadModel

__all__ = [
    "provisional_update",
    "evaluate_before_first_epoch",
    "check_early_stopping",
]


@contextmanager
def provisional_update(strategy):
    """Within the block, ``strategy.model`` is the model the experience would
    end with if training stopped now: old features adapted by a phi fitted on
    the current weights, new features added, the user's classifier retrained
    on the buffer, and the auxiliary head off. On exit the buffer, the
    classifier, the adapter's state and the auxiliary flag are restored, so
    training goes on exactly as without the evaluation.

    The update is deterministic (seeded adapter and retraining), so the
    evaluation after the last epoch sees the model the experience ends with.
    The features it extracted are dropped on exit: a plugin may still change
    the weights without an iteration (``EarlyStoppingPlugin`` restores an
    earlier epoch's), and the cache is keyed on the iteration count.
    """
    buffer, adapter, retrainer = strategy.buffer, strategy.adapter, strategy.retrainer
    model = strategy.model
    head = model.classifier
    saved = {
        "buffer": buffer.snapshot(),
        "head": copy.deepcopy(head.state_dict()),
        "aux": getattr(model, "use_aux", None),
    }
    if adapter is not None:
        saved["adapter"] = adapter.snapshot()
    try:
        if isinstance(model, AuxiliaryHeadModel):
            model.use_aux = False
        for plugin in (adapter, buffer, retrainer):
            if plugin is not None:
                plugin.after_training_exp(strategy)
        yield
    finally:
        release_caches(strategy, "features")
        buffer.restore(saved["buffer"])
        head.load_state_dict(saved["head"])
        if adapter is not None:
            adapter.restore(saved["adapter"])
        if saved["aux"] is not None:
            model.use_aux = saved["aux"]


def evaluate_before_first_epoch(strategy):
    """Run the periodic evaluations once more before an experience's first
    epoch, provisionally (the strategy's ``eval`` is provisional within an
    experience).

    Avalanche's initial evaluation scores the previous model, whose head
    does not know this experience's classes. Stopping before the first epoch
    would give something else: that backbone with the update of steps 2-5.
    ``EarlyStoppingPlugin`` takes the last value before the first epoch as
    its reference, and a restore to it; this makes the reference what the
    restore would give. Measured (package model, SplitDigits with a
    validation stream, seed 0, 4 epochs): the initial evaluation said 0.483
    where the restored model scored 0.287.
    """
    for p in strategy.plugins:
        if isinstance(p, PeriodicEval) and p.eval_every > 0:
            p._peval(strategy)


def check_early_stopping(plugins, evaluator) -> None:
    """Refuse an ``EarlyStoppingPlugin`` among ``plugins`` that watches
    :data:`~avalanche_featadapt.metrics.BACKBONE_LOSS` but would never stop:
    with ``mode="max"``, or with no
    :class:`~avalanche_featadapt.metrics.BackboneLoss` in ``evaluator``.

    The plugin on validation accuracy (its default) needs no check: with
    today's defaults it ends within the spread of the run without it
    (docs/usage.md, "Periodic evaluation and early stopping", has the
    figures). Its cost of 23 points on SplitDigits came from an
    early-stopped first experience, which left ``BatchNormFreezer`` to
    freeze statistics of a few iterations, or the initial ones of a
    restored start; the freezer now recomputes such statistics.
    """
    from avalanche.training.plugins import EarlyStoppingPlugin

    from ..metrics.backbone_loss import BackboneLoss
    from ..validation.early_stopping import BACKBONE_LOSS

    for p in plugins or ():
        if not isinstance(p, EarlyStoppingPlugin) or p.metric_name != BACKBONE_LOSS:
            continue
        if p.operator is not operator.lt:
            raise ValueError(
                f"EarlyStoppingPlugin watches {BACKBONE_LOSS!r}, a loss: pass "
                "mode='min'."
            )
        metrics = getattr(evaluator, "metrics", ())
        if not any(isinstance(m, BackboneLoss) for m in metrics):
            raise ValueError(
                f"EarlyStoppingPlugin watches {BACKBONE_LOSS!r}, which the "
                "evaluator does not compute, so it would never stop: pass "
                "evaluator=EvaluationPlugin(..., avalanche_featadapt.BackboneLoss())."
            )
