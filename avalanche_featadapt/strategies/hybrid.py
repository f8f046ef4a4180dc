"""The paper's hybrid memory: part of the byte budget keeps images (Avalanche's
``ReplayPlugin``), the rest keeps features (Iscen et al., ECCV 2020, Sec. 4:
"hybrid"; docs/method.md)."""

from __future__ import annotations

from avalanche.training.plugins import ReplayPlugin
from avalanche.training.storage_policy import ClassBalancedBuffer

from ..memory import image_bytes as bytes_of_image  # the one counting rule

__all__ = ["ImageMemory", "make_image_memory", "stored_images"]


class ImageMemory(ReplayPlugin):
    """The hybrid memory's images: Avalanche's ``ReplayPlugin``, unchanged,
    that also says what it holds
    (:class:`~avalanche_featadapt.memory.HoldsMemory`)."""

    def stored_tensors(self) -> list:
        """Tensors held at their dtype: none, the images are counted by
        :meth:`stored_images`.

        :returns: an empty list.
        """
        return []

    def stored_images(self) -> list:
        """The stored images, counted at 8 bits per pixel.

        :returns: one dataset, the storage policy's buffer.
        """
        return [self.storage_policy.buffer]


def stored_images(strategy):
    """The hybrid memory's images (old classes, before this experience's
    update), for the adapter's feature pairs.

    :param strategy: a strategy that may have an ``image_memory``.
    :returns: a list of datasets, empty without a hybrid memory.
    """
    mem = getattr(strategy, "image_memory", None)
    return mem.stored_images() if mem is not None else []


def make_image_memory(strategy, exp):
    """Split ``strategy.memory_bytes`` between images and features: an
    :class:`ImageMemory` (Avalanche's ``ReplayPlugin``) with a class-balanced
    buffer of ``image_fraction`` of the bytes (8-bit images), inserted before
    the feature buffer, which keeps the rest."""
    image_bytes = bytes_of_image(exp.dataset.eval()[0][0])  # 8-bit pixels
    n_images = int(strategy.image_fraction * strategy.memory_bytes) // image_bytes
    if n_images < 1:
        raise ValueError(
            f"image_fraction={strategy.image_fraction} of memory_bytes="
            f"{strategy.memory_bytes} holds no image of {image_bytes} bytes; raise "
            "one of them."
        )
    policy = ClassBalancedBuffer(max_size=n_images, adaptive_size=True)
    strategy.image_memory = ImageMemory(mem_size=n_images, storage_policy=policy)
    strategy.plugins.insert(
        strategy.plugins.index(strategy.buffer), strategy.image_memory
    )
    strategy.buffer.memory_bytes = strategy.memory_bytes - n_images * image_bytes
