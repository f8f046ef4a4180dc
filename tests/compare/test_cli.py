"""The `featadapt` command: subcommands, help, bad input refused with a
clear message, results written per finished run, the summary and plots of a
sweep over budgets."""

import csv
import subprocess
import sys

import numpy as np
import pytest

from avalanche_featadapt.compare import CSV_FIELDS, main
from avalanche_featadapt.compare.plots import plot_accuracy_vs_memory, plot_drift
from avalanche_featadapt.compare.report import crossover, summarize

from helpers import synthetic_rows


def run_cli(*argv):
    return subprocess.run(
        [sys.executable, "-m", "avalanche_featadapt.compare.cli", *argv],
        capture_output=True,
        text=True,
    )


def test_bare_featadapt_prints_help_and_runs_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    out = capsys.readouterr().out
    for sub in ("compare", "report", "list"):
        assert sub in out
    assert not (tmp_path / "results").exists()


def test_top_help_differs_from_compare_help(capsys):
    for argv in (["--help"], ["compare", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
    top, comp = capsys.readouterr().out.split("usage: featadapt compare")
    assert "SUBCOMMAND" in top and "--memory-bytes" not in top
    assert "--memory-bytes" in comp and "--seeds" in comp


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--strategies", "ewc"], "Unknown strategy"),
        (["--benchmark", "svhn"], "invalid choice"),
        (["--memory-bytes", "0"], "--memory-bytes must be > 0"),
        (["--memory-bytes", "-1"], "--memory-bytes must be > 0"),
        (["--memory-bytes", "800", "800"], "--memory-bytes repeats [800]"),
        (["--epochs", "0"], "--epochs must be a positive integer"),
        (["--epochs", "-3"], "--epochs must be a positive integer"),
        (["--lr", "0"], "--lr must be a positive number"),
        (["--lr", "nan"], "--lr must be a positive number"),
        (["--batch-size", "0"], "--batch-size must be a positive integer"),
        (["--seeds", "0", "0"], "--seeds repeats [0]"),
        (["--strategies", "naive", "naive"], "--strategies repeats"),
        (["--protocol", "b0-3"], "do not split into 3"),
        (["--protocol", "b50-4"], "do not split into 4"),
        (["--protocol", "half"], "Unknown protocol"),
        (["--device", "tpu"], "not a torch device"),
        (["--benchmark", "split-cifar100"], "needs --data-root"),
        (["--benchmark", "split-cifar100", "--data-root", "/nonexistent"], "not found"),
        (["--benchmark", "split-mnist", "--data-root", "/nonexistent"], "not found"),
        (["--benchmark", "imagenet-subset", "--data-root", "/nonexist"], "not found"),
        (["--benchmark", "npz"], "needs --data-root FILE.npz"),
        (["--workers", "0"], "--workers must be a positive integer"),
    ],
)
def test_bad_input_gets_a_clear_error(argv, match, capsys, tmp_path):
    try:
        rc = main(["compare", "--out", str(tmp_path / "o"), "--quiet"] + argv)
    except SystemExit as e:  # argparse's choices
        rc = e.code
    assert rc == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "o" / "results.csv").exists()


def test_out_pointing_at_a_file_is_a_clear_error(capsys, tmp_path):
    f = tmp_path / "taken"
    f.write_text("mine")
    rc = main(["compare", "--strategies", "naive", "--out", str(f), "--quiet"])
    assert rc == 2
    assert "is a file; give a folder" in capsys.readouterr().err
    assert f.read_text() == "mine"


def test_one_failing_strategy_keeps_the_others_and_no_stale_csv(capsys, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "results.csv").write_text("strategy\nstale-from-last-run\n")
    (out / "drift.png").write_bytes(b"stale")
    # 10 bytes hold no image: replay fails, naive runs; --force replaces the
    # results of unrecorded settings (tests/compare/test_resume.py: refused without)
    argv = ["compare", "--strategies", "naive", "replay", "--memory-bytes", "10"]
    argv += ["--force"]
    rc = main(argv + ["--seeds", "0", "--epochs", "1", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "replay seed 0 budget 10 B" in err and "holds no image" in err
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["strategy"] for r in rows] == ["naive"] * 5
    assert "stale-from-last-run" not in (out / "results.csv").read_text()
    assert not (out / "drift.png").exists()
    assert "## Failed runs" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_python_m_compare_is_featadapt_compare():
    r = subprocess.run(
        [sys.executable, "-m", "avalanche_featadapt.compare", "--help"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "usage: featadapt compare" in r.stdout


def test_list_names_every_record(capsys):
    from avalanche_featadapt.compare import BENCHMARKS, STRATEGIES

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(n in out for n in list(STRATEGIES) + list(BENCHMARKS))
    assert "an image: 1x8x8 = 64 bytes" in out


def test_registry_image_shape_is_what_the_budget_counts():
    from avalanche_featadapt.compare import BENCHMARKS
    from avalanche_featadapt.compare.run import default_budgets

    spec = BENCHMARKS["split-digits"]
    bm = spec.build("b0-5", seed=0)
    c, h, w = spec.image_shape
    assert default_budgets(bm, (200,)) == [200 * c * h * w] == [12_800]


def test_crossover_by_hand():
    rows = synthetic_rows(
        {
            "featadapt": {1000: 0.80, 10_000: 0.75, 100_000: 0.60},
            "replay": {1000: 0.60, 10_000: 0.70, 100_000: 0.90},
        }
    )
    # differences +0.20, +0.05, -0.30: the lead changes between 10 and 100 KB,
    # log-linearly at 10 ** (4 + 0.05 / 0.35) = 13,895 B
    text = crossover(rows, "featadapt", "replay")
    assert "ahead of replay at 1 KB, 10 KB" in text
    assert "replay takes the lead between 10 KB and 100 KB" in text
    assert "near 13.9 KB" in text
    never = synthetic_rows(
        {"featadapt": {1000: 0.1, 2000: 0.2}, "replay": {1000: 0.5, 2000: 0.6}}
    )
    assert crossover(never, "featadapt", "replay") == (
        "featadapt never overtakes replay between 1 KB and 2 KB."
    )


def test_one_seed_summary_has_no_spread_and_says_why_no_orderings():
    rows = synthetic_rows({"featadapt": {1000: 0.8}, "featadapt-noadapt": {1000: 0.4}})
    text = summarize(rows)
    assert "± 0.0" not in text and "±" not in text
    assert "orderings need >= 2 seeds" in text
    two = summarize(
        synthetic_rows({"featadapt": {1000: 0.8}, "icarl": {1000: 0.4}}, (0, 1))
    )
    assert "80.0 ± 0.0" in two and "featadapt − icarl = +40.0 points" in two


def test_plots_name_every_strategy_without_overlap(tmp_path):
    names = ["featadapt", "featadapt-fp32", "featadapt-noadapt", "replay", "naive"]
    rows = synthetic_rows({n: {1000: 0.5, 10_000: 0.6, 100_000: 0.7} for n in names})
    labels = plot_accuracy_vs_memory(rows, tmp_path / "m.png")
    for n in names:  # in a legend beside the axes: no label overlaps a point
        assert any(lab.startswith(n) for lab in labels), n
    drift = plot_drift(rows, tmp_path / "d.png")
    assert "featadapt-fp32: believed" in drift
    assert "featadapt-noadapt: believed (= uncompensated)" in drift
    assert (tmp_path / "d.png").stat().st_size > 10_000


def test_report_reads_a_results_csv_with_the_old_column_names(tmp_path):
    """Older versions named the budget budget_bytes and the bytes held
    memory_bytes; report reads them with today's names."""
    from avalanche_featadapt.compare.results import read_results

    rows = synthetic_rows({"featadapt": {1000: 0.8}, "replay": {1000: 0.6}}, (0, 1))
    old = {"memory_bytes": "budget_bytes", "held_bytes": "memory_bytes"}
    fields = [old.get(k, k) for k in rows[0]]
    with open(tmp_path / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        w.writerows([list(r.values()) for r in rows])
    back = read_results(tmp_path / "results.csv")
    assert [(r["memory_bytes"], r["held_bytes"]) for r in back] == [
        (r["memory_bytes"], r["held_bytes"]) for r in rows
    ]
    assert main(["report", str(tmp_path)]) == 0
    summary = (tmp_path / "summary.md").read_text()
    assert "## Budget 1,000 bytes" in summary and "| 500 |" in summary


@pytest.mark.slow
def test_cli_writes_every_budget_csv_summary_and_plots(tmp_path):
    out = tmp_path / "cmp"
    argv = ["compare", "--strategies", "naive", "replay", "joint", "--seeds", "0", "1"]
    argv += ["--memory-bytes", "6400", "12800", "--epochs", "1", "--quiet"]
    assert main(argv + ["--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert set(rows[0]) == set(CSV_FIELDS)
    # strategy x seed x budget x experience (joint: one row per budget)
    assert len(rows) == 2 * 2 * (5 + 5 + 1)
    assert {r["memory_bytes"] for r in rows} == {"6400", "12800"}
    replay = [r for r in rows if r["strategy"] == "replay"]
    assert (
        max(int(r["held_bytes"]) for r in replay if r["memory_bytes"] == "6400") == 6400
    )
    summary = (out / "summary.md").read_text()
    assert "## Budget 6,400 bytes (6.4 KB)" in summary
    assert "## Budget 12,800 bytes (12.8 KB)" in summary
    assert "replay" in summary and "± " in summary
    for png in ("accuracy_per_experience.png", "accuracy_vs_memory.png"):
        assert (out / png).stat().st_size > 10_000
    # the CSV's accuracies are the ones Avalanche's CSVLogger wrote
    logged = list(
        csv.DictReader(open(out / "logs" / "naive_seed0" / "eval_results.csv"))
    )
    first = [r for r in logged if r["training_exp"] == "0" and r["eval_exp"] == "0"]
    assert abs(float(first[0]["eval_accuracy"]) - float(rows[0]["new_accuracy"])) < 1e-4
    # `featadapt report` rebuilds the summary from results.csv alone
    (out / "summary.md").unlink()
    assert main(["report", str(out)]) == 0
    assert "## Budget 6,400 bytes" in (out / "summary.md").read_text()


def test_memory_bytes_zero_is_fine_without_memory_strategies():
    from avalanche_featadapt.compare import run_comparison

    rows = run_comparison(
        strategies=["naive"], seeds=[0], memory_bytes=0, epochs=1, quiet=True
    )
    assert len(rows) == 5 and np.all([r["memory_bytes"] == 0 for r in rows])


def _without_wall_time(path):
    """results.csv's rows, less the times (seconds differ between any two
    runs)."""
    return [
        {k: v for k, v in r.items() if k not in ("wall_time_s", "cpu_time_s")}
        for r in csv.DictReader(open(path))
    ]


@pytest.mark.slow
def test_workers_2_write_the_same_results_csv_as_workers_1(tmp_path):
    # featadapt's accuracies change with torch's thread count (seed 0, this
    # setting: 55.6 % with 1 thread, 55.3 % with 2); each run has one thread
    # whatever --workers is, so the rows are equal, and in job order although
    # replay's run finishes first
    argv = ["compare", "--strategies", "featadapt", "replay", "--seeds", "0"]
    argv += ["--memory-bytes", "3200", "--protocol", "b0-2", "--epochs", "1"]
    for w in ("1", "2"):
        out = str(tmp_path / w)
        assert main(argv + ["--workers", w, "--out", out, "--quiet"]) == 0
    one = _without_wall_time(tmp_path / "1" / "results.csv")
    two = _without_wall_time(tmp_path / "2" / "results.csv")
    assert [(r["strategy"], r["experience"]) for r in two] == [
        ("featadapt", "0"),
        ("featadapt", "1"),
        ("replay", "0"),
        ("replay", "1"),
    ]
    assert one == two


def test_workers_are_pinned_to_the_gpus_in_turn(monkeypatch):
    from avalanche_featadapt.compare.workers import worker_devices

    assert worker_devices("cpu", 3) == ["cpu"] * 3
    monkeypatch.setattr("torch.cuda.device_count", lambda: 2)
    assert worker_devices("cuda", 3) == ["cuda:0", "cuda:1", "cuda:0"]
    assert worker_devices("cuda:1", 2) == ["cuda:1", "cuda:1"]  # as given
    monkeypatch.setattr("torch.cuda.device_count", lambda: 1)
    assert worker_devices("cuda", 2) == ["cuda", "cuda"]
