import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from avalanche_featadapt import FeatureAdaptationStrategy, make_digits_model
from avalanche_featadapt.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from helpers import make_evaluator

JOB = Path(__file__).parent / "resume_job.py"


def job(*args):
    res = subprocess.run(
        [sys.executable, str(JOB), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]


@pytest.mark.slow
def test_resume_in_a_new_process_matches_an_uninterrupted_run(tmp_path):
    ckpt = tmp_path / "fa.ckpt"
    job("full", ckpt, tmp_path / "full.pt")
    job("stop", ckpt, tmp_path / "unused.pt", 2)  # stopped after experience 2 of 5
    assert ckpt.exists()
    job("resume", ckpt, tmp_path / "resumed.pt")  # a new process
    full, resumed = torch.load(tmp_path / "full.pt"), torch.load(
        tmp_path / "resumed.pt"
    )
    assert resumed["acc"] == full["acc"]
    assert torch.equal(resumed["buffer"][0], full["buffer"][0])  # bit-identical
    assert torch.equal(resumed["buffer"][1], full["buffer"][1])


@pytest.mark.slow
def test_same_seed_gives_identical_per_experience_accuracies(digits):
    def run():
        torch.manual_seed(0)
        m = make_digits_model()
        s = FeatureAdaptationStrategy(
            model=m,
            optimizer=torch.optim.Adam(m.parameters(), lr=3e-4),
            memory_bytes=51200,
            train_epochs=2,
            adapter_kwargs={"epochs": 5},
            head_epochs=5,
            evaluator=make_evaluator(),
        )
        accs = []
        for i, exp in enumerate(digits.train_stream[:3]):
            s.train(exp)
            r = s.eval(digits.test_stream[: i + 1])
            accs.append(r["Top1_Acc_Stream/eval_phase/test_stream/Task000"])
        return accs

    assert run() == run()


def _strategy(**kw):
    m = make_digits_model()
    kw.setdefault("memory_bytes", 4000)
    return FeatureAdaptationStrategy(
        model=m,
        optimizer=torch.optim.SGD(m.parameters(), lr=0.1),
        head_epochs=2,
        adapter_kwargs={"epochs": 2},
        evaluator=make_evaluator(),
        **kw,
    )


@pytest.fixture
def trained(digits):
    s = _strategy()
    s.train(digits.train_stream[0])
    return s


def _same(a, b):
    """Same weights and same stored features."""
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return (
        sa.keys() == sb.keys()
        and all(torch.equal(sa[k], sb[k]) for k in sa)
        and a.buffer.classes == b.buffer.classes
        and torch.equal(a.buffer.features()[0], b.buffer.features()[0])
    )


def test_round_trip_restores_the_state(tmp_path, trained, digits):
    trained.train(digits.train_stream[1])
    ckpt = save_checkpoint(trained, tmp_path / "c.ckpt")
    restored, nxt = load_checkpoint(_strategy(), ckpt)
    assert nxt == 2 and _same(restored, trained)
    assert len(restored.adapter.adapters) == 1
    assert restored.distillation.seen_classes == trained.distillation.seen_classes
    # only the package's reader opens it; a full unpickler stops at once
    with pytest.raises(CheckpointError, match="load it with avalanche_featadapt"):
        torch.load(ckpt, weights_only=False)


def test_round_trip_keeps_int4_codes_and_their_offsets(tmp_path, digits):
    s = _strategy(feature_dtype="int4")
    for exp in digits.train_stream[:2]:
        s.train(exp)
    ckpt = save_checkpoint(s, tmp_path / "c.ckpt")
    restored, _ = load_checkpoint(_strategy(feature_dtype="int4"), ckpt)
    assert _same(restored, s)
    codes, scales = restored.buffer.stored_tensors()[:: len(s.buffer.classes)]
    assert codes.dtype == torch.uint8 and codes.shape[1] == 32  # 64-d, packed
    assert scales.shape[1] == 2  # offset and step
    assert restored.buffer.nbytes == s.buffer.nbytes == len(s.buffer) * 40


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (Path(self.target), "pwned"))


@pytest.mark.parametrize("how", ["pickle", "torch"])
def test_a_crafted_pickle_runs_no_code(tmp_path, how):
    import pickle

    marker = tmp_path / "marker"
    ckpt = tmp_path / "evil.ckpt"
    if how == "pickle":
        ckpt.write_bytes(pickle.dumps(_Evil(str(marker))))
    else:
        torch.save({"format": "x", "model": _Evil(str(marker))}, ckpt)
    s = _strategy()
    state = dict(s.__dict__)
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(s, ckpt)
    assert not marker.exists()
    assert s.__dict__ == state


def test_a_crash_before_the_final_rename_keeps_the_last_good_file(
    tmp_path, trained, digits, monkeypatch
):
    ckpt = tmp_path / "c.ckpt"
    save_checkpoint(trained, ckpt)
    good = ckpt.read_bytes()
    trained.train(digits.train_stream[1])
    real = os.replace

    def crash(src, dst):  # kill -9 just before the new file moves into place
        if Path(dst) == ckpt:
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(trained, ckpt)
    monkeypatch.undo()
    assert ckpt.read_bytes() == good  # the current file was never missing
    assert (tmp_path / "c.ckpt.prev").read_bytes() == good
    assert not list(tmp_path.glob("*.tmp"))
    assert load_checkpoint(_strategy(), ckpt)[1] == 1


def test_a_missing_current_file_falls_back_to_prev_with_a_warning(tmp_path, trained):
    ckpt = tmp_path / "c.ckpt"
    save_checkpoint(trained, ckpt)
    save_checkpoint(trained, ckpt)
    ckpt.unlink()
    with pytest.warns(UserWarning, match="c.ckpt.prev instead"):
        restored, nxt = load_checkpoint(_strategy(), ckpt)
    assert nxt == 1 and _same(restored, trained)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_file_falls_back_to_prev_or_is_refused(tmp_path, trained, damage):
    ckpt = tmp_path / "c.ckpt"
    save_checkpoint(trained, ckpt)
    raw = bytearray(ckpt.read_bytes())
    if damage == "truncate":
        raw = raw[:500]
    else:  # one flipped byte inside the payload's tensor data
        raw[len(raw) // 2] ^= 0xFF
    ckpt.write_bytes(bytes(raw))
    fresh = _strategy()
    state = dict(fresh.__dict__)
    with pytest.raises(CheckpointError, match="damaged|not a readable"):
        load_checkpoint(fresh, ckpt)
    assert fresh.__dict__ == state  # nothing changed
    save_checkpoint(trained, tmp_path / "d.ckpt")  # now with a good .prev
    save_checkpoint(trained, tmp_path / "d.ckpt")
    (tmp_path / "d.ckpt").write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="d.ckpt.prev instead"):
        restored, nxt = load_checkpoint(_strategy(), tmp_path / "d.ckpt")
    assert nxt == 1 and _same(restored, trained)


def test_concurrent_writers_never_lose_the_checkpoint(tmp_path, trained):
    import threading

    ckpt = tmp_path / "c.ckpt"
    errors = []

    def writer():
        try:
            for _ in range(4):
                save_checkpoint(trained, ckpt)
        except Exception as e:  # noqa: BLE001 - the test reports any
            errors.append(e)

    for _ in range(3):
        threads = [threading.Thread(target=writer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert load_checkpoint(_strategy(), ckpt)[1] == 1
    # no hidden temporary file beside the one kept copy
    assert sorted(os.listdir(tmp_path)) == ["c.ckpt", "c.ckpt.prev"]


def test_a_checkpoint_of_another_strategy_is_refused(tmp_path, digits):
    from avalanche.training import Naive

    m = make_digits_model()
    naive = Naive(
        model=m,
        optimizer=torch.optim.SGD(m.parameters(), lr=0.1),
        criterion=torch.nn.CrossEntropyLoss(),
        evaluator=make_evaluator(),
    )
    naive.train(digits.train_stream[0])
    save_checkpoint(naive, tmp_path / "n.ckpt")
    fa = _strategy()
    plugins = list(fa.plugins)
    with pytest.raises(CheckpointError, match="saved by .*Naive; this strategy is"):
        load_checkpoint(fa, tmp_path / "n.ckpt")
    assert fa.plugins == plugins


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path, digits):
    s = _strategy(memory_bytes=1000, feature_dtype="float32")
    s.train(digits.train_stream[0])
    save_checkpoint(s, tmp_path / "c.ckpt")
    target = _strategy(memory_bytes=51200)
    with pytest.raises(CheckpointError, match="another configuration") as e:
        load_checkpoint(target, tmp_path / "c.ckpt")
    msg = str(e.value)
    assert "checkpoint 1000, this strategy 51200" in msg
    assert "checkpoint 'float32', this strategy 'int4'" in msg
    assert target.buffer.classes == []


def test_folders_are_clear_errors(tmp_path, trained):
    (tmp_path / "dir.ckpt").mkdir()
    with pytest.raises(CheckpointError, match="is a folder"):
        save_checkpoint(trained, tmp_path / "dir.ckpt")
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(_strategy(), tmp_path / "dir.ckpt")
    assert not (tmp_path / "dir.ckpt.prev").exists()
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(_strategy(), tmp_path / "missing" / "c.ckpt")


def test_a_strategy_holding_datasets_is_refused_at_save(tmp_path, digits):
    from avalanche.training import Naive
    from avalanche.training.plugins import ReplayPlugin

    m = make_digits_model()
    s = Naive(
        model=m,
        optimizer=torch.optim.SGD(m.parameters(), lr=0.1),
        criterion=torch.nn.CrossEntropyLoss(),
        plugins=[ReplayPlugin(mem_size=20)],
        evaluator=make_evaluator(),
    )
    s.train(digits.train_stream[0])
    with pytest.raises(CheckpointError, match="dataset.*nothing was written"):
        save_checkpoint(s, tmp_path / "r.ckpt")
    assert list(tmp_path.iterdir()) == []


def test_missing_checkpoint_starts_from_zero(tmp_path):
    s = _strategy()
    assert load_checkpoint(s, tmp_path / "none.ckpt") == (s, 0)
