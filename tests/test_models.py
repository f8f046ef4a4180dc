"""What users save: ``strategy.model.user_state_dict()`` loads with
``strict=True`` into a new instance of the user's own model class, whichever
way the model was given; ``strategy.model.state_dict()`` is the wrapper's."""

import pytest
import torch
from torch import nn

from avalanche_featadapt import FeatureAdaptationStrategy
from helpers import make_evaluator


class WithFc(nn.Module):
    """A user's CNN whose last layer is ``fc`` (``last_layer_name="fc"``)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


class WithParts(nn.Module):
    """A user's model with ``.feature_extractor`` and ``.classifier``."""

    def __init__(self):
        super().__init__()
        self.feature_extractor = nn.Sequential(
            nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU()
        )
        self.classifier = nn.Linear(32, 10)

    def forward(self, x):
        return self.classifier(self.feature_extractor(x))


def _trained(cls, digits, **kw):
    model = cls()
    s = FeatureAdaptationStrategy(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        memory_bytes=25_600,
        train_epochs=1,
        adapter_kwargs={"epochs": 1},
        head_epochs=2,
        evaluator=make_evaluator(),
        **kw,
    )
    for exp in digits.train_stream[:2]:
        s.train(exp)
    return s, model


@pytest.mark.parametrize(
    "cls, kw", [(WithFc, {"last_layer_name": "fc"}), (WithParts, {})]
)
def test_user_state_dict_loads_strictly_into_the_users_class(digits, cls, kw):
    s, model = _trained(cls, digits, **kw)
    saved = s.model.user_state_dict()
    # the usual habit: the wrapper's keys do not fit the user's class
    with pytest.raises(RuntimeError, match="Unexpected key"):
        cls().load_state_dict(s.model.state_dict(), strict=True)
    fresh = cls()
    fresh.load_state_dict(saved, strict=True)
    x = torch.stack([digits.test_stream[0].dataset[i][0] for i in range(16)])
    fresh.eval(), model.eval(), s.model.eval()
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))
        assert torch.equal(fresh(x), s.model(x))  # what Avalanche evaluated
    assert saved.keys() == model.state_dict().keys()


def test_user_state_dict_of_separate_parts_and_of_the_packages_model(digits):
    from avalanche_featadapt import FeatureClassifierModel, make_digits_model

    fe, head = WithParts().feature_extractor, nn.Linear(32, 10)
    s = FeatureAdaptationStrategy(
        feature_extractor=fe,
        classifier=head,
        optimizer=torch.optim.Adam([*fe.parameters(), *head.parameters()]),
        memory_bytes=25_600,
        train_epochs=1,
        evaluator=make_evaluator(),
    )
    saved = s.model.user_state_dict()
    assert set(k.split(".")[0] for k in saved) == {"feature_extractor", "classifier"}
    other = FeatureClassifierModel(WithParts().feature_extractor, nn.Linear(32, 10))
    other.load_state_dict(saved, strict=True)
    # the package's model: the state dict of the very object the user passed
    model = make_digits_model()
    s = FeatureAdaptationStrategy(
        model=model,
        optimizer=torch.optim.Adam(model.parameters()),
        memory_bytes=25_600,
        adapter_kwargs={"epochs": 1},
        head_epochs=2,
        evaluator=make_evaluator(),
    )
    s.train(digits.train_stream[0])
    assert s.model.aux_classifier is not None
    assert s.model.user_state_dict().keys() == model.state_dict().keys()
    assert not any(k.startswith("aux_") for k in s.model.user_state_dict())
