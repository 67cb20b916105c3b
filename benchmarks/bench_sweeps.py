"""Throughput of the sweep layer (reprolib.sweeps on Dask) against one process, measured in one run.

    .venv/bin/python benchmarks/bench_sweeps.py [--quick]

1. Throughput on a fixed slice of the Fig. 7 `cpu` grid (8 cells of 15 runs: sigmoid and basic tanh
   at T = 30, 50, smart tanh at T = 20, 30, 40, 50), every cell trained for a fixed number of
   updates, in run-updates per second, three ways:
   (a) one process, one thread, the cells one after another (the baseline);
   (b) one process, two threads;
   (c) a local Dask cluster of two single-threaded workers (the command's default on 2 cores),
       its start-up included, and without it;
   (d) the machine's ceiling for (c): two independent single-thread processes without Dask, each
       running half of the cells (split by the cost model), started together.
2. The grouping of runs into engines, one thread: the 15 runs of a cell in one engine, in three
   engines of 5, or one engine per run (run-updates per second).
3. The per-cell overhead of the sweep layer: tiny cells that do nothing, run serially and on a
   local cluster of two workers (ms per cell, cluster start-up measured apart).

Every rate is printed with its ratio to the baseline measured in the same run.
"""

import argparse
import dataclasses
import json
import operator
import subprocess
import sys
import time

import torch

from reprolib import experiments, settings, sweeps
from reprolib.engine import Engine


def grid(updates: int) -> settings.Fig7:
    """The slice of the `cpu` grid, each run stopped after exactly ``updates`` updates."""
    s = settings.load("fig7", "cpu")
    return dataclasses.replace(s, inits={"sigmoid": [30, 50], "basic_tanh": [30, 50], "smart_tanh": [20, 30, 40, 50]},
                               max_updates=updates, test_every=updates, log_every=updates,
                               checkpoint_every=updates, n_test=100)


def throughput(s: settings.Fig7, threads: int, workers: int, priority: dict) -> tuple[float, float]:
    """Run-updates per second of the sweep of ``s`` with ``threads`` per cell and ``workers`` (the
    costliest cells first, as the command does), and the wall seconds it took."""
    s = dataclasses.replace(s, threads=threads)
    start = time.perf_counter()
    rows, outcome, _ = experiments.run("fig7", s, workers=workers, progress=False, priority=priority)
    seconds = time.perf_counter() - start
    assert not outcome.failed
    return len(rows) * s.max_updates / seconds, seconds  # no run passes the test before the end at these budgets


def ceiling(s: settings.Fig7, priority: dict) -> float:
    """Run-updates per second of two plain processes (no Dask) that share the cells, started together."""
    keys = sorted(priority, key=priority.get, reverse=True)
    halves = [[], []]
    for k in keys:  # the costliest first, each to the process with less work so far
        min(halves, key=lambda h: sum(priority[x] for x in h)).append(k)
    script = ("import sys, json, torch\n"
              "from reprolib import experiments, settings\n"
              "s = settings.from_dict('fig7', json.loads(sys.argv[1]))\n"
              "for c in experiments.cells('fig7', s):\n"
              "    if c.key in sys.argv[2].split(','):\n"
              "        c.fn(*c.args)\n")
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", script, json.dumps(s.to_dict()), ",".join(h)]) for h in halves]
    assert all(p.wait() == 0 for p in procs)
    seconds = time.perf_counter() - start
    runs = len(s.methods) * s.seeds * sum(map(len, s.inits.values()))
    return runs * s.max_updates / seconds


def grouping(updates: int) -> dict:
    """Run-updates per second, one thread, of 15 runs trained in engines of 15, 5 and 1 runs."""
    s = grid(updates)
    torch.set_num_threads(1)
    runs = [experiments.method_run(m, seed, s) for m in s.methods for seed in range(s.seeds)]
    out = {}
    for size in (15, 5, 1):  # the same 15 runs, only the batching differs
        engines = [Engine("temporal_order", runs[k:k + size], init="smart_tanh", n_hidden=s.n_hidden,
                          batch_size=s.batch_size, length=50, omega_form=s.omega_form, device="cpu")
                   for k in range(0, 15, size)]
        start = time.perf_counter()
        for eng in engines:
            for _ in range(updates):
                eng.step(omega_value=False)
        out[size] = 15 * updates / (time.perf_counter() - start)
    return out


def overhead(n: int) -> dict:
    """Milliseconds per tiny cell, serial and on a 2-worker cluster: the slope between sweeps of ``n`` and
    ``4 n`` cells (each sweep starts and stops its cluster once; the difference cancels that)."""
    def wall(k, workers):
        cells = [sweeps.Cell(f"c{j}", operator.add, (j, 1), "t") for j in range(k)]
        start = time.perf_counter()
        sweeps.run(cells, workers=workers, progress=False)
        return time.perf_counter() - start

    out = {}
    for name, workers in (("serial", 0), ("cluster", 2)):
        small, large = wall(n, workers), wall(4 * n, workers)
        out[name] = 1000 * (large - small) / (3 * n)
        out[f"{name}_fixed_s"] = small - n * out[name] / 1000
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer updates (a smoke test of this script)")
    args = parser.parse_args()
    updates = 50 if args.quick else 600
    s = grid(updates)
    print(f"1. throughput: {sum(map(len, s.inits.values()))} cells x 15 runs x {updates} updates "
          f"(temporal order, N = {s.n_hidden}, batch {s.batch_size}, float32)")
    priority = experiments.cost("fig7", s)["per_cell"]
    o = overhead(25 if args.quick else 250)
    base, _ = throughput(s, 1, 0, priority)
    for label, threads, workers in (("(a) one process, 1 thread", 1, 0), ("(b) one process, 2 threads", 2, 0),
                                    ("(c) local cluster, 2 workers x 1 thread", 1, 2)):
        rate, seconds = (base, None) if threads == 1 and workers == 0 else throughput(s, threads, workers, priority)
        print(f"   {label:<42} {rate:8.0f} run-updates/s   {rate / base:5.2f}x (a)")
    steady = rate * seconds / (seconds - o["cluster_fixed_s"])
    print(f"   {'(c) without the cluster start-up of 3.':<42} {steady:8.0f} run-updates/s   {steady / base:5.2f}x (a)")
    top = ceiling(dataclasses.replace(s, threads=1), priority)
    print(f"   {'(d) two plain processes, no Dask':<42} {top:8.0f} run-updates/s   {top / base:5.2f}x (a)")
    rates = grouping(updates)
    print("2. grouping, one thread, smart tanh T = 50:")
    for size, rate in rates.items():
        print(f"   engines of {size:>2} runs                         {rate:8.0f} run-updates/s   "
              f"{rate / rates[15]:5.2f}x engines of 15")
    print(f"3. per-cell overhead: serial {o['serial']:.2f} ms, local cluster of 2 workers {o['cluster']:.2f} ms "
          f"(fixed cost per sweep: serial {o['serial_fixed_s']:.2f} s, cluster start-up and shut-down "
          f"{o['cluster_fixed_s']:.1f} s)")


if __name__ == "__main__":
    main()
