"""Training speed of the batched engine against sequential baselines, measured in one run.

    .venv/bin/python benchmarks/bench_engine.py [--quick]

Every method trains the temporal order task (supp. §3.1.1) with N = 50 units, batch 20,
float32, plain SGD with norm clipping (threshold 1), fresh data each update, 2 threads:

(a) R runs one after the other, a plain autograd loop over ``reprolib.rnn`` with
    ``torch.optim.SGD`` and ``clip_grad_norm_``;
(b) the same with ``torch.nn.RNN`` (tanh) and a ``torch.nn.Linear`` read-out;
(c) ``reprolib.engine.Engine`` with the R = 50 runs at once (α = 0: MSGD-C);
(d) the same with Ω in the gradient (α = 2, MSGD-CR).

The unit is run-updates per second (one update of one run). The sequential baselines'
rate does not depend on R, so they are timed on fewer runs. The last lines estimate the
CPU time of Fig. 7's budget in the paper (supp. §3.1.1: 27 lengths × 3 methods × 5 seeds ×
at most 5M updates) at the measured rate, scaled linearly in T.
"""

import argparse
import time

import torch

from reprolib import initializations, tasks
from reprolib.engine import Engine, Run

N, B, R = 50, 20, 50
FIG7_LENGTHS = {"sigmoid": [16, 20, 22, 50, 100, 150, 200, 250],
                "basic_tanh": [16, 20, 35, 45, 50, 55, 65, 75, 100, 150, 200, 250],
                "smart_tanh": [16, 20, 50, 100, 150, 200, 250]}  # supp. §3.1.1


def sequential(kind, T, runs, updates):
    """Run-updates per second of (a) ``kind="autograd"`` or (b) ``kind="nn.RNN"``."""
    task = tasks.TASKS["temporal_order"]
    start = time.perf_counter()
    for seed in range(runs):
        gen = torch.Generator().manual_seed(seed)
        p = initializations.smart_tanh(task.n_in, N, task.n_out, gen)
        if kind == "autograd":
            params = [t.clone().requires_grad_(True) for t in p.as_dict().values()]
            W_rec, W_in, b, W_out, b_out = params
            rnn = initializations.Params(W_rec, W_in, b, W_out, b_out, "tanh").rnn()
            x0 = torch.zeros(N)
            model = lambda u: torch.tanh(rnn.unroll(u, x0)[-1]) @ W_out.T + b_out  # noqa: E731
        else:
            net, out = torch.nn.RNN(task.n_in, N, nonlinearity="tanh"), torch.nn.Linear(N, task.n_out)
            with torch.no_grad():
                net.weight_hh_l0.copy_(p.W_rec), net.weight_ih_l0.copy_(p.W_in)
                net.bias_hh_l0.zero_(), net.bias_ih_l0.zero_(), out.weight.copy_(p.W_out), out.bias.zero_()
            params = list(net.parameters()) + list(out.parameters())
            model = lambda u: out(net(u)[0][-1])  # noqa: E731
        opt = torch.optim.SGD(params, lr=0.01)
        for _ in range(updates):
            u, y = task.generate(B, T, gen)
            loss = torch.nn.functional.cross_entropy(model(u), y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
    return runs * updates / (time.perf_counter() - start)


def batched(T, updates, alpha):
    """Run-updates per second of the engine with R runs."""
    eng = Engine("temporal_order", [Run(seed=s, threshold=1.0, alpha=alpha) for s in range(R)], n_hidden=N,
                 batch_size=B, length=T, device="cpu")
    eng.step()  # warm-up
    start = time.perf_counter()
    for _ in range(updates):
        eng.step(omega_value=False)  # as in Engine.train between two logged updates
    return R * updates / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer updates (noisier)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    scale = 0.3 if args.quick else 1.0
    print(f"N = {N}, batch = {B}, R = {R}, float32, {torch.get_num_threads()} threads; run-updates per second")
    print(f"{'T':>4} {'(a) autograd':>13} {'(b) nn.RNN':>11} {'(c) engine':>11} {'(d) engine+Ω':>13} "
          f"{'(c)/(a)':>8} {'(c)/(b)':>8} {'(d)/(a)':>8}")
    seconds_per_step_per_T = []
    sequential("autograd", 20, runs=1, updates=5)  # warm-up (first calls allocate and load kernels)
    sequential("nn.RNN", 20, runs=1, updates=5)
    for T in (20, 50, 100):
        n_seq = max(3, int(20 * scale * 50 / T))
        a = sequential("autograd", T, runs=4, updates=n_seq)
        b = sequential("nn.RNN", T, runs=4, updates=n_seq)
        c = batched(T, updates=max(3, int(40 * scale * 50 / T)), alpha=0.0)
        d = batched(T, updates=max(3, int(40 * scale * 50 / T)), alpha=2.0)
        print(f"{T:>4} {a:>13.0f} {b:>11.0f} {c:>11.0f} {d:>13.0f} {c / a:>8.1f} {c / b:>8.1f} {d / a:>8.1f}", flush=True)
        seconds_per_step_per_T.append(1 / (d * T))
        if T == 50:
            speedup = c / a
    per_T = sum(seconds_per_step_per_T) / len(seconds_per_step_per_T)
    budget = sum(3 * 5 * 5_000_000 * T * per_T for lengths in FIG7_LENGTHS.values() for T in lengths)
    print(f"Fig. 7 paper budget (27 lengths x 3 methods x 5 seeds x 5M updates, no early stop) at the (d) rate: "
          f"{budget / 3600:,.0f} CPU-hours on this machine ({budget / 3600 / 24:,.0f} days)")
    print(f"engine speedup vs autograd at T=50: {speedup:.1f}x")


if __name__ == "__main__":
    main()
