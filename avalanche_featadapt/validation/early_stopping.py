"""Checks of Avalanche's ``EarlyStoppingPlugin`` against the strategy's
periodic evaluation, at ``train()``.

The plugin compares, at each epoch's start, the last value of its metric
with the best one, and after ``patience`` epochs without progress restores
the best epoch's weights. It reads whatever value the evaluator last
logged, however old. So a value that no evaluation between epochs updates
(``eval_every=-1``, the default, or ``eval_every`` above ``patience``, or
patience counted in iterations while the strategy evaluates every epoch)
never improves: the plugin stops after ``patience`` epochs (or iterations)
and restores the weights the experience started with. With
:data:`~avalanche_featadapt.metrics.BACKBONE_LOSS`, whose value is ``inf``
as each experience starts, that happened in every experience, the backbone
frozen at its initial weights, and only Avalanche's "not computed yet"
warning said anything. Such a set-up is refused; a metric or a stream the
plugin would never find gets a warning.

:class:`~avalanche_featadapt.plugins.ClassifierRetrainer` (so every
feature adaptation strategy) and
:class:`~avalanche_featadapt.metrics.BackboneLoss` run these checks.
"""

from __future__ import annotations

import difflib
import warnings
import weakref

__all__ = ["BACKBONE_LOSS", "check_early_stopping_setup", "check_early_stopping_metric"]

BACKBONE_LOSS = "BackboneLoss_Stream"
"""The metric name to give ``EarlyStoppingPlugin`` (with ``mode="min"``):
that of :class:`~avalanche_featadapt.metrics.BackboneLoss`, public in
:mod:`avalanche_featadapt.metrics`; defined here, where the checks that
suggest it need it."""

# the warnings already given, per strategy (kept off the strategy: its
# checkpoint holds its own state only)
_WARNED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_RANK = {"iteration": 0, "epoch": 1, "experience": 2}


def _stops(strategy) -> list:
    from avalanche.training.plugins import EarlyStoppingPlugin

    return [p for p in strategy.plugins if isinstance(p, EarlyStoppingPlugin)]


def _warn_once(strategy, message: str) -> None:
    seen = _WARNED.setdefault(strategy, set())
    if message not in seen:
        seen.add(message)
        warnings.warn(message, stacklevel=3)


def check_early_stopping_setup(strategy) -> None:
    """Before training: refuse an ``EarlyStoppingPlugin`` that the periodic
    evaluation does not feed between the steps it counts, and warn about one
    whose ``val_stream_name`` is not among ``train()``'s ``eval_streams``."""
    from avalanche.training.templates.base_sgd import PeriodicEval

    peval = next((p for p in strategy.plugins if isinstance(p, PeriodicEval)), None)
    every = peval.eval_every if peval is not None else -1
    unit = peval.peval_mode if peval is not None else "epoch"
    for stop in _stops(strategy):
        what = f"EarlyStoppingPlugin(metric_name={stop.metric_name!r})"
        if _RANK[stop.peval_mode] < _RANK.get(unit, 1):
            same = "epoch" if unit == "experience" else unit
            raise ValueError(
                f"{what} has peval_mode={stop.peval_mode!r}: it counts patience "
                f"in {stop.peval_mode}s, but the strategy evaluates once per "
                f"{unit}, so it would stop after {stop.patience} "
                f"{stop.peval_mode}(s) and restore the weights the experience "
                f"started with. Give both peval_mode={same!r} (feature adaptation "
                "evaluates every epoch: EarlyStoppingPlugin(..., peval_mode="
                "'epoch')) and pass eval_every=1 to the strategy."
            )
        if every < 1 or stop.peval_mode == unit and every > max(stop.patience, 1):
            when = (
                "evaluates only after each experience"
                if every == 0
                else (
                    "never evaluates during training"
                    if every < 0
                    else f"evaluates every {every} {unit}s"
                )
            )
            raise ValueError(
                f"{what} compares its metric at every {stop.peval_mode}, but the "
                f"strategy's eval_every={every} {when}: the plugin would compare "
                f"a value that does not move, stop after patience="
                f"{stop.patience} {stop.peval_mode}(s) and restore the weights "
                "the experience started with. Pass eval_every=1 to the strategy."
            )
        streams = [f"{s[0].origin_stream.name}_stream" for s in _eval(strategy)]
        name = stop.val_stream_name
        if not any(s.startswith(name) or name.startswith(s) for s in streams):
            _warn_once(
                strategy,
                f"{what} watches val_stream_name={name!r}, but train() "
                f"evaluates {streams} between epochs, so it will never stop. "
                "Pass the stream to train(..., eval_streams=[benchmark."
                f"{name}]).",
            )


def _eval(strategy) -> list:
    return [s for s in getattr(strategy, "_eval_streams", None) or () if s]


def check_early_stopping_metric(strategy) -> None:
    """After a periodic evaluation: warn about an ``EarlyStoppingPlugin``
    whose ``metric_name`` no metric of the evaluator has logged (a typo, or
    a metric missing from the evaluator), naming the ones logged."""
    stops = _stops(strategy)
    if not stops:
        return
    logged = list(strategy.evaluator.get_last_metrics())
    names = sorted({k.split("/eval_phase/")[0] for k in logged if "/eval_phase/" in k})
    for stop in stops:
        if not names or stop.metric_name in names:
            continue
        close = difflib.get_close_matches(stop.metric_name, names + [BACKBONE_LOSS])
        hint = f" Did you mean {close[0]!r}?" if close else ""
        if close and close[0] == BACKBONE_LOSS and BACKBONE_LOSS not in names:
            hint += " Add avalanche_featadapt.BackboneLoss() to the evaluator too."
        _warn_once(
            strategy,
            f"EarlyStoppingPlugin watches metric_name={stop.metric_name!r}, which "
            f"no metric of the evaluator logs (they log {names}), so it will "
            f"never stop.{hint}",
        )
