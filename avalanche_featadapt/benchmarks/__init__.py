"""Benchmarks: every builder of the package. Which benchmarks the comparison
offers, with their models and training settings, is one record each in
:mod:`avalanche_featadapt.compare.registry`.

- :func:`SplitDigits`: embedded (scikit-learn's 8x8 digits);
- :func:`SplitArrays`, :func:`split_npz`: any uint8 image arrays, e.g. the
  Fashion-MNIST subset (``--benchmark npz --data-root FILE.npz``);
- :func:`split_mnist`, :func:`split_fashion_mnist`: torchvision's raw files;
- :func:`split_image_tree` (``--benchmark imagefolder``) and
  :func:`split_cifar100`: any class-per-folder image tree, e.g. CIFAR-100
  exported as PNG files, and CIFAR-100's pickles, decoded once into uint8;
- :func:`split_imagefolder`: ImageNet subsets (224 x 224, decoded per epoch).

Every ``split_*`` builder is called as ``(protocol, seed=, data_root=)``.

Nothing is ever downloaded.
"""

from __future__ import annotations

from ..lazy import lazy_names

# name -> its module, imported on first use (PEP 562): the registry reads
# the layouts (.layouts) without importing torch or Avalanche
_HOMES = {
    "SplitArrays": ".arrays",
    "load_npz": ".arrays",
    "split_fashion_mnist": ".arrays",
    "split_mnist": ".arrays",
    "split_npz": ".arrays",
    "split_torchvision": ".arrays",
    "SplitDigits": ".digits",
    "digits_tensors": ".digits",
    "split_digits": ".digits",
    "parse_protocol": ".protocol",
    "read_cifar100": ".images",
    "read_image_tree": ".images",
    "split_cifar100": ".images",
    "split_image_tree": ".images",
    "split_imagefolder": ".real",
}


__getattr__, __dir__ = lazy_names(__name__, _HOMES)


__all__ = [
    "SplitArrays",
    "SplitDigits",
    "digits_tensors",
    "load_npz",
    "parse_protocol",
    "read_cifar100",
    "read_image_tree",
    "split_cifar100",
    "split_digits",
    "split_fashion_mnist",
    "split_mnist",
    "split_image_tree",
    "split_imagefolder",
    "split_npz",
    "split_torchvision",
]
