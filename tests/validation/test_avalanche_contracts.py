"""What the docs call a plugin is one; models and devices these strategies
cannot use are refused at construction with a clear error."""

import re

import pytest
import torch
from avalanche.models import MTSimpleMLP, MultiHeadClassifier, SimpleMLP
from avalanche.training import Naive
from avalanche.training.plugins import SupervisedPlugin

import avalanche_featadapt
from avalanche_featadapt import (
    FeatureAdaptationStrategy,
    HerdingSelector,
    SDCStrategy,
    make_digits_model,
)
from avalanche_featadapt.validation.arguments import check_device
from avalanche_featadapt.validation.inputs import check_experience
from helpers import ROOT, make_evaluator

TASK_LABELS = "is for class-incremental streams without task labels, but"


def test_readme_calls_plugins_only_what_are_plugins():
    text = " ".join((ROOT / "README.md").read_text().split()).replace("e.g.", "eg")
    sentence = re.search(
        r"Each part is a plain Avalanche `SupervisedPlugin`[^.]*\.", text
    )
    assert sentence, "README lost its list of plugins"
    names = re.findall(r"`(\w+)`", sentence.group(0))
    names = [n for n in names if hasattr(avalanche_featadapt, n)]
    assert len(names) >= 5
    for n in names:
        assert issubclass(getattr(avalanche_featadapt, n), SupervisedPlugin), n
    assert "HerdingSelector" not in names


def test_herding_selector_in_plugins_is_refused_not_ignored(digits):
    model = make_digits_model()
    naive = Naive(
        model=model,
        optimizer=torch.optim.Adam(model.parameters()),
        plugins=[HerdingSelector()],
        evaluator=make_evaluator(),
    )
    with pytest.raises(ValueError, match=r"selector, not a plugin.*selector="):
        naive.train(digits.train_stream[0])
    # what it is: a selector of rows of any tensor
    x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
    idx = HerdingSelector()(x, 5)
    assert idx.shape == (5,) and len(set(idx.tolist())) == 5


def _multi_head_forms():
    yield "MTSimpleMLP", dict(
        model=MTSimpleMLP(input_size=64), last_layer_name="classifier"
    )
    mt = MTSimpleMLP(input_size=64)
    yield "split", dict(feature_extractor=mt.features, classifier=mt.classifier)
    yield "head", dict(
        feature_extractor=torch.nn.Flatten(), classifier=MultiHeadClassifier(64, 2)
    )


@pytest.mark.parametrize("cls", [FeatureAdaptationStrategy, SDCStrategy])
@pytest.mark.parametrize("form", list(_multi_head_forms()), ids=lambda f: f[0])
def test_multi_head_models_are_refused_at_construction(cls, form):
    _, kwargs = form
    params = [
        p
        for v in kwargs.values()
        if isinstance(v, torch.nn.Module)
        for p in v.parameters()
    ]
    extra = {"memory_bytes": 12_800} if cls is FeatureAdaptationStrategy else {}
    with pytest.raises(ValueError) as err:
        cls(optimizer=torch.optim.Adam(params), **kwargs, **extra)
    msg = str(err.value)
    assert msg.startswith(f"{cls.__name__} {TASK_LABELS}")
    assert "MultiTaskModule" in msg and "single-head" in msg


def test_task_label_streams_get_the_same_message():
    class Exp:
        task_labels = [0, 1]
        dataset = [0]
        current_experience = 0

    with pytest.raises(ValueError, match=f"^FeatureAdaptationStrategy {TASK_LABELS}"):
        check_experience(Exp(), "FeatureAdaptationStrategy")


def test_single_head_avalanche_model_still_accepted():
    model = SimpleMLP(num_classes=10, input_size=64)
    s = FeatureAdaptationStrategy(
        model=model,
        last_layer_name="classifier",
        optimizer=torch.optim.Adam(model.parameters()),
        memory_bytes=12_800,
        evaluator=make_evaluator(),
    )
    assert s.buffer.memory_bytes == 12_800


UNUSABLE = ["meta"] + ([] if torch.backends.mps.is_available() else ["mps"])


@pytest.mark.parametrize("device", UNUSABLE)
@pytest.mark.parametrize("cls", [FeatureAdaptationStrategy, SDCStrategy])
def test_unusable_device_is_a_clear_error(cls, device):
    model = make_digits_model()
    extra = {"memory_bytes": 12_800} if cls is FeatureAdaptationStrategy else {}
    with pytest.raises(ValueError, match=rf"device='{device}' cannot be used.*'cpu'"):
        cls(
            model=model,
            optimizer=torch.optim.Adam(model.parameters()),
            device=device,
            **extra,
        )
    with pytest.raises(ValueError, match=device):
        check_device(torch.device(device))
    assert check_device("cpu") == torch.device("cpu")
