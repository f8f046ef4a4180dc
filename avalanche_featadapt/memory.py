"""What a strategy holds in memory, in bytes (the Avalanche metric that
reports it, :class:`~avalanche_featadapt.metrics.MemoryBytes`, is in
:mod:`avalanche_featadapt.metrics`).

One counting rule for the whole package (docs/comparison.md, "Memory in
bytes"), written here and nowhere else:

- an **image** costs its pixels at 8 bits, H x W x C bytes
  (:func:`image_bytes`), whatever dtype the dataset's transform turned it
  into: that is how images are stored on disk and how the paper and every
  image benchmark count them;
- a **feature**, prototype or quantisation scale costs its storage dtype's
  bytes (:func:`tensor_bytes`): 4 per float32 value, 2 per float16, 1 per
  int8, 1 per two int4 codes (packed into one uint8).

The byte budgets of Replay, iCaRL and the hybrid memory's images
(:func:`images_in_budget`), the feature buffer's sizing and
:class:`~avalanche_featadapt.metrics.MemoryBytes` all use these two functions.

Every plugin of the package that holds memory says what it holds through
one contract, :class:`HoldsMemory`; the counting asks each plugin, and never
which class it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Protocol, runtime_checkable

import torch

__all__ = [
    "HeldMemory",
    "HoldsMemory",
    "held_memory",
    "image_bytes",
    "images_in_budget",
    "memory_bytes_of",
    "stored_tensors",
    "tensor_bytes",
]


def image_bytes(image) -> int:
    """Bytes of an image (or a stack of images) stored as 8-bit pixels: one
    byte per value, H x W x C for one image. A 1x8x8 digit costs 64 bytes,
    a 3x32x32 CIFAR image 3,072, a 1x28x28 Fashion-MNIST image 784."""
    return int(torch.as_tensor(image).numel())


def tensor_bytes(t: torch.Tensor) -> int:
    """Bytes of a tensor at its storage dtype (features, prototypes, scales)."""
    return int(t.numel() * t.element_size())


def images_in_budget(memory_bytes: int, image) -> int:
    """How many images like ``image`` fit in ``memory_bytes``
    (:func:`image_bytes` each)."""
    return int(memory_bytes) // image_bytes(image)


@runtime_checkable
class HoldsMemory(Protocol):
    """The contract of a plugin that holds memory between experiences:
    :class:`~avalanche_featadapt.plugins.FeatureBuffer` (features and
    scales), :class:`~avalanche_featadapt.plugins.SDCPlugin` (prototypes)
    and the hybrid memory's image store. A plugin that also keeps images
    adds ``stored_images()``, a list of datasets whose images are counted
    at 8 bits per pixel (:func:`image_bytes`)."""

    def stored_tensors(self) -> List[torch.Tensor]:
        """:returns: the tensors held as memory, counted at their dtype
        (:func:`tensor_bytes`)."""


@dataclass
class HeldMemory:
    """What a memory holds: ``n_images`` images of ``bytes_per_image`` bytes
    each (8-bit pixels) and ``tensors`` counted at their dtype."""

    n_images: int = 0
    bytes_per_image: int = 0
    tensors: List[torch.Tensor] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return self.n_images * self.bytes_per_image + sum(
            tensor_bytes(t) for t in self.tensors
        )

    def __add__(self, other: "HeldMemory") -> "HeldMemory":
        if self.n_images and other.n_images:
            if self.bytes_per_image != other.bytes_per_image:
                raise ValueError("Images of different sizes in one strategy.")
        return HeldMemory(
            self.n_images + other.n_images,
            self.bytes_per_image or other.bytes_per_image,
            self.tensors + other.tensors,
        )


def _dataset_images(dataset) -> HeldMemory:
    """The images of an Avalanche dataset; they share one shape after the
    eval transform, so the first one gives the size of all."""
    n = len(dataset)
    if n == 0:
        return HeldMemory()
    ds = dataset.eval() if hasattr(dataset, "eval") else dataset
    return HeldMemory(n, image_bytes(ds[0][0]))


def stored_tensors(plugin) -> Optional[HeldMemory]:
    """What one memory plugin holds, or None for a plugin without memory.

    A plugin of this package answers through :class:`HoldsMemory`: its
    ``stored_tensors()`` and, if it keeps images, its ``stored_images()``.
    Avalanche's ``ReplayPlugin`` and iCaRL's internal plugin have no such
    accessor, so they are wrapped here, in one place: Replay's images are its
    storage policy's ``buffer``, iCaRL's are its plugin's ``x_memory`` (one
    tensor of images per class).

    :param plugin: any plugin of a strategy.
    :returns: the plugin's :class:`HeldMemory`, or None.
    """
    from avalanche.training.plugins import ReplayPlugin

    if isinstance(plugin, HoldsMemory):
        held = HeldMemory(tensors=list(plugin.stored_tensors()))
        for dataset in getattr(plugin, "stored_images", list)():
            held = held + _dataset_images(dataset)
        return held
    if isinstance(plugin, ReplayPlugin):
        return _dataset_images(plugin.storage_policy.buffer)
    x_memory = getattr(plugin, "x_memory", None)  # Avalanche's _ICaRLPlugin
    if isinstance(x_memory, list):
        held = [t for t in x_memory if len(t)]
        n = sum(len(t) for t in held)
        return HeldMemory(n, image_bytes(held[0][0]) if held else 0)
    return None


def held_memory(strategy) -> HeldMemory:
    """Everything a strategy's plugins hold between experiences (see
    :func:`stored_tensors`). Model weights and teachers are not counted (no
    paper counts them). JointTraining's memory is its whole training set:
    :class:`~avalanche_featadapt.metrics.MemoryBytes` reads it from the strategy's ``adapted_dataset``
    after training; outside training it is read from the experiences
    Avalanche keeps (privately) in ``_experiences``."""
    from avalanche.training import JointTraining

    out = HeldMemory()
    for p in strategy.plugins:
        held = stored_tensors(p)
        if held is not None:
            out = out + held
    if isinstance(strategy, JointTraining):
        for exp in getattr(strategy, "_experiences", []):
            out = out + _dataset_images(exp.dataset)
    return out


def memory_bytes_of(strategy) -> int:
    """Bytes of :func:`held_memory` under the package's counting rule."""
    return held_memory(strategy).nbytes
