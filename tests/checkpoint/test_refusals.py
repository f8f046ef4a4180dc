"""Checkpoints refuse what they cannot restore: a damaged record, another
model shape, head type or optimizer, a crafted file, another reader; and
saving leaves one file and one ``.prev``, or a clear error."""

import errno
import json
import multiprocessing
import os
import resource
import signal
import sys
import types
import zipfile
from pathlib import Path

import pytest
import torch

from avalanche_featadapt import FeatureAdaptationStrategy, make_digits_model
from avalanche_featadapt.checkpoint.atomic import write_atomically
from avalanche_featadapt.checkpoint.record import encode_record, read_record
from avalanche_featadapt.checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    load_checkpoint,
    save_checkpoint,
)
from helpers import make_evaluator

FORK = multiprocessing.get_context("fork")


def _strategy(opt="sgd", **model_kw):
    m = make_digits_model(**model_kw)
    if opt == "sgd":
        opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    return FeatureAdaptationStrategy(
        model=m,
        optimizer=opt,
        memory_bytes=4000,
        head_epochs=2,
        adapter_kwargs={"epochs": 2},
        evaluator=make_evaluator(),
    )


@pytest.fixture(scope="module")
def saved(digits, tmp_path_factory):
    """A trained strategy's checkpoint (next experience 1), and its bytes."""
    s = _strategy()
    s.train(digits.train_stream[0])
    path = tmp_path_factory.mktemp("saved") / "c.ckpt"
    save_checkpoint(s, path)
    return s, path.read_bytes()


def _snapshot(s):
    """Every attribute of the strategy, its modules and plugins (by
    identity), the weights and the optimizer's state."""
    objs = {f"model.{n}": m for n, m in s.model.named_modules()}
    objs.update({f"plugins[{i}]": p for i, p in enumerate(s.plugins)})
    objs.update(strategy=s, clock=s.clock)
    ids = {(w, k): id(v) for w, o in objs.items() for k, v in vars(o).items()}
    weights = {k: v.clone() for k, v in s.model.state_dict().items()}
    return ids, weights, repr(s.optimizer.state_dict())


def _unchanged(s, before):
    ids, weights, opt = _snapshot(s)
    assert ids == before[0] and repr(s.optimizer.state_dict()) == opt
    assert weights.keys() == before[1].keys()
    assert all(torch.equal(weights[k], before[1][k]) for k in weights)


def _two_files(tmp_path, raw):
    """c.ckpt holds ``raw``; c.ckpt.prev a good copy."""
    (tmp_path / "c.ckpt.prev").write_bytes(raw)
    (tmp_path / "c.ckpt").write_bytes(raw)
    return tmp_path / "c.ckpt"


@pytest.mark.parametrize("where", ["next_experience", "key"])
def test_a_flipped_byte_in_the_record_falls_back_to_prev(tmp_path, saved, where):
    raw = bytearray(saved[1])
    if where == "next_experience":  # the pickled int after its key: 1 -> 2
        at = raw.index(b"X\x0f\x00\x00\x00next_experience") + 20
        at += 2 if raw[at] == ord("q") else 0  # the key's memo entry
        assert raw[at : at + 2] == b"K\x01"
        raw[at + 1] ^= 0x03
    else:  # the key "payload" becomes "pbyload"
        raw[raw.index(b"X\x07\x00\x00\x00payload") + 6] ^= 0x03
    ckpt = _two_files(tmp_path, saved[1])
    ckpt.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="damaged.*c.ckpt.prev instead"):
        _, nxt = load_checkpoint(_strategy(), ckpt)
    assert nxt == 1
    (tmp_path / "c.ckpt.prev").unlink()
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(_strategy(), ckpt)


@pytest.mark.slow
def test_no_flipped_byte_outside_the_payload_changes_what_is_read(tmp_path, saved):
    raw = saved[1]
    path = tmp_path / "c.ckpt"
    path.write_bytes(raw)
    good = read_record(path, None)
    with zipfile.ZipFile(path) as z:
        payload = next(i for i in z.infolist() if i.filename.endswith("data/0"))
    fields = ("version", "strategy", "config", "config_hash", "next_experience")
    for i in range(payload.header_offset + 100):  # the record and the zip
        flipped = bytearray(raw)
        flipped[i] ^= 0xFF
        path.write_bytes(bytes(flipped))
        try:
            rec = read_record(path, None)
        except CheckpointMismatchError:
            raise AssertionError(f"byte {i}: damage read as another version")
        except CheckpointError:
            continue  # detected: load_checkpoint falls back to .prev
        assert all(rec[k] == good[k] for k in fields), f"byte {i}"


@pytest.mark.parametrize(
    "build, sides",
    [
        (dict(feature_dim=32), r"fc.weight: checkpoint shape \(64, 256\), this "),
        (dict(head="linear"), "checkpoint .*Cosine.*, this strategy .*Incremental"),
        (dict(opt="adam"), "optimizer: checkpoint .*SGD, this strategy .*Adam"),
    ],
    ids=["shape", "head", "optimizer"],
)
def test_another_model_or_optimizer_is_refused_before_anything_changes(
    tmp_path, saved, build, sides
):
    ckpt = _two_files(tmp_path, saved[1])
    other = _strategy(**build)
    before = _snapshot(other)
    with pytest.raises(CheckpointMismatchError, match=sides):
        load_checkpoint(other, ckpt)
    _unchanged(other, before)


def test_sgd_refuses_adams_state(tmp_path):
    save_checkpoint(_strategy(opt="adam"), tmp_path / "adam.ckpt")
    sgd = _strategy()
    before = _snapshot(sgd)
    with pytest.raises(CheckpointMismatchError, match="checkpoint .*Adam, this .*SGD"):
        load_checkpoint(sgd, tmp_path / "adam.ckpt")
    _unchanged(sgd, before)


def _plugin(state, cls):
    return next(p for p in state["plugins"] if p.get("__object__", "").endswith(cls))


_LINEAR = {
    "__module__": "torch.nn.modules.linear.Linear",
    "attrs": {"": {}},
    "kinds": {"": "torch.nn.modules.linear.Linear"},
    "state": {"weight": torch.zeros(2, 2), "bias": torch.zeros(2)},
}


def _forward_as_module(state):
    m = state["model"]
    m["kinds"]["classifier.forward"] = _LINEAR["__module__"]
    m["state"].update({"classifier.forward.weight": torch.zeros(2, 2)})
    m["state"].update({"classifier.forward.bias": torch.zeros(2)})


CRAFTED = {  # each tries to bind a callable, or a name of code, from the file
    "forward=zeros_like": lambda s: s["model"]["attrs"]["classifier"].update(
        forward={"__dtype__": "zeros_like"}
    ),
    "new attr=zeros_like": lambda s: s["model"]["attrs"]["classifier"].update(
        scale={"__dtype__": "zeros_like"}
    ),
    "forward=number": lambda s: s["model"]["attrs"]["classifier"].update(forward=1),
    "forward=module": _forward_as_module,
    "callback=dtype": lambda s: _plugin(s, "DistillationRegularizer")["state"].update(
        before_training_exp={"__dtype__": "float32"}
    ),
    "plugin attr=module": lambda s: _plugin(s, "DistillationRegularizer")[
        "state"
    ].update(hook=_LINEAR),
    "plugin attr=zeros_like": lambda s: _plugin(s, "Distillation")["state"].update(
        extra={"__dtype__": "zeros_like"}
    ),
    "__class__": lambda s: _plugin(s, "DistillationRegularizer")["state"].update(
        __class__={"__ref__": "model"}
    ),
    "object array": lambda s: _plugin(s, "DistillationRegularizer")["state"].update(
        extra={"__ndarray__": torch.zeros(2), "dtype": "O"}
    ),
}


@pytest.mark.parametrize("craft", list(CRAFTED))
def test_a_crafted_file_binds_no_callable(tmp_path, saved, craft):
    path = tmp_path / "c.ckpt"
    path.write_bytes(saved[1])
    rec = read_record(path, None)  # a file made to pass the checksum
    CRAFTED[craft](rec["state"])
    header = {k: rec[k] for k in ("strategy", "config_hash", "next_experience")}
    header["config"] = json.dumps(rec["config"], sort_keys=True)
    path.write_bytes(encode_record(header, rec["state"]))
    s = _strategy()
    before = _snapshot(s)
    with pytest.raises(CheckpointError, match="nothing was changed"):
        load_checkpoint(s, path)
    _unchanged(s, before)
    assert "forward" not in vars(s.model.classifier)


def test_avalanches_maybe_load_checkpoint_gets_the_packages_error(tmp_path, saved):
    from avalanche.checkpointing import maybe_load_checkpoint

    path = tmp_path / "c.ckpt"
    path.write_bytes(saved[1])
    s = _strategy()
    state = dict(s.__dict__)
    with pytest.raises(CheckpointError, match="load it with avalanche_featadapt"):
        maybe_load_checkpoint(s, str(path))
    assert s.__dict__ == state


@pytest.mark.parametrize("below", ["f/c.ckpt", "f/sub/c.ckpt"])
def test_saving_below_a_file_is_a_clear_error(tmp_path, saved, below):
    (tmp_path / "f").write_text("a file")
    with pytest.raises(CheckpointError, match="f is a file, not a folder"):
        save_checkpoint(saved[0], tmp_path / below)
    assert sorted(os.listdir(tmp_path)) == ["f"]


@pytest.mark.parametrize("limit", ["EFBIG", "ENOSPC"])
def test_a_full_disk_or_size_limit_is_a_clear_error(
    tmp_path, saved, limit, monkeypatch
):
    ckpt = tmp_path / "c.ckpt"
    ckpt.write_bytes(saved[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if limit == "ENOSPC":
        enospc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(enospc))
        match = "the disk is full"
    else:  # a real limit: the write fails with EFBIG part-way
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(saved[1]) // 2, hard))
        match = "file-size limit"
    try:
        with pytest.raises(CheckpointError, match=match):
            save_checkpoint(saved[0], ckpt)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert ckpt.read_bytes() == saved[1]  # the last good file is kept
    assert os.listdir(tmp_path) == ["c.ckpt"]


def _killed_save(ckpt: Path, when: str):
    """Save, and die by SIGKILL at the first (keeping .prev) or the last
    (moving the new file into place) rename."""
    real = os.replace

    def replace(src, dst):
        if when == "keeping .prev" or Path(dst) == ckpt:
            os.kill(os.getpid(), signal.SIGKILL)
        real(src, dst)

    os.replace = replace
    write_atomically(ckpt, lambda f: f.write(b"x" * 100_000))


@pytest.mark.parametrize("when", ["keeping .prev", "moving into place"])
def test_the_next_save_removes_what_an_interrupted_one_left(tmp_path, saved, when):
    ckpt = tmp_path / "c.ckpt"
    ckpt.write_bytes(saved[1])
    p = FORK.Process(target=_killed_save, args=(ckpt, when))
    p.start()
    p.join()
    assert p.exitcode == -signal.SIGKILL
    assert len(os.listdir(tmp_path)) > 1  # it left its temporary files
    save_checkpoint(saved[0], ckpt)
    assert sorted(os.listdir(tmp_path)) == ["c.ckpt", "c.ckpt.prev"]
    assert load_checkpoint(_strategy(), ckpt)[1] == 1


def _writes(ckpt, data, n):
    for _ in range(n):
        write_atomically(ckpt, lambda f: f.write(data))


def test_concurrent_writer_processes_leave_one_file_and_one_prev(tmp_path, saved):
    ckpt = tmp_path / "c.ckpt"
    procs = [FORK.Process(target=_writes, args=(ckpt, saved[1], 8)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0] * 4
    assert sorted(os.listdir(tmp_path)) == ["c.ckpt", "c.ckpt.prev"]
    assert load_checkpoint(_strategy(), ckpt)[1] == 1


def test_two_writers_keeping_the_same_prev_leave_no_hidden_link(tmp_path, saved):
    from avalanche_featadapt.checkpoint.atomic import _keep_prev

    ckpt = tmp_path / "c.ckpt"
    ckpt.write_bytes(saved[1])
    _keep_prev(ckpt)  # as two writers that both found this file current:
    _keep_prev(ckpt)  # the second rename joins two links of one file
    assert sorted(os.listdir(tmp_path)) == ["c.ckpt", "c.ckpt.prev"]


def test_a_file_that_an_earlier_release_wrote_is_read(tmp_path, saved, monkeypatch):
    """Earlier releases wrote the record's format tag as a call to
    ``avalanche_featadapt._record._format_tag``; their files load as before."""
    from avalanche_featadapt.checkpoint import record

    path = tmp_path / "c.ckpt"
    path.write_bytes(saved[1])
    rec = read_record(path, None)
    header = {k: rec[k] for k in ("strategy", "config_hash", "next_experience")}
    header["config"] = json.dumps(rec["config"], sort_keys=True)
    old = types.ModuleType("avalanche_featadapt._record")
    old._format_tag = record._legacy_format_tag
    with monkeypatch.context() as m:  # pickle names the tag by its old path
        m.setitem(sys.modules, old.__name__, old)
        m.setattr(record._FormatTag, "__reduce__", lambda self: (old._format_tag, ()))
        path.write_bytes(encode_record(header, rec["state"]))
    assert b"avalanche_featadapt._record\n_format_tag" in path.read_bytes()
    assert load_checkpoint(_strategy(), path)[1] == 1
