"""Training speed of sequence prediction (reprolib.seq_engine) against torch.nn.RNN, measured in one run.

    .venv/bin/python benchmarks/bench_sequence.py [--quick]

Each method trains R runs of the supplement's music model (sigmoid units, 88 keys, 200-step segments,
minibatches of 20 pieces of random notes, float32, one thread) and of its character model (500
sigmoid units, 50 symbols) for a few updates, and reports run-updates per second:

(a) the baseline: R runs one after the other, each a plain autograd loop over ``torch.nn.RNN`` with a
    ``torch.nn.Linear`` read-out, ``clip_grad_norm_`` and ``torch.optim.SGD``;
(b) ``seq_engine.update`` with the R runs at once, without Ω (α = 0; Ω not computed, as in ``seq_engine.fit``);
(c) the same with Ω in the gradient (α > 0);
(d) the readable route, ``sequence.update``, R times.

Ratios are against (a) of the same run; the targets are (b) ≥ 1x and (c) within 30 % of (b).
"""

import argparse
import time

import torch

from reprolib import initializations, seq_engine, sequence

R = 3


def data(kind, K, L, B, g):
    if kind == "music":
        notes = (torch.rand(L + 1, B, K, generator=g) < 0.1).float()
        return notes[:-1], notes[1:]
    ids = torch.randint(K, (L + 1, B), generator=g)
    return torch.nn.functional.one_hot(ids[:-1], K).float(), ids[1:]


def baseline(kind, K, N, L, B, updates, g):
    u, y = data(kind, K, L, B, g)
    start = None
    for r in range(R):
        rnn, out = torch.nn.RNN(K, N), torch.nn.Linear(N, K)  # tanh: nn.RNN has no sigmoid units
        params = list(rnn.parameters()) + list(out.parameters())
        opt = torch.optim.SGD(params, lr=0.1)
        h = torch.zeros(1, B, N)
        for k in range(updates + (r == 0)):  # the first update of all warms up and is not timed
            if start is None and k == 1:
                start = time.perf_counter()
            hs, h = rnn(u, h.detach())
            E = sequence.cost(kind, out(hs), y)
            opt.zero_grad()
            E.backward()
            torch.nn.utils.clip_grad_norm_(params, 8.0)
            opt.step()
    return R * updates / (time.perf_counter() - start)


def ours(kind, K, N, L, B, updates, g, alpha, batched=True):
    u, y = data(kind, K, L, B, g)
    params = [{k: v.clone() for k, v in initializations.initialize("sigmoid", K, N, K, g).as_dict().items()}
              for _ in range(R)]
    start = None
    if batched:
        p, h = seq_engine.stack(params), torch.zeros(R, B, N)
        vec = lambda x: torch.full((R,), x)  # noqa: E731
        for k in range(updates + 1):  # the first update warms up and is not timed
            start = time.perf_counter() if k == 1 else start
            p, _, _, _, h = seq_engine.update(kind, p, "sigmoid", u, y, h, lr=vec(0.1), threshold=vec(8.0), alpha=vec(alpha),
                                              omega_value=False)
    else:
        for r in range(R):
            p, h = params[r], torch.zeros(B, N)
            for k in range(updates + (r == 0)):
                start = time.perf_counter() if start is None and k == 1 else start
                p, _, _, _, h = sequence.update(kind, p, "sigmoid", u, y, h, lr=0.1, threshold=8.0, alpha=alpha)
    return R * updates / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test of this script)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    cases = [("music", 88, 400, 200, 20, 10), ("chars", 50, 500, 200, 8, 10)]
    if args.quick:
        cases = [("music", 88, 40, 20, 4, 3), ("chars", 50, 50, 20, 4, 3)]
    for kind, K, N, L, B, updates in cases:
        print(f"{kind}: N = {N}, segment {L}, minibatch {B}, {R} runs x {updates} updates, float32, 1 thread")
        base = baseline(kind, K, N, L, B, updates, g)
        for label, rate in (("(a) torch.nn.RNN, runs one after the other", base),
                            ("(b) seq_engine, runs at once, no Omega", ours(kind, K, N, L, B, updates, g, 0.0)),
                            ("(c) seq_engine, runs at once, with Omega", ours(kind, K, N, L, B, updates, g, 0.5)),
                            ("(d) sequence.update (readable), one run at a time",
                             ours(kind, K, N, L, B, updates, g, 0.5, batched=False))):
            print(f"   {label:<52} {rate:7.2f} run-updates/s   {rate / base:5.2f}x (a)")


if __name__ == "__main__":
    main()
