"""``--benchmark imagefolder`` and ``split-cifar100``: class-per-folder image
trees and CIFAR-100's pickles, on tiny data the tests write themselves."""

import pickle

import numpy as np
import pytest
import torch

from avalanche_featadapt.benchmarks import images
from avalanche_featadapt.benchmarks.images import read_cifar100, read_image_tree
from avalanche_featadapt.compare import BENCHMARKS, run_comparison
from avalanche_featadapt.memory import image_bytes

CLASSES = ["apple", "bee", "cat", "dog"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATADAPT_CACHE", str(tmp_path / "cache"))


def _images(n_per_class, seed, shape=(8, 8, 3)):
    rng = np.random.default_rng(seed)
    return {c: rng.integers(0, 256, (n_per_class, *shape), np.uint8) for c in CLASSES}


def write_tree(root, train, test, test_dir="test", ext="png"):
    from PIL import Image

    for split, data in (("train", train), (test_dir, test)):
        for c, xs in data.items():
            (root / split / c).mkdir(parents=True)
            for i, x in enumerate(xs):
                Image.fromarray(x.squeeze(-1) if x.shape[-1] == 1 else x).save(
                    root / split / c / f"{c}_{i:04d}.{ext}"
                )
    return root


def write_pickles(root, train, test, order_seed=0):
    """CIFAR-100's python layout, fine labels in an order other than the
    alphabetical one, images shuffled."""
    base = root / "cifar-100-python"
    base.mkdir(parents=True)
    names = CLASSES[::-1]
    for split, data in (("train", train), ("test", test)):
        xs = np.concatenate([data[c] for c in CLASSES])
        ys = np.concatenate([[names.index(c)] * len(data[c]) for c in CLASSES])
        perm = np.random.default_rng(order_seed).permutation(len(ys))
        flat = xs[perm].transpose(0, 3, 1, 2).reshape(len(ys), -1)
        d = {b"data": flat, b"fine_labels": ys[perm].tolist()}
        (base / split).write_bytes(pickle.dumps(d))
    (base / "meta").write_bytes(pickle.dumps({b"fine_label_names": names}))
    return root


def test_tree_is_a_benchmark_of_uint8_images_counted_at_their_size(tmp_path):
    root = write_tree(tmp_path / "t", _images(6, 0), _images(2, 1))
    bm = BENCHMARKS["imagefolder"].build("b50-2", seed=0, data_root=root)
    assert bm.n_classes_per_exp == [2, 1, 1]
    assert sum(len(e.dataset) for e in bm.train_stream) == 24
    assert sum(len(e.dataset) for e in bm.test_stream) == 8
    x = bm.train_stream[0].dataset.eval()[0][0]
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32
    assert image_bytes(x) == 8 * 8 * 3  # an image costs its 8-bit size
    x_tr = read_image_tree(root)[0]
    assert x_tr.dtype == np.uint8 and x_tr.shape == (24, 8, 8, 3)
    # evaluation images: the uint8 pixels normalised by the training images'
    # channel statistics, so over all training images each channel has mean 0
    evals = torch.stack(
        [e.dataset.eval()[i][0] for e in bm.train_stream for i in range(len(e.dataset))]
    )
    assert torch.allclose(evals.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(
        evals.std((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4
    )
    # training images are augmented (random crop with padding, flip)
    torch.manual_seed(0)
    draws = [bm.train_stream[0].dataset[0][0] for _ in range(8)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])


def test_decoded_once_then_read_from_the_cache(tmp_path, monkeypatch):
    root = write_tree(tmp_path / "t", _images(3, 0), _images(2, 1), ext="jpg")
    first = read_image_tree(root)
    monkeypatch.setattr(images, "_decode", lambda *a: pytest.fail("decoded again"))
    again = read_image_tree(root)
    for a, b in zip(first[:4], again[:4]):
        assert np.array_equal(a, b)
    assert again[4] == CLASSES


def test_order_depends_on_the_pixels_not_the_file_names(tmp_path):
    train, test = _images(5, 0), _images(2, 1)
    a = read_image_tree(write_tree(tmp_path / "a", train, test))
    b = write_tree(tmp_path / "b", {c: x[::-1] for c, x in train.items()}, test)
    for p in (b / "train" / "cat").iterdir():
        p.rename(p.with_name("z" + p.name))
    for u, v in zip(a[:4], read_image_tree(b)[:4]):
        assert np.array_equal(u, v)


def test_same_data_in_both_layouts_gives_the_same_results(tmp_path):
    train, test = _images(6, 0, (32, 32, 3)), _images(3, 1, (32, 32, 3))
    tree = write_tree(tmp_path / "png", train, test, test_dir="val")
    pickles = write_pickles(tmp_path / "pkl", train, test)
    a, b = read_image_tree(tree), read_cifar100(pickles)
    for u, v in zip(a[:4], b[:4]):
        assert np.array_equal(u, v)
    assert a[4] == b[4] == CLASSES
    kw = dict(protocol="b50-2", strategies=["naive"], seeds=[0], epochs=1, quiet=True)
    rows = [
        run_comparison(benchmark=name, data_root=root, **kw)
        for name, root in (("imagefolder", tree), ("split-cifar100", pickles))
    ]
    keys = ("accuracy", "new_accuracy", "held_bytes")
    assert [[r[k] for k in keys] for r in rows[0]] == [
        [r[k] for k in keys] for r in rows[1]
    ]


def test_train_per_class_keeps_a_fixed_subset(tmp_path):
    root = write_tree(tmp_path / "t", _images(6, 0), _images(2, 1))
    build = BENCHMARKS["imagefolder"].build
    bm = build("b0-2", seed=0, data_root=root, train_per_class=4)
    assert sum(len(e.dataset) for e in bm.train_stream) == 16
    assert sum(len(e.dataset) for e in bm.test_stream) == 8  # test untouched
    other = build("b0-2", seed=1, data_root=root, train_per_class=4)
    kept = {
        tuple(e.dataset.eval()[i][0].flatten()[:4].tolist())
        for e in bm.train_stream
        for i in range(len(e.dataset))
    }
    kept1 = {
        tuple(e.dataset.eval()[i][0].flatten()[:4].tolist())
        for e in other.train_stream
        for i in range(len(e.dataset))
    }
    assert kept == kept1  # the same images whatever the seed
    with pytest.raises(ValueError, match="pass at most 6"):
        build("b0-2", seed=0, data_root=root, train_per_class=7)
    with pytest.raises(ValueError, match="positive integer"):
        build("b0-2", seed=0, data_root=root, train_per_class=0)


def _garbage(root):
    (root / "train" / "bee" / "broken.png").write_bytes(b"not a png")
    return "broken.png"


def _mixed(root):
    from PIL import Image

    Image.fromarray(np.zeros((9, 8, 3), np.uint8)).save(root / "test" / "dog" / "z.png")
    return "z.png"


def _grey(root):
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "train" / "cat" / "g.png")
    return "g.png"


def _missing(root):
    import shutil

    shutil.rmtree(root / "test" / "cat")
    return "'cat'"


def _empty(root):
    (root / "train" / "eel").mkdir()
    (root / "test" / "eel").mkdir()
    (root / "train" / "eel" / "notes.txt").write_text("no image")
    return "holds no image"


@pytest.mark.parametrize("damage", [_garbage, _mixed, _grey, _missing, _empty])
def test_bad_trees_get_an_error_that_names_the_file(tmp_path, damage):
    root = write_tree(tmp_path / "t", _images(2, 0), _images(1, 1))
    named = damage(root)
    with pytest.raises(ValueError, match=named):
        BENCHMARKS["imagefolder"].build("b0-2", seed=0, data_root=root)


def test_missing_tree_and_bad_protocol(tmp_path):
    build = BENCHMARKS["imagefolder"].build
    with pytest.raises(FileNotFoundError, match="needs --data-root"):
        build("b0-2", seed=0, data_root=None)
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match="no train/ and test/"):
        build("b0-2", seed=0, data_root=tmp_path)
    with pytest.raises(ValueError, match="Unknown protocol"):
        build("b50", seed=0, data_root=tmp_path)  # refused before reading
    root = write_tree(tmp_path / "t", _images(2, 0), _images(1, 1))
    with pytest.raises(ValueError, match="do not split"):
        build("b0-3", seed=0, data_root=root)


def test_damaged_pickles(tmp_path):
    root = write_pickles(tmp_path / "p", _images(2, 0), _images(1, 1))
    (root / "cifar-100-python" / "train").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ValueError, match="damaged"):
        read_cifar100(root)


def test_gpu_recipe_is_resnet32_and_cpu_keeps_the_small_cnn():
    """``--device cuda`` trains CIFAR-sized images with ResNet-32 for the GPU
    recipe's epochs; the CPU keeps the record (no GPU needed to check)."""
    from avalanche_featadapt.compare.workers import model_factory_of
    from avalanche_featadapt.models import DigitsCNN, ResNet32Features

    for name in ("imagefolder", "split-cifar100"):
        spec = BENCHMARKS[name]
        assert spec.on("cpu") is spec
        gpu = spec.on("cuda")
        assert (gpu.epochs, gpu.batch_size, gpu.best_epochs) == (60, 128, {})
        big = gpu.model((3, 32, 32))(initial_classes=2)
        small = spec.model((3, 32, 32))(initial_classes=2)
        assert isinstance(big.feature_extractor, ResNet32Features)
        assert isinstance(small.feature_extractor, DigitsCNN)

    class _Bench:  # what model_factory_of reads: one training image's shape
        class _Exp:
            class dataset:
                @staticmethod
                def eval():
                    return [(torch.zeros(3, 32, 32), 0)]

        train_stream = [_Exp]

    on_gpu = model_factory_of("imagefolder", _Bench, "cuda")(initial_classes=2)
    assert isinstance(on_gpu.feature_extractor, ResNet32Features)
