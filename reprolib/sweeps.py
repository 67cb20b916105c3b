"""Sweeps: the cells of an experiment run on Dask, each finished cell stored so that it is never run again.

An experiment of the papers is a grid of independent training runs. A *cell* is a group of them that
one engine trains at once (Fig. 7: one initialization and length, every method × seed; Tables 1-5: one
model, every seed): the unit of work and of checkpointing. :func:`run` sends the cells to

* a local Dask cluster (the default): ``workers`` processes with one thread each, started and
  stopped here (``LocalCluster``);
* a running Dask scheduler at ``scheduler`` (``tcp://host:8786``; a Slurm or PBS allocation through
  dask-jobqueue, a multi-GPU node with one worker per GPU: README, "Running on a cluster");
* or, with ``workers=0``, this process, one cell after another (the chapters' live runs).

Dask schedules; this module only says what a cell is worth keeping. A cell's result is written to
``<store>/<key>.json`` (atomically) the moment it arrives, with the cell's tag (its settings and the
hash of the code it runs); a later call finds it and does not run the cell again, so a killed sweep resumes where it
stopped (a cell interrupted half-way resumes from its engine checkpoint). A cell that raises is tried
once more (Dask's ``retries=1``); if it raises again, its traceback is returned and the sweep goes on.
The results do not depend on where a cell ran: a cell's runs are seeded by the settings, and the
grouping of runs into cells is fixed by the experiment, not by the number of workers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import dask
from distributed import Client, LocalCluster, get_worker, wait
from distributed import TimeoutError as DaskTimeoutError
from tqdm import tqdm

from . import _checks
from .files import write_atomic


#: seconds between two looks at the cluster's size while cells run on it
POLL_SECONDS = 10
#: Dask settings of the local cluster. A cell is one long Python loop that holds the GIL most of the time
#: and allocates many small tensors, so the worker's statistical profiler (a stack sample every 10 ms) is
#: off, its event-loop tick slowed from 20 ms to 1 s, and the aggressive glibc trim Dask sets relaxed
#: (on our 2-core machine their effect was within the benchmark's noise). Setting any glibc malloc
#: threshold turns off glibc's adaptive mmap threshold, so that every allocation above 128 KiB is mapped
#: and unmapped again, page by page: the natural tasks' tensors of some MB then spent more time in the
#: kernel than in their arithmetic. The mmap threshold is therefore fixed at glibc's own maximum (32 MiB).
#: The scheduler gives a one-thread worker one cell at a time.
WORKER_CONFIG = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s",
                 "distributed.scheduler.worker-saturation": 1.0,
                 "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 128 * 2**20,
                 "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": 32 * 2**20}


def tag(obj) -> str:
    """A short hash of a cell's settings (JSON data): other settings, another tag."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Cell:
    """One unit of work: ``fn(*args)`` returns the cell's result (JSON data); ``key`` names it in the
    store and the results file; ``tag`` is a hash of everything the result depends on, the code included
    (:func:`reprolib.provenance.code_hash`): a stored result with another tag is computed again."""

    key: str
    fn: Callable
    args: tuple
    tag: str


@dataclass
class Outcome:
    """What a sweep returns: each finished cell's ``results[key]`` (the value its function returned),
    ``info[key]`` (``seconds`` of work, ``worker``, ``finished``, ``reused``: True when it was found in the
    store), and ``failed[key]``, the traceback of each cell that raised twice."""

    results: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)


def _timed_call(fn, args) -> dict:
    """Run one cell (in a worker or here) and say where and how long."""
    try:
        worker = get_worker().name
    except ValueError:  # not in a Dask worker: the serial sweep
        worker = f"local pid {os.getpid()}"
    start = time.perf_counter()
    value = fn(*args)
    return {"value": value, "seconds": round(time.perf_counter() - start, 3), "worker": str(worker),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


def _stored(store: Path | None, cell: Cell) -> dict | None:
    """The stored result of ``cell``, if its file exists and holds the cell's tag."""
    if store is None:
        return None
    path = store / f"{cell.key}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise ValueError(f"the stored cell {path} cannot be read ({err}); delete it to run the cell again") from None
    if data.get("tag") != cell.tag:
        return None  # other settings or other code (the tag holds both): run again, and overwrite
    return data


def _store(store: Path | None, cell: Cell, done: dict) -> None:
    if store is not None:
        write_atomic(store / f"{cell.key}.json", json.dumps({"tag": cell.tag, **done}))


def _cluster(workers: int | None, scheduler: str | None):
    """A local cluster of ``workers`` (default: one per core) single-threaded worker processes, closed on
    exit; nothing when ``scheduler`` names a running one. Its scheduler hands a worker a cell only when
    the worker is free (``worker-saturation`` 1.0; Dask's default of 1.1 would queue two cells on a
    one-thread worker while another sits idle), so the costliest cells, started first, are spread."""
    if scheduler is not None:
        return contextlib.nullcontext()
    with dask.config.set(WORKER_CONFIG):
        return LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                            dashboard_address=None)


def run(cells: list[Cell], *, store=None, workers: int | None = None, scheduler: str | None = None,
        progress: bool = True, desc: str = "cells", priority: dict | None = None) -> Outcome:
    """Run every cell not already in ``store`` (a folder, or ``None`` to keep nothing) and return the
    :class:`Outcome`. ``workers``: ``0`` runs here, serially; ``None`` or ``N`` starts a local cluster
    of N single-threaded worker processes (default: one per core); ``scheduler`` joins a running
    cluster instead. ``priority`` (key → number, e.g. the estimated hours of each cell) starts the
    costliest cells first, so that the last cells to finish are short ones. One progress bar counts
    the cells, with the time left estimated from those done."""
    if not isinstance(cells, list) or not all(isinstance(c, Cell) for c in cells):
        raise TypeError("cells must be a list of sweeps.Cell")
    if len({c.key for c in cells}) != len(cells):
        raise ValueError("cells must have distinct keys")
    if workers is not None:
        _checks.positive_int("workers", workers, minimum=0)
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler):
        raise ValueError(f"scheduler must be the address of a Dask scheduler such as 'tcp://host:8786', got {scheduler!r}")
    if scheduler is not None and workers is not None:
        raise ValueError("give workers (a local cluster) or scheduler (a running one), not both")
    store = None if store is None else Path(store)
    if store is not None:
        store.mkdir(parents=True, exist_ok=True)
    out = Outcome()
    todo = []
    for cell in cells:
        done = _stored(store, cell)
        if done is None:
            todo.append(cell)
        else:
            out.results[cell.key] = done["value"]
            out.info[cell.key] = {k: done[k] for k in ("seconds", "worker", "finished")} | {"reused": True}
    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), disable=not progress, desc=desc, unit="cell")

    def finish(cell, done=None, error=None):
        if error is not None:
            out.failed[cell.key] = error
        else:
            _store(store, cell, done)
            out.results[cell.key] = done["value"]
            out.info[cell.key] = {k: done[k] for k in ("seconds", "worker", "finished")} | {"reused": False}
        bar.update(1)

    if todo and workers == 0:
        for cell in todo:
            for attempt in (1, 2):  # a failing cell is tried once more, as Dask's retries=1 does
                try:
                    finish(cell, done=_timed_call(cell.fn, cell.args))
                    break
                except Exception:  # noqa: BLE001 - recorded with its traceback; the sweep goes on
                    if attempt == 2:
                        finish(cell, error=traceback.format_exc())
    elif todo:
        queue = sorted(todo, key=lambda c: -(priority or {}).get(c.key, 0))  # the costliest cells first
        with _cluster(workers, scheduler) as cluster, Client(scheduler or cluster) as client:
            if cluster is not None:
                client.wait_for_workers(len(cluster.workers))  # every worker up before the first cell is placed
            running = {}
            while queue or running:
                # Dask gets as many cells as the cluster has threads (read again as workers come and go), so
                # that a worker that frees up takes the costliest cell left rather than one queued behind another
                threads = sum(w["nthreads"] for w in client.scheduler_info()["workers"].values())
                while queue and len(running) < max(threads, 1):
                    c = queue.pop(0)
                    running[client.submit(_timed_call, c.fn, c.args, key=f"{c.key}-{c.tag}", retries=1,
                                          pure=False)] = c
                try:
                    done = wait(list(running), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED").done
                except DaskTimeoutError:
                    continue
                for future in done:
                    cell = running.pop(future)
                    if future.status == "error":
                        err = future.exception()
                        finish(cell, error="".join(traceback.format_exception(type(err), err, future.traceback())))
                    else:
                        finish(cell, done=future.result())
    bar.close()
    return out
