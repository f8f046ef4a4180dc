"""Every plugin that holds memory says what it holds (``stored_tensors()``,
:class:`~avalanche_featadapt.memory.HoldsMemory`), and the package's count
equals a count by hand, straight from each plugin's own containers."""

import torch
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.training import Naive
from avalanche.training.plugins import EvaluationPlugin, ReplayPlugin

from avalanche_featadapt import FeatureAdaptationStrategy, make_digits_model
from avalanche_featadapt.memory import HoldsMemory, memory_bytes_of, stored_tensors
from avalanche_featadapt.plugins import (
    AdapterTrainer,
    ClassifierRetrainer,
    FeatureBuffer,
    SDCPlugin,
)
from avalanche_featadapt.strategies import SDCStrategy
from avalanche_featadapt.strategies.hybrid import ImageMemory


def _evaluator():
    return EvaluationPlugin(accuracy_metrics(stream=True), loggers=[])


def test_the_memory_plugins_keep_the_contract():
    buf = FeatureBuffer(mem_size=10)
    holders = [buf, SDCPlugin(), ImageMemory(mem_size=10)]
    assert all(isinstance(p, HoldsMemory) for p in holders)
    for p in holders:
        assert p.stored_tensors() == []
    assert ImageMemory(mem_size=10).stored_images()[0] is not None
    # weights and teachers are not memory
    others = [AdapterTrainer(buffer=buf), ClassifierRetrainer(buffer=buf)]
    assert not any(isinstance(p, HoldsMemory) for p in others)
    assert all(stored_tensors(p) is None for p in others)


def test_hybrid_feature_adaptation_counts_as_by_hand(digits):
    m = make_digits_model()
    s = FeatureAdaptationStrategy(
        model=m,
        optimizer=torch.optim.Adam(m.parameters(), lr=1e-3),
        memory_bytes=25_600,
        feature_dtype="int8",
        image_fraction=0.5,
        adapter_kwargs={"epochs": 2},
        head_epochs=5,
        evaluator=_evaluator(),
    )
    for exp in digits.train_stream[:2]:
        s.train(exp)
    n_images = len(s.image_memory.storage_policy.buffer)
    assert n_images > 0 and len(s.buffer) > 0
    # int8: 1 byte per value of a 64-d feature and a float32 scale; images at
    # 8 bits per pixel, 1x8x8
    assert memory_bytes_of(s) == len(s.buffer) * (64 + 4) + n_images * 64
    buf = s.buffer.stored_tensors()
    assert sum(t.numel() * t.element_size() for t in buf) == s.buffer.nbytes
    assert len(buf) == 2 * len(s.buffer.classes)  # codes and scales per class
    assert s.image_memory.stored_tensors() == []
    assert stored_tensors(s.image_memory).nbytes == n_images * 64


def test_sdc_counts_its_prototypes(digits):
    m = make_digits_model()
    s = SDCStrategy(
        model=m,
        optimizer=torch.optim.Adam(m.parameters(), lr=1e-3),
        evaluator=_evaluator(),
    )
    for exp in digits.train_stream[:2]:
        s.train(exp)
    protos = s.sdc.stored_tensors()
    assert len(protos) == 4 and all(p.shape == (64,) for p in protos)
    assert all(a is b for a, b in zip(protos, s.sdc.prototypes.values()))
    assert memory_bytes_of(s) == 4 * 64 * 4 == s.sdc.nbytes


def test_avalanche_replay_is_still_counted(digits):
    m = make_digits_model()
    s = Naive(
        model=m,
        optimizer=torch.optim.SGD(m.parameters(), lr=0.1),
        criterion=torch.nn.CrossEntropyLoss(),
        plugins=[ReplayPlugin(mem_size=20)],
        evaluator=_evaluator(),
    )
    s.train(digits.train_stream[0])
    assert memory_bytes_of(s) == 20 * 64
