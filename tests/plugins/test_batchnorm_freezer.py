"""BatchNormFreezer (plugins/batchnorm_freezer.py) inside a real Avalanche
loop: it freezes from the second experience on, and warns when it trains
an experience of a single class with frozen statistics (which feature
adaptation does only with freeze_one_class=False)."""

import warnings

import pytest
import torch
from torch import nn

from avalanche_featadapt import (
    FeatureAdaptationStrategy,
    SplitDigits,
    make_digits_model,
)
from avalanche_featadapt.plugins.batchnorm_freezer import ONE_CLASS_WARNING
from helpers import make_evaluator


def one_class_warnings(tmp_path, *, first_exp_classes, freeze_bn, freeze_one_class):
    """The freezer's warnings over the first two experiences of SplitDigits."""
    bm = SplitDigits(
        6 if first_exp_classes == 5 else 5, first_exp_classes=first_exp_classes
    )
    torch.manual_seed(0)
    model = make_digits_model()
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    s = FeatureAdaptationStrategy(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        memory_bytes=12_800,
        train_epochs=1,
        freeze_bn=freeze_bn,
        freeze_one_class=freeze_one_class,
        head_epochs=2,
        adapter_kwargs={"epochs": 2},
        evaluator=make_evaluator(tmp_path),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for exp in bm.train_stream[:3]:
            s.train(exp)
    return [w for w in caught if str(w.message) == ONE_CLASS_WARNING]


@pytest.mark.parametrize(
    "first_exp_classes, freeze_bn, freeze_one_class, expected",
    [
        (5, True, False, 1),
        (5, True, True, 0),
        (5, False, False, 0),
        (None, True, False, 0),
    ],
    ids=["b50-frozen", "b50-backbone-kept", "b50-not-frozen", "5x2-frozen"],
)
def test_warns_once_when_training_a_one_class_experience_frozen(
    tmp_path, first_exp_classes, freeze_bn, freeze_one_class, expected
):
    # b50: 5 classes, then one class per experience (two of them here); the
    # warning comes once, not at every one-class experience, and not when
    # OneClassFreezer keeps the backbone out of training there
    found = one_class_warnings(
        tmp_path,
        first_exp_classes=first_exp_classes,
        freeze_bn=freeze_bn,
        freeze_one_class=freeze_one_class,
    )
    assert len(found) == expected


def _first_experience_statistics(plugins, train_mb_size):
    """Running mean and variance of a BatchNorm on the raw pixels after
    SplitDigits' first experience (1 epoch), in Avalanche's Naive, and the
    mean over that experience's batches (in order) of their pixels' mean
    and unbiased variance, computed here."""
    from avalanche.training import Naive

    bm = SplitDigits(5, seed=0)
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(64)
    model = nn.Sequential(nn.Flatten(), bn, nn.Linear(64, 10))
    s = Naive(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
        train_mb_size=train_mb_size,
        train_epochs=1,
        plugins=plugins,
        evaluator=make_evaluator(),
    )
    s.train(bm.train_stream[0])
    data = bm.train_stream[0].dataset
    x = torch.stack([data[i][0].flatten() for i in range(len(data))])
    batches = x.split(train_mb_size)  # in order, as the freezer reads them
    mean = torch.stack([b.mean(0) for b in batches]).mean(0)
    var = torch.stack([b.var(0) for b in batches]).mean(0)
    updates = int(bn.num_batches_tracked)
    return bn.running_mean, bn.running_var, mean, var, updates


def test_statistics_frozen_after_a_short_experience_are_exact():
    """Under 44 updates the running averages still hold over 1 % of their
    initial values (0, 1); the freezer replaces them with the experience's
    own statistics. Longer experiences keep their running averages."""
    from avalanche_featadapt import BatchNormFreezer

    mean, var, exact_mean, exact_var, updates = _first_experience_statistics(
        [BatchNormFreezer()], train_mb_size=64
    )
    assert updates < 44
    assert torch.allclose(mean, exact_mean, atol=1e-5)
    assert torch.allclose(var, exact_var, atol=1e-4)
    # without the freezer, the same run keeps a running average still far
    # from them (a share of its start, 0 and 1, remains)
    plain_mean, plain_var, *_ = _first_experience_statistics([], train_mb_size=64)
    assert (plain_mean - exact_mean).abs().max() > 0.1
    # a long experience: left as the running average, bit for bit
    long_run = _first_experience_statistics([BatchNormFreezer()], train_mb_size=4)
    plain_long = _first_experience_statistics([], train_mb_size=4)
    assert long_run[4] >= 44
    assert torch.equal(long_run[0], plain_long[0])
    assert torch.equal(long_run[1], plain_long[1])
