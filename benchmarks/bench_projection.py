"""Cost of one update of Kanai et al.'s projection P_δ against gradient clipping, measured in one run.

    .venv/bin/python benchmarks/bench_projection.py [--quick] [--threads 1]

The model is the language model of Kanai §4.1.1 at the paper's size: vocabulary 10,000,
one GRU layer of 650 units, 650-dimensional input layer, soft-max read-out (about 15.5M
parameters), float32, CPU. Its gradients are filled with random numbers of total norm 10
(the paper's average gradient norm); forward and backward passes are not timed. Per update:

(a) norm clipping, ``torch.nn.utils.clip_grad_norm_`` on all parameters (threshold 5) — the baseline;
(b) P_δ of every W_hh (one per layer) with a full SVD (:func:`reprolib.gru.project_spectral_norm`);
(c) P_δ with :class:`reprolib.gru.TruncatedProjection` in the typical case: W_hh already
    projected, 5 singular values at 2 − δ, the rest ≤ 1.2, and SGD steps with
    |η|‖∇_W_hh‖_F = 0.01 (the bounds of Lemma 6 leave s ≈ 5);
(c2) the same with large steps, |η|‖∇_W_hh‖_F = 1 (the bounds become loose: full SVDs);
(c3) the paper's cheaper variant ``trigger=2`` with the steps of (c) (usually no SVD at all);
(d) one plain SGD step on all parameters, for scale.

δ = 0.2. Times in ms per update and as ratios to (a). The thread count applies to torch and
to the BLAS that scipy's ARPACK uses (set through the environment before numpy is imported).
"""

import argparse
import os

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--quick", action="store_true", help="fewer repetitions (noisier)")
parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (default 1)")
args = parser.parse_args() if __name__ == "__main__" else parser.parse_args([])
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import platform  # noqa: E402
import time  # noqa: E402

import scipy  # noqa: E402
import torch  # noqa: E402

from reprolib.gru import GRULanguageModel, TruncatedProjection, project_spectral_norm  # noqa: E402

VOCAB, N, LAYERS, DELTA, GRAD_NORM, THRESHOLD = 10_000, 650, 1, 0.2, 10.0, 5.0


def timed(fn, reps):
    """Mean wall time of ``fn()`` in ms over ``reps`` calls, after one warm-up call."""
    fn()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps * 1e3


def typical_W_hh(gen):
    """A projected W_hh: 5 singular values at 2 − δ, the others uniform in [0.1, 1.2]."""
    U = torch.linalg.qr(torch.randn(N, N, generator=gen, dtype=torch.float64))[0]
    V = torch.linalg.qr(torch.randn(N, N, generator=gen, dtype=torch.float64))[0]
    s = torch.empty(N, dtype=torch.float64).uniform_(0.1, 1.2, generator=gen)
    s[:5] = 2 - DELTA
    return ((U * s) @ V.T).float()


def truncated(gen, step_norm, reps, trigger=None):
    """ms per call of a TruncatedProjection carried over ``reps`` SGD-like steps, and its counts."""
    P = TruncatedProjection(DELTA, trigger=trigger)
    W = P(typical_W_hh(gen))  # first call: full SVD, then exact bounds
    steps = [torch.randn(N, N, generator=gen) for _ in range(reps + 1)]
    steps = [step_norm * s / s.norm() for s in steps]
    total, s_values = 0.0, []
    for k, step in enumerate(steps):
        W_hat = W - step  # the SGD step itself is not timed
        start = time.perf_counter()
        W = P(W_hat)
        if k > 0:  # the first is a warm-up
            total += time.perf_counter() - start
            s_values.append(P.last_s)
    counts = {k: v for k, v in P.counts.items() if v and k != "full_first"}
    return total / reps * 1e3 * LAYERS, counts, sum(s_values) / len(s_values)


def main():
    torch.set_num_threads(args.threads)
    reps = 5 if args.quick else 20
    gen = torch.Generator().manual_seed(0)
    model = GRULanguageModel(VOCAB, N, LAYERS, generator=gen)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen)
    scale = GRAD_NORM / torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
    for p in params:
        p.grad.mul_(scale)
    W_hh = model.recurrent_weights()
    with torch.no_grad():
        for W in W_hh:
            W.copy_(typical_W_hh(gen))
    opt = torch.optim.SGD(params, lr=1e-12)  # a negligible lr keeps the weights as they are

    n_params = sum(p.numel() for p in params)
    print(f"GRU language model: vocab {VOCAB}, {LAYERS} layer(s) of {N} units, {n_params / 1e6:.1f}M parameters, "
          f"float32; delta = {DELTA}, {reps} repetitions")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), scipy {scipy.__version__}, Python {platform.python_version()}")

    def clip():
        torch.nn.utils.clip_grad_norm_(params, THRESHOLD)

    def full():
        for W in W_hh:
            project_spectral_norm(W.detach() - W.grad, DELTA)

    rows = [("(a) clip_grad_norm_, all parameters", timed(clip, reps), "")]
    rows.append(("(b) P_delta, full SVD of every W_hh", timed(full, reps), ""))
    for label, step_norm, trigger in [("(c) P_delta, truncated SVD, small steps", 0.01, None),
                                      ("(c2) P_delta, truncated SVD, large steps", 1.0, None),
                                      ("(c3) trigger = 2 variant, small steps", 0.01, 2.0)]:
        ms, counts, mean_s = truncated(torch.Generator().manual_seed(1), step_norm, reps, trigger)
        rows.append((label, ms, f"mean s {mean_s:.1f}; routes {counts}"))
    rows.append(("(d) SGD step, all parameters", timed(opt.step, reps), ""))

    base = rows[0][1]
    print(f"{'update':<42} {'ms':>9} {'/ (a)':>7}  notes")
    for label, ms, note in rows:
        print(f"{label:<42} {ms:>9.2f} {ms / base:>7.2f}  {note}")


if __name__ == "__main__":
    main()
