"""Cost of the eq. (4) decomposition against a plain autograd gradient, in one run.

    .venv/bin/python benchmarks/bench_rnn.py

Baseline (a): autograd through the unrolled eq. (2) network, ∂E_t/∂θ only.
(b): ``RNN.temporal_contributions``, which also keeps every temporal contribution
     (k = 1..T) separately: the quantity Chapter 1 plots.
(c): ``RNN.backprop`` alone (the δ_k = ∂E_t/∂x_k of eq. 5, no parameter gradients).
Prints seconds per call and the ratios (b)/(a), (c)/(a). Sizes: the paper's synthetic
setting, N = 50 units, batch 20, float64, one and two threads.
"""

import time

import torch

from reprolib.rnn import RNN


def per_call(fn, repeat):
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main():
    D, N, M, B = torch.float64, 50, 6, 20
    g = torch.Generator().manual_seed(0)
    print(f"{'threads':>7} {'T':>4} {'(a) autograd':>13} {'(b) contributions':>18} {'(c) backprop':>13} {'(b)/(a)':>8} {'(c)/(a)':>8}")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for T in (50, 200):
            net = RNN(torch.randn(N, N, generator=g, dtype=D) / N**0.5, torch.randn(N, M, generator=g, dtype=D),
                      torch.zeros(N, dtype=D), "tanh")
            u, x0 = torch.randn(T, B, M, generator=g, dtype=D), torch.zeros(B, N, dtype=D)
            params = [p.clone().requires_grad_(True) for p in net.parameters().values()]
            net_grad = RNN(*params, sigma="tanh")
            dE = torch.randn(B, N, generator=g, dtype=D)

            def autograd():
                return torch.autograd.grad((net_grad.unroll(u, x0)[-1] * dE).sum(), params)

            xs = net.unroll(u, x0)
            repeat = 20
            a = per_call(autograd, repeat)
            b = per_call(lambda: net.temporal_contributions(u, x0, dE), repeat)
            c = per_call(lambda: net.backprop(xs, dE), repeat)
            print(f"{threads:>7} {T:>4} {a * 1e3:>10.2f} ms {b * 1e3:>15.2f} ms {c * 1e3:>10.2f} ms {b / a:>8.2f} {c / a:>8.2f}")


if __name__ == "__main__":
    main()
