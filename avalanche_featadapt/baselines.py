"""Every strategy of the comparison, built the same way, with per-strategy
hyperparameters in one place (:data:`HYPERPARAMETERS`), each with its source.

Shared by all (DESIGN §5): the model, the optimizer (Adam), its learning
rate, the epochs, the batch size, the class order and the seed. Memory is one
budget in bytes; each strategy's images or features are sized to fit it.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch
from avalanche.training import ICaRL, JointTraining, LwF, Naive
from avalanche.training.plugins import ReplayPlugin
from avalanche.training.storage_policy import ClassBalancedBuffer

from .memory import images_in_budget
from .plugins import MaskedNCMClassifier
from .strategies import FeatureAdaptationStrategy, SDCStrategy

__all__ = [
    "HYPERPARAMETERS",
    "MEMORY_STRATEGIES",
    "STRATEGIES",
    "build_strategy",
    "icarl_memory_size",
]

_FA = {"lambda_kd": 1.0, "lambda_fd": 1.0, "head_epochs": 30}

#: name -> keyword arguments of that strategy, with where they come from.
HYPERPARAMETERS = {
    # Fine-tuning: the lower bound. Nothing of its own.
    "naive": {},
    # Joint training on all experiences at once: the upper bound.
    "joint": {},
    # Li & Hoiem, "Learning without Forgetting", TPAMI 2017, Sec. 3:
    # "lambda_o = 1" (loss balance) and "T = 2" (temperature).
    "lwf": {"alpha": 1.0, "temperature": 2.0},
    # Rebuffi et al., iCaRL, CVPR 2017, Sec. 3: a fixed memory of K images
    # split evenly over classes ("m = K/t"), herding, nearest-mean-of-exemplars.
    "icarl": {"fixed_memory": True},
    # Experience replay of images from a class-balanced buffer (Avalanche's
    # ReplayPlugin with ClassBalancedBuffer).
    "replay": {},
    # Yu et al., SDC, CVPR 2020: sigma = 0.3 on L2-normalised embeddings
    # (official code yulu0724/SDC-IL). "sdc" is the paper's best variant,
    # E-LwF+SDC (distillation on the embedding network); "sdc-nocomp" is its
    # base E-LwF (same training, stale prototypes); "sdc-ft" is E-FT+SDC.
    "sdc": {"sigma": 0.3, "loss": "ce", "regularizer": "distill"},
    "sdc-nocomp": {
        "sigma": 0.3,
        "loss": "ce",
        "regularizer": "distill",
        "compensate": False,
    },
    "sdc-ft": {"sigma": 0.3, "loss": "ce", "regularizer": "none"},
    # Iscen et al., ECCV 2020: KD + cosine feature distillation on the backbone
    # (Sec. 3.1), an MLP adapter with a cosine loss (Sec. 3.2), herding on
    # features, classifier retrained on the memory. Weights tuned on
    # SplitDigits (DESIGN §7): lambda_cls = 0, a residual adapter with a
    # norm-matching MSE term, BatchNorm statistics frozen after the first
    # experience (BatchNormFreezer; the variants below all keep these).
    "featadapt": dict(_FA),
    # The same, storing features as float16 or int8 (one float32 scale per
    # feature): 2x / ~3.8x more features in the same bytes.
    "featadapt-fp16": {**_FA, "feature_dtype": "float16"},
    "featadapt-int8": {**_FA, "feature_dtype": "int8"},
    # The paper's "Ours-hybrid": half the bytes keep images (replayed through
    # the backbone, and giving the adapter pairs of old classes), half keep
    # int8 features (which train the classifier).
    "featadapt-hybrid": {**_FA, "feature_dtype": "int8", "image_fraction": 0.5},
    # Ablation: no adapter, the stored features go stale.
    "featadapt-noadapt": {**_FA, "adapt": False},
}

STRATEGIES = list(HYPERPARAMETERS)
#: strategies that keep a memory and must fit the byte budget
MEMORY_STRATEGIES = [
    "icarl",
    "replay",
    "sdc",
    "sdc-nocomp",
    "sdc-ft",
    "featadapt",
    "featadapt-fp16",
    "featadapt-int8",
    "featadapt-hybrid",
    "featadapt-noadapt",
]


def icarl_memory_size(n_images: int, classes_per_step) -> int:
    """The largest iCaRL ``memory_size`` that never holds more than
    ``n_images``: Avalanche's iCaRL keeps ``ceil(memory_size / k)`` images of
    each of k classes, which can exceed ``memory_size``."""
    seen = [sum(classes_per_step[: i + 1]) for i in range(len(classes_per_step))]
    for m in range(n_images, 0, -1):
        if all(math.ceil(m / k) * k <= n_images for k in seen):
            return m
    raise ValueError(
        f"The budget holds {n_images} images, too few for {seen[-1]} classes."
    )


def build_strategy(
    name: str,
    *,
    model_factory: Callable,
    benchmark,
    memory_bytes: int,
    epochs: int,
    lr: float,
    batch_size: int,
    device,
    evaluator,
    eval_mb_size: int = 256,
    overrides: Optional[dict] = None,
):
    """Build strategy ``name`` with a fresh model from ``model_factory()``;
    ``overrides`` replaces some of its :data:`HYPERPARAMETERS`."""
    if name not in HYPERPARAMETERS:
        raise ValueError(f"Unknown strategy {name!r}; choose from {STRATEGIES}.")
    hp = {**HYPERPARAMETERS[name], **(overrides or {})}
    # Avalanche's iCaRL copies its model's state into a teacher of the first
    # experience's shape, so its head must be full width from the start.
    n_classes = sum(benchmark.n_classes_per_exp)
    model = (
        model_factory(initial_classes=n_classes) if name == "icarl" else model_factory()
    )
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    common = dict(
        optimizer=opt,
        train_mb_size=batch_size,
        train_epochs=epochs,
        eval_mb_size=eval_mb_size,
        device=device,
        evaluator=evaluator,
    )
    ce = torch.nn.CrossEntropyLoss()
    # images count as 8-bit pixels (memory.image_bytes), as MemoryBytes does
    x0 = benchmark.train_stream[0].dataset.eval()[0][0]
    n_images = images_in_budget(memory_bytes, x0)
    if name == "naive":
        return Naive(model=model, criterion=ce, **common)
    if name == "joint":
        return JointTraining(model=model, criterion=ce, **common)
    if name == "lwf":
        return LwF(model=model, criterion=ce, **hp, **common)
    if name == "replay":
        if n_images < 1:
            raise ValueError(f"memory_bytes={memory_bytes} holds no image.")
        policy = ClassBalancedBuffer(max_size=n_images, adaptive_size=True)
        return Naive(
            model=model,
            criterion=ce,
            plugins=[ReplayPlugin(mem_size=n_images, storage_policy=policy)],
            **common,
        )
    if name == "icarl":
        m = icarl_memory_size(n_images, benchmark.n_classes_per_exp)
        icarl = ICaRL(
            feature_extractor=model.feature_extractor,
            classifier=model.classifier,
            memory_size=m,
            buffer_transform=None,
            **hp,
            **common,
        )
        # Avalanche 0.6's iCaRL fills the means of classes not seen yet with
        # zero vectors, which its NCMClassifier can predict (accuracy below
        # chance before the last experience); mask them instead.
        icarl.model.eval_classifier = MaskedNCMClassifier(normalize=True)
        return icarl
    if name.startswith("sdc"):
        return SDCStrategy(model=model, **hp, **common)
    return FeatureAdaptationStrategy(
        model=model, memory_bytes=memory_bytes, **hp, **common
    )
