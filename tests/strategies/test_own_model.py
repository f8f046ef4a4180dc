"""FA with a user's own model: a ReLU feature and an ``nn.Linear`` head, split
with ``last_layer_name``, inside a real Avalanche loop. The figures beside
the asserts were measured on this project's 2-core CI machine."""

import numpy as np
import pytest
import torch
from avalanche.training import Naive
from torch import nn

from avalanche_featadapt import FeatureAdaptationStrategy, SplitDigits

from helpers import load_perf_script, make_evaluator, stream_accuracy

# figures measured with torch's default thread count
pytestmark = pytest.mark.torch_default_threads

#: perf/robustness.py's plain user CNN, the model of its matrix
PlainCNN = load_perf_script("robustness").PlainCNN


def run(name, seed, epochs=5, **kw):
    bm = SplitDigits(5, seed=seed)
    torch.manual_seed(seed)
    model = PlainCNN()
    common = dict(
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        train_mb_size=32,
        train_epochs=epochs,
        eval_mb_size=256,
        evaluator=make_evaluator(),
    )
    if name == "naive":
        s = Naive(model=model, criterion=nn.CrossEntropyLoss(), **common)
    else:
        s = FeatureAdaptationStrategy(
            model=model, last_layer_name="fc", memory_bytes=51_200, **kw, **common
        )
    for exp in bm.train_stream:
        s.train(exp)
    return stream_accuracy(s.eval(bm.test_stream))


@pytest.fixture(scope="module")
def plain_cnn_runs():
    seeds = [0]
    out = {
        name: np.array([run(name.split(":")[0], sd, **kw) for sd in seeds])
        for name, kw in [
            ("naive", {}),
            ("fa", {}),
            ("fa:noadapt", {"adapt": False}),
            # float32 storage, where the collapse was measured: with int8's
            # four times as many stored features the retrained head recovered
            # part of it (0.517 against FA's 0.781, seed 0, lambda_fd=1)
            ("fa:fp32", {"feature_dtype": "float32"}),
            ("fa:no-aux-head", {"train_head": "model", "feature_dtype": "float32"}),
            ("fa:no-adc", {"adapter_kwargs": {"adc_steps": 0}}),
            ("fa:no-clamp", {"adapter_kwargs": {"clamp": False}}),
        ]
    }
    print({k: v.round(3).tolist() for k, v in out.items()})
    return out


@pytest.mark.slow
def test_fa_with_a_plain_user_cnn_beats_naive(plain_cnn_runs):
    # measured (seed 0, 5 epochs, int4 features and lambda_stored=3, the
    # defaults): FA 0.850, Naive 0.097 (with int8 and no stored
    # replay, FA over seeds 0-2 in this fixture 0.817 / 0.722 / 0.700); at
    # 10 epochs (perf/robustness.py, 3 seeds): FA 0.816, Naive 0.193
    r = plain_cnn_runs
    assert r["fa"].mean() - r["naive"].mean() > 0.25


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["fa", "fa:no-adc", "fa:no-clamp"])
def test_every_remedy_keeps_the_adapter_useful(plain_cnn_runs, variant):
    # measured in this fixture, seed 0, today's defaults (int4,
    # lambda_stored=3): FA 0.850, without ADC 0.822, without the clamp
    # 0.833, no adapter 0.428 (at 10 epochs, perf/robustness.py, seeds 0-2:
    # FA 0.816 +- 0.039, no adapter 0.392 +- 0.055, the gap far above the
    # spread on every seed). With int8 and no stored replay, seeds 0 / 1
    # / 2: FA 0.817 / 0.722 / 0.700, without ADC 0.761 / 0.711 / 0.750,
    # without the clamp 0.808 / 0.717 / 0.711, no adapter 0.383 / 0.519 /
    # 0.286; the smallest gap to no adapter was 0.19 on a seed, against
    # spreads of 0.02-0.10 over seeds
    r = plain_cnn_runs
    assert r[variant].mean() - r["fa:noadapt"].mean() > 0.10


@pytest.mark.slow
def test_the_auxiliary_head_is_what_stops_the_collapse(plain_cnn_runs):
    # the paper's setting (the user's linear head trains the backbone)
    # collapses to about chance: measured 0.131 against 0.811 (seed 0, both
    # storing float32 features, today's defaults otherwise; 0.100 against
    # 0.694 without stored replay, 0.711 with lambda_fd=10, and 0.097 /
    # 0.100 against 0.619 / 0.628 on seeds 1 / 2 with 10)
    r = plain_cnn_runs
    assert r["fa:fp32"].mean() - r["fa:no-aux-head"].mean() > 0.30


def test_last_layer_name_leaves_the_users_model_alone():
    model = PlainCNN().eval()
    x = torch.rand(4, 1, 8, 8)
    before = model(x)
    kw = dict(
        model=model,
        last_layer_name="fc",
        optimizer=torch.optim.Adam(model.parameters()),
        memory_bytes=51_200,
        evaluator=make_evaluator(),
    )
    s1 = FeatureAdaptationStrategy(**kw)
    assert isinstance(model.fc, nn.Linear)
    assert torch.equal(model(x), before)  # still (4, 10) logits
    # a second strategy on the same model, as a re-run notebook cell makes
    s2 = FeatureAdaptationStrategy(**kw)
    feats = s2.model.feature_extractor(x)
    assert feats.shape == (4, 64)
    assert torch.allclose(s2.model.classifier(feats), before)
    assert s1.model.classifier is model.fc


def test_a_model_already_split_is_refused():
    model = PlainCNN()
    model.fc = nn.Identity()
    with pytest.raises(ValueError, match="already split"):
        FeatureAdaptationStrategy(
            model=model,
            last_layer_name="fc",
            optimizer=torch.optim.Adam(model.parameters()),
            memory_bytes=51_200,
        )
    frozen = PlainCNN()
    frozen.fc.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        FeatureAdaptationStrategy(
            model=frozen,
            last_layer_name="fc",
            optimizer=torch.optim.Adam(frozen.parameters()),
            memory_bytes=51_200,
        )


def test_what_avalanche_evaluates_is_the_users_model():
    bm = SplitDigits(5, seed=0)
    model = PlainCNN()
    s = FeatureAdaptationStrategy(
        model=model,
        last_layer_name="fc",
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        memory_bytes=51_200,
        train_epochs=2,
        evaluator=make_evaluator(),
    )
    for exp in bm.train_stream[:2]:
        s.train(exp)
    acc = stream_accuracy(s.eval(bm.test_stream[:2]))
    x = torch.cat(
        [
            e.dataset.eval()[i][0][None]
            for e in bm.test_stream[:2]
            for i in range(len(e.dataset))
        ]
    )
    y = torch.cat(
        [
            torch.as_tensor([e.dataset.eval()[i][1]])
            for e in bm.test_stream[:2]
            for i in range(len(e.dataset))
        ]
    )
    model.eval()
    with torch.no_grad():
        own = (model(x).argmax(1) == y).float().mean().item()
    assert own == pytest.approx(acc, abs=1e-6)


def _digits_with_valid(seed=0):
    """SplitDigits with a validation stream (Avalanche's own splitter)."""
    from avalanche.benchmarks import benchmark_with_validation_stream

    return benchmark_with_validation_stream(
        SplitDigits(5, seed=seed), validation_size=0.2, shuffle=True, seed=seed
    )


def _run_valid(plugins, seed, *, epochs=4, experiences=5):
    """FA with periodic evaluation on a validation stream (eval_every=1)."""
    bm = _digits_with_valid(seed)
    torch.manual_seed(seed)
    model = PlainCNN()
    ev = make_evaluator()
    s = FeatureAdaptationStrategy(
        model=model,
        last_layer_name="fc",
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        memory_bytes=51_200,
        train_epochs=epochs,
        eval_every=1,
        plugins=plugins,
        evaluator=ev,
    )
    for exp in bm.train_stream[:experiences]:
        s.train(exp, eval_streams=[bm.valid_stream])
    final = stream_accuracy(s.eval(bm.test_stream))
    last_valid = ev.get_last_metrics()
    return final, s, bm, last_valid


@pytest.mark.slow
def test_last_validation_value_is_the_retrained_model():
    final, s, bm, _ = _run_valid([], 0, epochs=2, experiences=2)
    # evaluate the valid stream now, with the final model, and compare with
    # what the periodic evaluation logged last during training
    logged = [
        v
        for k, v in s.evaluator.get_all_metrics().items()
        if k.startswith("Top1_Acc_Stream/eval_phase/valid_stream")
    ]
    n_logged, last = len(logged[0][1]), logged[0][1][-1]
    now = stream_accuracy(s.eval(bm.valid_stream))
    assert last == pytest.approx(now, abs=1e-6)
    # one value per experience for Avalanche's initial evaluation, one for
    # the start of the experience (strategies/provisional.py) and one per
    # epoch (eval_every=1, 2 epochs), over 2 experiences
    assert n_logged == 2 * (1 + 1 + 2)


@pytest.mark.slow
def test_early_stopping_restores_the_model_it_scored():
    """What EarlyStoppingPlugin compares is the model it restores: after an
    experience it stopped, the final model scores its best logged value.
    On 298a521 the values were the auxiliary head's (0.20-0.50) while the
    restored model scored otherwise."""
    from avalanche.training.plugins import EarlyStoppingPlugin

    bm = _digits_with_valid(0)
    torch.manual_seed(0)
    model = PlainCNN()
    stop = EarlyStoppingPlugin(patience=2, val_stream_name="valid_stream")
    s = FeatureAdaptationStrategy(
        model=model,
        last_layer_name="fc",
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        memory_bytes=51_200,
        train_epochs=4,
        eval_every=1,
        plugins=[stop],
        evaluator=make_evaluator(),
    )
    checked = 0
    for exp in bm.train_stream[:2]:
        s.train(exp, eval_streams=[bm.valid_stream])
        if s.clock.train_exp_epochs < 4:  # it stopped and restored
            now = stream_accuracy(s.eval(bm.valid_stream))
            assert now == pytest.approx(stop.best_val, abs=1e-6)
            checked += 1
    assert checked >= 1  # measured: it stopped in both (and in a third)


class _Probe:
    """At the end of an epoch of the second experience, run a provisional
    update by hand and record the state before, inside and after."""

    def __init__(self):
        self.seen = {}

    def after_training_epoch(self, strategy, **kwargs):
        from avalanche_featadapt.strategies.provisional import provisional_update

        if strategy.clock.train_exp_counter != 1 or self.seen:
            return

        def state():
            head = {
                k: v.clone() for k, v in strategy.model.classifier.state_dict().items()
            }
            return head, strategy.buffer.classes, len(strategy.buffer)

        self.seen["before"] = state()
        with provisional_update(strategy):
            self.seen["inside"] = state()
            self.seen["aux_inside"] = strategy.model.use_aux
        self.seen["after"] = state()
        self.seen["aux_after"] = strategy.model.use_aux


def test_provisional_update_is_undone():
    from avalanche.core import SupervisedPlugin

    probe = type("P", (_Probe, SupervisedPlugin), {})()
    model = PlainCNN()
    s = FeatureAdaptationStrategy(
        model=model,
        last_layer_name="fc",
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        memory_bytes=51_200,
        train_epochs=1,
        plugins=[probe],
        evaluator=make_evaluator(),
    )
    bm = SplitDigits(5, seed=0)
    for exp in bm.train_stream[:2]:
        s.train(exp)
    before, inside, after = (probe.seen[k] for k in ("before", "inside", "after"))
    # inside: the new classes are in the buffer and the head was retrained
    assert len(inside[1]) == 4 and len(before[1]) == 2
    assert not torch.equal(inside[0]["weight"], before[0]["weight"])
    assert probe.seen["aux_inside"] is False and probe.seen["aux_after"] is True
    # after: exactly as before
    assert after[1] == before[1] and after[2] == before[2]
    for k in before[0]:
        assert torch.equal(after[0][k], before[0][k])
