"""Training budgets chosen on validation data: the held-out split, the two
rules, average incremental accuracy, `featadapt compare` at both training
budgets and `featadapt select` end to end."""

import csv
import dataclasses

import numpy as np
import pytest
import torch

from avalanche_featadapt.compare import BENCHMARKS, main, run_comparison
from avalanche_featadapt.compare.report import stats, summarize
from avalanche_featadapt.compare.select import best_epochs, check_lr_grid, held_out
from avalanche_featadapt.compare.select import shared_epochs, shared_lr
from avalanche_featadapt.compare.trainings import epochs_plan


def _images(dataset):
    """The multiset of (image bytes, label) of ``dataset``."""
    out = {}
    for x, y, *_ in dataset:
        k = (x.numpy().tobytes(), int(y))
        out[k] = out.get(k, 0) + 1
    return out


def test_validation_split_is_disjoint_stratified_and_never_the_test_stream():
    bm = BENCHMARKS["split-digits"].build("b50-5", seed=1)
    before = torch.random.get_rng_state()
    val = held_out(bm, 0.2)
    assert torch.equal(before, torch.random.get_rng_state())
    assert val.n_classes_per_exp == bm.n_classes_per_exp
    assert len(val.train_stream) == len(val.test_stream) == len(bm.train_stream)
    test_images = set()
    for e in bm.test_stream:
        test_images |= set(_images(e.dataset))
    for i, orig in enumerate(bm.train_stream):
        tr, va = val.train_stream[i].dataset, val.test_stream[i].dataset
        assert val.train_stream[i].classes_in_this_experience == (
            orig.classes_in_this_experience
        )
        # the original training images, split in two: nothing added (no test
        # image), nothing shared, nothing lost
        a, b, whole = _images(tr), _images(va), _images(orig.dataset)
        both = {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}
        assert both == whole and len(tr) + len(va) == len(orig.dataset)
        # stratified: 20 % of each class
        y, yv = np.asarray(list(orig.dataset.targets)), np.asarray(list(va.targets))
        for c in set(y.tolist()):
            assert (yv == c).sum() == round(0.2 * (y == c).sum())
    # the same split every time
    again = held_out(bm, 0.2)
    assert _images(again.test_stream[2].dataset) == _images(val.test_stream[2].dataset)


def test_validation_images_get_the_eval_transform(tmp_path):
    from PIL import Image

    ramp = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    for split in ("train", "val"):
        for c in ("cat", "dog", "eel", "fox"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(np.stack([ramp, ramp.T, ramp], -1)).save(
                    tmp_path / split / c / f"{i}.JPEG"
                )
    bm = BENCHMARKS["imagenet-subset"].build("b0-2", seed=0, data_root=tmp_path)
    val = held_out(bm, 0.2)
    ds = val.test_stream[0].dataset
    assert len(ds) == 2  # one of each class's three images
    torch.manual_seed(0)
    assert torch.equal(ds[0][0], ds[0][0])  # resize + centre crop, no augmentation
    tr = val.train_stream[0].dataset
    assert not torch.equal(tr[0][0], tr[0][0])  # training keeps its augmentation


def test_shared_epochs_rule_on_hand_made_curves():
    # 4 -> 8 gains half a point, 4 -> 16 eight tenths: converged at 4
    assert shared_epochs({2: 0.50, 4: 0.60, 8: 0.605, 16: 0.608}) == (4, True)
    # a dip is not convergence: 2 -> 8 gains 20 points (the Fashion subset's
    # Joint dipped by 0.3 points from 2 to 4 epochs, then gained 6.6 to 32)
    assert shared_epochs({2: 0.50, 4: 0.49, 8: 0.70}) == (8, False)
    assert shared_epochs({2: 0.50, 4: 0.49, 8: 0.70, 16: 0.705}) == (8, True)
    # every doubling gains a point or more: the grid's end, not converged
    assert shared_epochs({2: 0.50, 4: 0.60, 8: 0.61}) == (8, False)
    assert best_epochs({2: 0.5, 4: 0.7, 8: 0.7, 16: 0.6}) == 4  # fewer on a tie
    assert best_epochs({2: 0.5, 4: 0.6, 8: 0.7}) == 8


def _row(strategy, seed, exp, acc, **kw):
    return dict(
        strategy=strategy,
        seed=seed,
        memory_bytes=100,
        experience=exp,
        classes_seen=2 * (exp + 1),
        accuracy=acc,
        new_accuracy=acc,
        old_accuracy=acc,
        forgetting=0.0,
        held_bytes=50,
        wall_time_s=1.0,
        **kw,
    )


def test_average_incremental_accuracy_by_hand():
    accs = {0: [1.0, 0.8, 0.6, 0.5], 1: [0.9, 0.7, 0.65, 0.25]}
    rows = [
        _row("replay", s, i, a) for s, acc in accs.items() for i, a in enumerate(acc)
    ]
    st = stats(rows)["replay"]
    # (1.0 + 0.8 + 0.6 + 0.5) / 4 and (0.9 + 0.7 + 0.65 + 0.25) / 4
    assert st["avg_inc"] == pytest.approx([0.725, 0.625])
    assert st["final"] == pytest.approx([0.5, 0.25])
    text = summarize(rows)
    # the headline first: average incremental before final accuracy
    assert text.index("Average incremental accuracy (%)") < text.index(
        "Final accuracy (%)"
    )
    assert "| replay | 67.5 ± 5.0 | 37.5 ± 12.5 |" in text


def _selected(**kw):
    spec = BENCHMARKS["split-digits"]
    args = dict(epochs=1, best_epochs={"naive": 2, "replay": 1}, selection="test")
    return dataclasses.replace(spec, **{**args, **kw})


def test_epochs_plan_shared_best_and_user_epochs():
    none = BENCHMARKS["split-digits"]
    assert not none.selected
    plan, notes = epochs_plan(none, ["naive"], "both")
    assert plan == {"naive": {none.epochs: ("shared",)}}
    assert "no selection recorded" in notes[0]
    with pytest.raises(ValueError, match="featadapt select --benchmark split-digits"):
        epochs_plan(none, ["naive"], "best")
    spec = _selected()
    plan, _ = epochs_plan(spec, ["naive", "replay", "joint", "lwf"], "both")
    assert plan["naive"] == {1: ("shared",), 2: ("best",)}
    assert plan["replay"] == {1: ("shared", "best")}  # one run serves both
    assert plan["joint"] == {1: ("shared", "best")}  # converged: its best
    assert plan["lwf"] == {1: ("shared", "best")}
    assert epochs_plan(spec, ["naive"], "shared")[0] == {"naive": {1: ("shared",)}}
    assert epochs_plan(spec, ["naive"], "best")[0] == {"naive": {2: ("best",)}}
    plan, notes = epochs_plan(spec, ["naive"], "both", epochs=3)
    assert plan == {"naive": {3: ("shared",)}} and "--epochs 3" in notes[0]


def test_compare_with_a_recorded_selection_runs_both_trainings(tmp_path, monkeypatch):
    monkeypatch.setitem(BENCHMARKS, "split-digits", _selected())
    out = tmp_path / "cmp"
    run_comparison(
        strategies=["naive", "replay"],
        seeds=[0],
        memory_bytes=3200,
        protocol="b0-2",
        out=out,
        quiet=True,
    )
    rows = list(csv.DictReader(open(out / "results.csv")))
    got = [(r["strategy"], r["training"], r["epochs"]) for r in rows]
    assert got == [
        ("naive", "shared", "1"),
        ("naive", "shared", "1"),
        ("naive", "best", "2"),
        ("naive", "best", "2"),
        ("replay", "shared", "1"),
        ("replay", "shared", "1"),
        ("replay", "best", "1"),
        ("replay", "best", "1"),
    ]
    acc = {(r["strategy"], r["training"]): r["accuracy"] for r in rows}
    assert acc["replay", "shared"] == acc["replay", "best"]  # the same run
    summary = (out / "summary.md").read_text()
    best, shared = summary.index("## Each at its best"), summary.index(
        "## At the shared budget"
    )
    assert best < shared
    assert "Epochs: naive 2, replay 1." in summary[best:shared]
    assert "Epochs: naive 1, replay 1." in summary[shared:]
    for png in ("accuracy_vs_memory.png", "accuracy_vs_memory_shared.png"):
        assert (out / png).exists()
    # `featadapt report` reads the new columns back
    (out / "summary.md").unlink()
    assert main(["report", str(out)]) == 0
    assert "## At the shared budget" in (out / "summary.md").read_text()


def test_select_refuses_a_grid_of_one_value(capsys, tmp_path):
    argv = ["select", "--epochs-grid", "4", "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 2
    assert "--epochs-grid needs two or more" in capsys.readouterr().err


def test_featadapt_select_end_to_end_on_split_digits(capsys, tmp_path):
    out = tmp_path / "sel"
    argv = ["select", "--strategies", "naive", "replay", "--epochs-grid", "1", "2"]
    argv += ["--memory-bytes", "3200", "--protocol", "b0-2", "--out", str(out)]
    assert main(argv + ["--quiet"]) == 0
    printed = capsys.readouterr().out
    rows = list(csv.DictReader(open(out / "selection.csv")))
    assert {r["memory_bytes"] for r in rows} == {"3200"}
    assert {(r["strategy"], r["epochs"]) for r in rows} == {
        (n, e) for n in ("joint", "naive", "replay") for e in ("1", "2")
    }
    md = (out / "selection.md").read_text()
    assert "The shared budget: Joint's validation accuracy" in md
    assert "the test set is not used" in md
    assert (out / "selection.png").stat().st_size > 10_000
    # the entry to record is valid keyword arguments for the registry
    entry = printed.split("Record it in the registry:\n")[1]
    kw = eval("dict(" + entry.split("\n", 1)[1] + ")")
    assert set(kw) == {"epochs", "best_epochs", "selection"}
    assert set(kw["best_epochs"]) == {"naive", "replay"}
    assert kw["selection"].startswith("featadapt select --benchmark split-digits")
    assert kw["epochs"] in (1, 2)


def test_shared_lr_is_joints_best_at_the_largest_epochs():
    # 1e-2 leads at 4 epochs, 3e-3 at 16, the grid's largest: 3e-3
    curves = {
        1e-3: {4: 0.20, 16: 0.27},
        3e-3: {4: 0.25, 16: 0.32},
        1e-2: {4: 0.30, 16: 0.30},
    }
    assert shared_lr(curves) == 3e-3
    assert shared_lr({1e-3: {4: 0.3}, 1e-2: {4: 0.3}}) == 1e-3  # smaller on a tie


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--lr-grid", "0.001"], "--lr-grid needs two or more"),
        (["--lr-grid", "0.001", "-0.01"], "--lr-grid needs two or more"),
        (["--lr-grid", "0.001", "0.001"], "--lr-grid needs two or more"),
    ],
)
def test_select_refuses_a_bad_lr_grid(capsys, tmp_path, extra, message):
    argv = ["select", "--out", str(tmp_path), "--quiet"] + extra
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_select_refuses_lr_with_lr_grid(capsys):
    with pytest.raises(SystemExit):
        main(["select", "--lr", "0.001", "--lr-grid", "0.001", "0.01"])
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not both"):
        check_lr_grid([0.001, 0.01], 0.001)


@pytest.mark.slow
def test_select_with_an_lr_grid_trains_the_strategies_at_joints_rate(capsys, tmp_path):
    common = ["--strategies", "naive", "--epochs-grid", "1", "2", "--protocol"]
    common += ["b0-2", "--quiet"]
    grid = ["--lr-grid", "0.0001", "0.003", "--out", str(tmp_path / "grid")]
    assert main(["select", *common, *grid]) == 0
    entry = capsys.readouterr().out.split("Record it in the registry:\n")[1]
    kw = eval("dict(" + entry.split("\n", 1)[1] + ")")
    md = (tmp_path / "grid" / "selection.md").read_text()
    table = md.split("## The shared learning rate")[1].split("## The shared budget")[0]
    joint = {}
    for line in table.splitlines():
        if line.startswith("| 0.0"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            joint[float(cells[0].split()[0])] = float(cells[2])  # at 2 epochs
    assert set(joint) == {0.0001, 0.003}
    assert kw["lr"] == max(joint, key=joint.get)
    assert f"| {kw['lr']:g} (chosen) |" in table
    # the strategies' runs are those of a selection at that one rate
    one = ["--lr", str(kw["lr"]), "--out", str(tmp_path / "one")]
    assert main(["select", *common, *one]) == 0
    rows = {
        d: list(csv.DictReader(open(tmp_path / d / "selection.csv")))
        for d in ("grid", "one")
    }
    assert rows["grid"] == rows["one"]
