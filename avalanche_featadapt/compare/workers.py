"""Where the comparison's runs execute: one after the other in this process
(``workers=1``), or spread over a pool of ``workers`` processes
(``featadapt compare --workers N``), each run on one device
(docs/usage.md, "The comparison on several cores or GPUs").

Every run uses :data:`THREADS_PER_RUN` torch threads on the CPU, whatever
the number of workers: the number of threads changes how PyTorch splits its
sums, so feature adaptation's accuracies differed in the second decimal
between 1 and 2 threads (measured on SplitDigits). With one thread per run,
results.csv is the same for every ``--workers`` and every machine's core
count; ``--workers`` is how the comparison uses several cores."""

from __future__ import annotations

import traceback
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch

__all__ = ["THREADS_PER_RUN", "Job", "execute", "worker_devices"]

#: torch intra-op threads of one run on the CPU (see the module's docstring)
THREADS_PER_RUN = 1


@dataclass(frozen=True)
class Job:
    """One run: strategy ``name`` on the benchmark of ``seed`` at
    ``budget`` bytes, logging to ``log_dir``; ``overrides`` replace the
    strategy record's hyperparameters; ``epochs``, if given, replaces the
    setting's (a strategy at its own training budget)."""

    name: str
    seed: int
    budget: int
    log_dir: Optional[Path] = None
    overrides: Optional[dict] = None
    epochs: Optional[int] = None

    def describe(self) -> str:
        at = "" if self.epochs is None else f" {self.epochs} epochs"
        return f"{self.name} seed {self.seed} budget {self.budget} B{at}"


@dataclass(frozen=True)
class Setting:
    """What every run shares, sent to each worker once: the benchmark
    (rebuilt there from its name, protocol, seed and data root) and
    ``build_strategy``'s training arguments; with ``validation`` (a
    fraction), each benchmark is replaced by its held-out split
    (:func:`~avalanche_featadapt.compare.select.held_out`), as
    ``featadapt select`` trains and evaluates."""

    benchmark: str
    protocol: str
    data_root: Optional[str]
    training: dict  # epochs, lr, batch_size
    #: extra keyword arguments of the benchmark's builder (train_per_class)
    data_options: Optional[dict] = None
    #: the shared base models' folder (``<out>/base_models``); None: no cache
    base_models: Optional[str] = None
    #: the validation fraction held out of the training data, or None
    validation: Optional[float] = None

    def build(self, seed: int):
        """The benchmark of ``seed``, from the registry's builder."""
        from .registry import BENCHMARKS

        bench = BENCHMARKS[self.benchmark].build(
            self.protocol,
            seed=seed,
            data_root=self.data_root,
            **(self.data_options or {}),
        )
        if self.validation:
            from .validation_split import held_out

            bench = held_out(bench, self.validation)
        return bench


def worker_devices(device: str, workers: int) -> List[str]:
    """The device of each worker: with ``device="cuda"`` and several GPUs,
    worker i runs on GPU ``i % count``; otherwise every worker uses
    ``device`` as given (``"cpu"``, or an explicit ``"cuda:1"``)."""
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None and torch.cuda.device_count() > 1:
        n = torch.cuda.device_count()
        return [f"cuda:{i % n}" for i in range(workers)]
    return [str(device)] * workers


@contextmanager
def run_threads():
    """Torch uses :data:`THREADS_PER_RUN` threads inside, its previous
    count again afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS_PER_RUN)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _attempt(
    job: Job,
    benchmark,
    *,
    model_factory,
    device,
    training,
    progress=None,
    base_cache=None,
):
    """("ok", rows) or ("failed", message, traceback) for one job."""
    from .single_run import run_one

    if job.epochs is not None:
        training = {**training, "epochs": job.epochs}
    try:
        rows = run_one(
            job.name,
            benchmark,
            seed=job.seed,
            memory_bytes=job.budget,
            log_dir=job.log_dir,
            progress=progress,
            base_cache=base_cache,
            overrides=job.overrides,
            model_factory=model_factory,
            device=device,
            **training,
        )
    except Exception as e:  # keep the others' results
        return ("failed", f"{job.describe()}: {e}", traceback.format_exc())
    return ("ok", rows)


def model_factory_of(name: str, benchmark, device="cpu"):
    """The model factory of benchmark record ``name`` for the images of
    ``benchmark`` (their C x H x W shape) on ``device`` (a CUDA device takes
    the record's GPU recipe, :meth:`~avalanche_featadapt.compare.registry.
    BenchmarkSpec.on`)."""
    from .registry import BENCHMARKS

    shape = tuple(benchmark.train_stream[0].dataset.eval()[0][0].shape)
    return BENCHMARKS[name].on(device).model(shape)


def base_key_of(setting: Setting):
    """The shared base models' :class:`BaseModelKey` of ``setting``, or None
    without a cache."""
    from .base_model import BaseModelKey

    if setting.base_models is None:
        return None
    return BaseModelKey(
        folder=setting.base_models,
        benchmark=setting.benchmark,
        protocol=setting.protocol,
        data_root=setting.data_root,
        data_options=setting.data_options,
    )


# --- in each worker process ------------------------------------------------

_WORKER: Dict = {}


def _init_worker(setting: Setting, device: str) -> None:
    torch.set_num_threads(THREADS_PER_RUN)
    # Avalanche re-enables its deprecation warnings on each call; in N
    # workers they would repeat N times, and are not the user's to act on
    warnings.simplefilter("ignore")
    warnings.showwarning = lambda *a, **k: None
    _WORKER.update(setting=setting, device=device)


def _run_in_worker(job: Job):
    setting: Setting = _WORKER["setting"]
    benches = _WORKER.setdefault("benchmarks", {})
    if job.seed not in benches:
        benches[job.seed] = setting.build(job.seed)
    bench = benches[job.seed]
    return _attempt(
        job,
        bench,
        model_factory=model_factory_of(setting.benchmark, bench, _WORKER["device"]),
        device=_WORKER["device"],
        training=setting.training,
        base_cache=base_key_of(setting),
    )


# ---------------------------------------------------------------------------


def execute(
    jobs: Sequence[Job],
    *,
    setting: Setting,
    benchmarks: Dict[int, object],
    device: str,
    workers: int,
    done: Callable[[int, tuple], None],
    progress=None,
) -> None:
    """Run ``jobs`` and call ``done(index, result)`` as each finishes
    (``result`` as :func:`_attempt` returns it). ``workers=1`` runs them in
    order in this process, on ``benchmarks`` (seed -> benchmark); more run
    them in spawned worker processes, which rebuild the benchmarks
    (:mod:`~avalanche_featadapt.compare.pool`: a worker that dies fails its
    own run only, and the workers stop with this process)."""
    workers = min(workers, len(jobs))
    if workers <= 1:
        bench = next(iter(benchmarks.values()))
        factory = model_factory_of(setting.benchmark, bench, device)
        for i, job in enumerate(jobs):
            with run_threads():
                res = _attempt(
                    job,
                    benchmarks[job.seed],
                    model_factory=factory,
                    device=device,
                    training=setting.training,
                    progress=progress,
                    base_cache=base_key_of(setting),
                )
            done(i, res)
        return
    from .pool import run_pool

    devices = worker_devices(device, workers)
    run_pool(
        jobs,
        setting=setting,
        devices=devices,
        done=done,
        serve=(__name__, "_init_worker", "_run_in_worker"),
        progress=progress,
    )
