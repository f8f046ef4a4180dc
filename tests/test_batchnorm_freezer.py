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
from conftest import make_evaluator


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
