"""The worker processes of ``--workers N``: each a spawned process with its
own pipe, given one run at a time. A worker that dies (killed, out of
memory) fails its own run only; a fresh one takes the runs left and the
other workers' runs finish. Workers stop with the main process: it
terminates them when it stops (an exception, Ctrl-C, SIGTERM through the
CLI), they ignore Ctrl-C themselves (the terminal sends it to the whole
process group, and the main process decides), and each exits at once if
the main process dies without a word (``kill -9``)."""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import signal
import threading
from collections import deque
from multiprocessing.connection import wait
from typing import Callable, List, Sequence, Tuple

__all__ = ["run_pool"]


class _Worker:
    """One worker process, its end of the pipe and the run it holds."""

    def __init__(self, ctx, setting, device: str, serve: tuple):
        self.conn, theirs = ctx.Pipe()
        self.proc = ctx.Process(
            target=_serve,
            args=(theirs, setting, device, *serve),
            name="featadapt-worker",
        )
        self.proc.start()
        theirs.close()  # the worker holds the only other end: EOF when it dies
        self.job = None

    def give(self, i: int, job) -> None:
        self.job = i
        try:
            self.conn.send(job)
        except OSError:  # it died between two runs: seen at the next wait
            pass

    def result(self, describe: str):
        """Its run's result, or a failure if the worker died."""
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.proc.join(5)
            code = self.proc.exitcode
            how = f"killed by signal {-code}" if code and code < 0 else f"exit {code}"
            return ("failed", f"{describe}: its worker process died ({how})", "")

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5)
        self.conn.close()


def run_pool(
    jobs: Sequence,
    *,
    setting,
    devices: Sequence[str],
    done: Callable[[int, tuple], None],
    serve: Tuple[str, str, str],
    progress=None,
) -> None:
    """Run ``jobs`` on one worker per entry of ``devices`` and call
    ``done(index, result)`` as each finishes.

    :param serve: (module, init, run) names: each worker process imports
        the module once it ignores Ctrl-C, calls its ``init(setting,
        device)`` once and its ``run(job)`` for each job it is given.
    """
    ctx = mp.get_context("spawn")  # no fork of a process with torch threads
    todo = deque(range(len(jobs)))
    workers: List[_Worker] = []
    try:
        for device in devices:
            w = _Worker(ctx, setting, device, serve)
            workers.append(w)
            if todo:
                i = todo.popleft()
                w.give(i, jobs[i])
        while any(w.job is not None for w in workers):
            busy = [w for w in workers if w.job is not None]
            ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy]))
            for k, w in enumerate(workers):
                if w.job is None or not {w.conn, w.proc.sentinel} & ready:
                    continue
                i, w.job = w.job, None
                res = w.result(jobs[i].describe())
                if not w.proc.is_alive() and todo:  # a fresh one for the rest
                    w.stop()
                    w = workers[k] = _Worker(ctx, setting, devices[k], serve)
                if progress is not None and res[0] == "ok":
                    progress.update(max(r["experience"] for r in res[1]) + 1)
                done(i, res)
                if todo and w.proc.is_alive():
                    i = todo.popleft()
                    w.give(i, jobs[i])
    finally:
        for w in workers:
            w.stop()


def _watch_parent() -> None:
    """Exit this process as soon as the process that started it is gone."""
    parent = mp.parent_process()
    if parent is None:
        return

    def watch():
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _serve(conn, setting, device: str, module: str, init: str, run: str) -> None:
    """A worker: run the jobs that come through ``conn`` until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process stops us
    _watch_parent()
    serving = importlib.import_module(module)
    run_job = getattr(serving, run)
    getattr(serving, init)(setting, device)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(run_job(job))
