"""Real-image benchmarks from local files: .npz arrays and torchvision's raw
(Fashion-)MNIST layout. Nothing is ever downloaded."""

import numpy as np
import pytest
import torch

from avalanche_featadapt.benchmarks import load_npz, split_fashion_mnist, split_npz

from helpers import ROOT

FASHION = ROOT.parent / "shared/data/fashion-mnist-test-4443.npz"


def _npz(path, x, y):
    np.savez(path, x=x, y=y)
    return path


def test_npz_rgb_images_stratified_split(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (100, 6, 5, 3), dtype=np.uint8)  # N x H x W x C
    y = np.repeat(np.arange(4), 25)
    bm = split_npz("b0-2", seed=0, data_root=_npz(tmp_path / "a.npz", x, y))
    assert bm.n_classes_per_exp == [2, 2]
    train = sum(len(e.dataset) for e in bm.train_stream)
    test = sum(len(e.dataset) for e in bm.test_stream)
    assert (train, test) == (70, 30)  # 70/30
    for e in bm.test_stream:  # stratified: 30 % of 25 per class, rounded
        counts = torch.bincount(torch.as_tensor(e.dataset.targets))
        assert sorted(counts[counts > 0].tolist()) in ([7, 8], [8, 7], [7, 7], [8, 8])
    img, label = bm.train_stream[0].dataset[0][:2]
    assert img.shape == (3, 6, 5) and img.dtype == torch.float32
    # pixel values in [0, 1]: the uint8 value / 255, channels first
    xs, ys = load_npz(tmp_path / "a.npz")
    assert torch.allclose(xs[0, :, 2, 1], torch.from_numpy(x[0, 2, 1]).float() / 255)


@pytest.mark.parametrize(
    "x, y, match",
    [
        (np.zeros((10, 4, 4), np.float32), np.arange(10) % 2, "must be uint8"),
        (np.zeros((10, 4), np.uint8), np.arange(10) % 2, "N x H x W"),
        (np.zeros((10, 4, 4), np.uint8), np.arange(9) % 2, "N integer labels"),
        (np.zeros((10, 4, 4), np.uint8), np.arange(10) % 2 + 3, "0..K-1"),
    ],
)
def test_npz_bad_arrays_are_refused_clearly(tmp_path, x, y, match):
    with pytest.raises(ValueError, match=match):
        split_npz("b0-2", seed=0, data_root=_npz(tmp_path / "b.npz", x, y))


def test_npz_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an .npz file"):
        split_npz("b0-5", seed=0, data_root=tmp_path / "none.npz")
    with pytest.raises(FileNotFoundError, match="needs --data-root FILE.npz"):
        split_npz("b0-5", seed=0, data_root=None)


@pytest.mark.skipif(not FASHION.exists(), reason="../shared/data not here")
def test_fashion_subset_npz():
    bm = split_npz("b0-5", seed=0, data_root=FASHION)
    train = sum(len(e.dataset) for e in bm.train_stream)
    test = sum(len(e.dataset) for e in bm.test_stream)
    assert (train, test) == (3110, 1333)  # 4,443 images, 70/30
    assert bm.train_stream[0].dataset[0][0].shape == (1, 28, 28)


def _idx(path, arr):
    """Write an IDX file (the MNIST format): magic, dims, uint8 data."""
    arr = np.asarray(arr, dtype=np.uint8)
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in arr.shape
    )
    path.write_bytes(head + arr.tobytes())


def _fashion_raw(root, n=40):
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split in ("train", "t10k"):
        _idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    return raw


def test_fashion_mnist_torchvision_layout(tmp_path):
    _fashion_raw(tmp_path)
    bm = split_fashion_mnist("b0-5", seed=0, data_root=tmp_path)
    assert bm.n_classes_per_exp == [2] * 5
    assert sum(len(e.dataset) for e in bm.train_stream) == 40
    assert bm.train_stream[0].dataset[0][0].shape == (1, 28, 28)


def test_damaged_or_missing_files_never_download(tmp_path, monkeypatch):
    import urllib.request

    def no_network(*a, **k):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    raw = _fashion_raw(tmp_path)
    (raw / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08")  # truncated
    with pytest.raises(ValueError, match="damaged"):
        split_fashion_mnist("b0-5", seed=0, data_root=tmp_path)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        split_fashion_mnist("b0-5", seed=0, data_root=tmp_path)
