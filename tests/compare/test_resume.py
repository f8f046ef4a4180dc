"""`featadapt compare` interrupted and resumed: a re-run of the same command
keeps every finished run (its wall time unchanged) and runs only the others,
to the results.csv of an uninterrupted run; another comparison's folder is
refused without --force; stale logs go; the workers stop with the main
process, and a killed worker fails its own run only."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from avalanche_featadapt.compare import main
from avalanche_featadapt.compare import single_run

TIMES = ("wall_time_s", "cpu_time_s")
# 8 runs of about a second each: an interruption after the first lands
# before the last
SMALL = ["--strategies", "naive", "lwf", "--seeds", "0", "1", "2", "3"]
SMALL += ["--protocol", "b0-2", "--epochs", "1", "--memory-bytes", "3200", "--quiet"]
ROWS = 8 * 2  # runs x experiences


def rows_of(path):
    return list(csv.DictReader(open(path)))


def without_times(rows):
    return [{k: v for k, v in r.items() if k not in TIMES} for r in rows]


def key(r):
    return (r["strategy"], r["seed"], r["memory_bytes"], r["experience"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """results.csv of the uninterrupted comparison."""
    out = tmp_path_factory.mktemp("reference")
    assert main(["compare", *SMALL, "--out", str(out)]) == 0
    return rows_of(out / "results.csv")


def count_runs(out, argv, monkeypatch):
    """Run `featadapt compare argv` in this process; the runs it made."""
    made = []
    run_one = single_run.run_one

    def counted(name, benchmark, *, seed, **kw):
        made.append((name, seed))
        return run_one(name, benchmark, seed=seed, **kw)

    monkeypatch.setattr(single_run, "run_one", counted)
    rc = main(["compare", *argv, "--out", str(out)])
    return rc, made


def test_rerun_keeps_finished_runs_and_redoes_a_half_written_one(tmp_path, monkeypatch):
    argv = ["--strategies", "naive", "--seeds", "0", "1", "--protocol", "b0-2"]
    argv += ["--memory-bytes", "3200"]
    argv += ["--epochs", "1", "--quiet"]
    out = tmp_path / "o"
    rc, made = count_runs(out, argv, monkeypatch)
    assert rc == 0 and made == [("naive", 0), ("naive", 1)]
    full = (out / "results.csv").read_text()
    lines = full.splitlines(keepends=True)
    # killed while appending seed 1's rows: its second row cut half-way
    (out / "results.csv").write_text("".join(lines[:4]) + lines[4][:30])
    (out / "logs" / "naive_seed1" / "eval_results.csv").write_text("partial")
    (out / "logs" / "lwf_seed0").mkdir()  # a log of no run of this comparison
    rc, made = count_runs(out, argv, monkeypatch)
    assert rc == 0 and made == [("naive", 1)]  # seed 0 is kept, seed 1 redone
    again = rows_of(out / "results.csv")
    first = list(csv.DictReader(full.splitlines()))
    assert again[:2] == first[:2]  # seed 0 as it was, wall times included
    assert without_times(again) == without_times(first)
    assert sorted(p.name for p in (out / "logs").iterdir()) == [
        "naive_seed0",
        "naive_seed1",
    ]
    assert "partial" not in (out / "logs/naive_seed1/eval_results.csv").read_text()
    # everything finished: nothing runs, the same results.csv and summary
    second = (out / "results.csv").read_text()
    (out / "summary.md").unlink()
    rc, made = count_runs(out, argv, monkeypatch)
    assert rc == 0 and made == []
    assert (out / "results.csv").read_text() == second
    assert (out / "summary.md").exists() and (out / "summary.json").exists()
    # a results.csv of an older version (the budget in budget_bytes, the
    # bytes held in memory_bytes) is kept, rewritten with today's names
    head, rest = second.split("\n", 1)
    head = head.replace("memory_bytes", "budget_bytes")
    head = head.replace("held_bytes", "memory_bytes")
    (out / "results.csv").write_text(head + "\n" + rest)
    rc, made = count_runs(out, argv, monkeypatch)
    assert rc == 0 and made == []
    assert (out / "results.csv").read_text() == second


def test_another_comparison_is_refused_until_force(tmp_path, capsys):
    out = tmp_path / "o"
    argv = ["compare", "--strategies", "naive", "--protocol", "b0-2", "--quiet"]
    argv += ["--epochs", "1", "--out", str(out)]
    assert main(argv + ["--seeds", "0", "1"]) == 0
    before = (out / "results.csv").read_bytes()
    assert main(argv + ["--seeds", "0"]) == 2
    err = capsys.readouterr().err
    assert "holds another comparison's results (seeds: [0, 1] there, [0] now)" in err
    assert "pass --force" in err
    assert (out / "results.csv").read_bytes() == before
    assert (out / "logs" / "naive_seed1").exists()
    assert main(argv + ["--seeds", "0", "--force"]) == 0
    assert {r["seed"] for r in rows_of(out / "results.csv")} == {"0"}
    assert [p.name for p in (out / "logs").iterdir()] == ["naive_seed0"]
    record = json.loads((out / "comparison.json").read_text())
    assert record["settings"]["seeds"] == [0]


def test_results_of_unrecorded_settings_are_refused(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "results.csv").write_text("strategy\nsomeone-else's\n")
    argv = ["compare", "--strategies", "naive", "--seeds", "0", "--epochs", "1"]
    assert main(argv + ["--protocol", "b0-2", "--out", str(out), "--quiet"]) == 2
    assert "settings were not recorded" in capsys.readouterr().err
    assert "someone-else's" in (out / "results.csv").read_text()


def start(argv, out):
    """`featadapt compare` in its own process group, as a terminal starts it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "avalanche_featadapt.compare", *argv]
    return subprocess.Popen(
        cmd + ["--out", str(out)],
        env=env,
        start_new_session=True,
        # Ctrl-C's default action, even where this test runs in the
        # background (a shell's background jobs ignore SIGINT)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_rows(proc, path, n=2, timeout=300):
    """Wait until results.csv has ``n`` rows (one run at least)."""
    end = time.time() + timeout
    while time.time() < end:
        assert proc.poll() is None, proc.stderr.read()
        if path.exists() and len(path.read_text().splitlines()) > n:
            return
        time.sleep(0.02)
    raise AssertionError(f"no run finished in {timeout} s")


def children(pid):
    """The worker processes of ``pid`` (not zombies)."""
    found = []
    for d in Path("/proc").iterdir():
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[1] == str(pid) and b"spawn_main" in cmd:
            found.append(int(d.name))
    return found


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, workers", [(signal.SIGTERM, "2"), (signal.SIGINT, "1")], ids=str
)
def test_interrupted_compare_resumes_to_the_uninterrupted_results(
    sig, workers, reference, tmp_path
):
    out = tmp_path / "o"
    argv = [*SMALL, "--workers", workers]
    proc = start(argv, out)
    wait_for_rows(proc, out / "results.csv")
    pids = children(proc.pid)
    assert len(pids) == (0 if workers == "1" else 2)
    if sig == signal.SIGINT:  # Ctrl-C: the terminal signals the whole group
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)  # the main process only
    assert proc.wait(60) == 128 + sig
    assert not [p for p in pids if alive(p)]  # it stopped its workers
    assert "Run the same command again" in proc.stderr.read()
    kept = rows_of(out / "results.csv")
    assert 2 <= len(kept) < ROWS  # some runs finished, not all
    assert main(["compare", *argv, "--out", str(out)]) == 0
    final = rows_of(out / "results.csv")
    assert without_times(final) == without_times(reference)
    by_key = {key(r): r for r in final}
    for r in kept:  # not run again: the same wall and CPU times
        assert by_key[key(r)] == r


@pytest.mark.slow
def test_main_process_killed_without_a_word_leaves_no_worker(tmp_path):
    # SIGTERM and Ctrl-C: test_interrupted_compare_resumes_...; kill -9
    # gives the main process no chance: each worker sees it gone and exits
    out = tmp_path / "o"
    proc = start([*SMALL, "--workers", "2"], out)
    wait_for_rows(proc, out / "results.csv")
    workers = children(proc.pid)
    assert len(workers) == 2
    proc.kill()  # the main process only, SIGKILL
    proc.wait(60)
    end = time.time() + 30
    while any(alive(p) for p in workers) and time.time() < end:
        time.sleep(0.1)
    assert not [p for p in workers if alive(p)]


@pytest.mark.slow
def test_a_killed_worker_fails_its_run_only(reference, tmp_path):
    out = tmp_path / "o"
    argv = [*SMALL, "--workers", "2"]
    proc = start(argv, out)
    end = time.time() + 120
    while len(children(proc.pid)) < 2 and time.time() < end:
        time.sleep(0.05)
    victim = children(proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    assert proc.wait(300) == 1
    err = proc.stderr.read()
    assert "1 run(s) failed" in err and "worker process died" in err, err
    assert len(rows_of(out / "results.csv")) == ROWS - 2  # the other 7 runs
    assert main(["compare", *argv, "--out", str(out)]) == 0  # runs the 8th
    assert without_times(rows_of(out / "results.csv")) == without_times(reference)
