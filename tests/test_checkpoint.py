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
from conftest import make_evaluator

JOB = Path(__file__).parent / "resume_job.py"


def job(*args):
    res = subprocess.run(
        [sys.executable, str(JOB), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]


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


def _strategy():
    m = make_digits_model()
    return FeatureAdaptationStrategy(
        model=m,
        optimizer=torch.optim.SGD(m.parameters(), lr=0.1),
        memory_bytes=1000,
        evaluator=make_evaluator(),
    )


def test_corrupted_checkpoint_is_refused_and_the_previous_one_kept(tmp_path, digits):
    s = _strategy()
    s.train(digits.train_stream[0])
    ckpt = tmp_path / "c.ckpt"
    save_checkpoint(s, ckpt)
    save_checkpoint(s, ckpt)  # the first becomes c.ckpt.prev
    good = (tmp_path / "c.ckpt.prev").read_bytes()
    ckpt.write_bytes(ckpt.read_bytes()[:500])  # a crash mid-write elsewhere
    fresh = _strategy()
    state = dict(fresh.__dict__)
    with pytest.raises(CheckpointError, match="corrupted.*c.ckpt.prev is intact"):
        load_checkpoint(fresh, ckpt)
    assert fresh.__dict__ == state  # nothing changed
    assert (tmp_path / "c.ckpt.prev").read_bytes() == good
    restored, nxt = load_checkpoint(_strategy(), tmp_path / "c.ckpt.prev")
    assert nxt == 1 and restored.buffer.classes == s.buffer.classes


def test_missing_checkpoint_starts_from_zero(tmp_path):
    s = _strategy()
    assert load_checkpoint(s, tmp_path / "none.ckpt") == (s, 0)
