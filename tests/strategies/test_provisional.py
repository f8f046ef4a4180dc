"""The provisional update puts the buffer and the adapter back through their
own ``snapshot()``/``restore()``."""

import torch

from avalanche_featadapt.plugins import AdapterTrainer, FeatureBuffer


def _features(n, classes, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n * len(classes), 8, generator=g)
    y = torch.tensor(classes).repeat_interleave(n)
    return x, y


def test_buffer_restore_undoes_an_update_and_a_staged_transform():
    buf = FeatureBuffer(mem_size=12, feature_dtype="int8")
    empty = buf.snapshot()
    buf.add(*_features(6, [0, 1], seed=0))
    before_x, before_y = buf.features()
    before_tensors = buf.stored_tensors()
    buf.stage_transform(lambda f: f * 2, classes=[0])
    snap = buf.snapshot()

    buf.update(*_features(6, [2, 3], seed=1), transform=lambda f: f + 1)
    buf.stage_transform(lambda f: f)
    assert buf.classes == [0, 1, 2, 3]
    buf.restore(snap)
    assert buf.classes == [0, 1] and buf.feature_dim == 8
    x, y = buf.features()
    assert torch.equal(x, before_x) and torch.equal(y, before_y)
    assert all(a is b for a, b in zip(buf.stored_tensors(), before_tensors))
    fn, classes = buf.snapshot()[3]  # the staged transform is back
    assert classes == [0] and torch.equal(fn(torch.ones(1)), torch.full((1,), 2.0))
    buf.add(*_features(6, [4], seed=2))  # a snapshot is not changed by updates
    buf.restore(snap)
    assert buf.classes == [0, 1]

    buf.restore(empty)
    assert buf.classes == [] and buf.feature_dim is None and len(buf) == 0


def test_adapter_restore_drops_what_was_added_since():
    buf = FeatureBuffer(mem_size=12)
    trainer = AdapterTrainer(buffer=buf, epochs=1, hidden_dim=8)
    v_hat, y = _features(10, [0, 1], seed=0)
    trainer.adapters.append(trainer.fit(v_hat, v_hat * 1.1, y))
    snap = trainer.snapshot()
    assert snap == (None, 1, 1)
    trainer.adapters.append(trainer.fit(v_hat, v_hat * 0.9, y))
    assert (len(trainer.adapters), len(trainer.history)) == (2, 2)
    first = trainer.adapters[0]
    trainer.restore(snap)
    assert trainer.adapters == [first] and len(trainer.history) == 1
    assert trainer.snapshot() == snap
