"""Keep the backbone as it is during an experience of a single class."""

from __future__ import annotations

import warnings

from avalanche.training.plugins import SupervisedPlugin

from ..validation.arguments import check_count
from ..validation.inputs import experience_classes

__all__ = ["OneClassFreezer"]

RENAMED = {"after_experiences": "warmup_experiences"}

ONE_CLASS_NOTICE = (
    "Experience {exp} has a single class: the backbone is kept as it is and only "
    "the classifier learns the class, from its stored features (freeze_one_class="
    "True). Trained on one class, the backbone has nothing to tell apart and its "
    "features collapse (docs/method.md, 'Experiences of one class'). Pass "
    "freeze_one_class=False to train it anyway. Said once."
)


class OneClassFreezer(SupervisedPlugin, supports_distributed=True):
    """From the second experience on, skip the training epochs of an
    experience whose data hold a single class, so the backbone (and its
    BatchNorm statistics) stay as the previous experience left them. The
    rest of feature adaptation still runs: the new class's features are
    stored and the classifier is retrained on the buffer. The adapter has
    nothing to do, since no feature moved (:class:`AdapterTrainer` skips a
    backbone that did not change).

    Why: trained on one class, cross-entropy has no second class in the
    batch to tell it apart from, and is lowered by pulling every feature
    toward that class. Over one-class steps the features collapsed onto one
    direction (plain CNN: mean cosine between class means 0.999) and, with
    frozen BatchNorm statistics, their norm grew from 7.9 to 1,165. On
    SplitDigits with half the classes first, then one class per experience
    (b50, seeds 0-2), final accuracy rose from 10.2 to 93.9 % with the
    package's model and from 19.0 to 86.9 % with a user's BatchNorm CNN
    (docs/ablations.md, "Experiences of one class", has every model). This is
    the choice of exemplar-free methods with a large first task, which keep
    the backbone fixed after it (FeTrIL, Petit et al., WACV 2023; FeCAM,
    Goswami et al., NeurIPS 2023), made only where a step cannot teach the
    backbone.

    Avalanche has no per-experience switch for training, hence this plugin:
    it asks the template to stop before the first epoch
    (``strategy.stop_training()``, as ``EarlyStoppingPlugin`` does).

    :param warmup_experiences: how many experiences always train
        (formerly ``after_experiences``, a name that Avalanche took for a
        callback).
    """

    def __init__(self, *, warmup_experiences: int = 1, **renamed):
        super().__init__()
        refuse_renamed("OneClassFreezer", renamed)
        check_count("warmup_experiences", warmup_experiences)
        self.warmup_experiences = warmup_experiences
        self.frozen_experiences: list = []
        self._warned = False

    def freezes(self, strategy) -> bool:
        """Whether the current experience keeps the backbone as it is."""
        return (
            strategy.clock.train_exp_counter >= self.warmup_experiences
            and len(experience_classes(strategy.experience)) == 1
        )

    def before_training_exp(self, strategy, **kwargs):
        if not self.freezes(strategy):
            return
        exp = strategy.clock.train_exp_counter
        self.frozen_experiences.append(exp)
        if not self._warned:
            self._warned = True
            warnings.warn(ONE_CLASS_NOTICE.format(exp=exp), UserWarning, stacklevel=2)

    def before_training_epoch(self, strategy, **kwargs):
        if self.freezes(strategy):
            strategy.stop_training()


def refuse_renamed(owner: str, renamed: dict):
    """Refuse the keywords of ``renamed`` (a constructor's ``**kwargs``),
    naming the new keyword of an old one."""
    for old, value in renamed.items():
        if old in RENAMED:
            raise TypeError(
                f"{owner}: {old}= was renamed {RENAMED[old]}= (Avalanche took "
                f"the old name for a callback); pass {RENAMED[old]}={value!r}."
            )
        raise TypeError(
            f"{owner} got an unexpected keyword argument {old!r}; it takes "
            "warmup_experiences= only."
        )
