"""Cost of one update of Kanai et al.'s projection P_δ against gradient clipping, measured in one run.

    .venv/bin/python benchmarks/bench_projection.py [--quick] [--threads 1]

The model is the language model of Kanai §4.1.1 at the paper's size: vocabulary 10,000,
one GRU layer of 650 units, 650-dimensional input layer, soft-max read-out (about 15.5M
parameters), float32, CPU. Its gradients are filled with random numbers of total norm 10
(the paper's average gradient norm); the forward and backward passes are timed apart, (e). Per update:

(a) norm clipping, ``torch.nn.utils.clip_grad_norm_`` on all parameters (threshold 5) — the baseline;
(b) P_δ of every W_hh (one per layer) with a full SVD (:func:`reprolib.projection.project_spectral_norm`);
(c) P_δ with :class:`reprolib.projection.TruncatedProjection` in the typical case: W_hh already
    projected, 5 singular values at 2 − δ, the rest ≤ 1.2, and SGD steps with
    |η|‖∇_W_hh‖_F = 0.01 (the bounds of Lemma 6 leave s ≈ 5);
(c2) the same with large steps, |η|‖∇_W_hh‖_F = 1 (the bounds become loose: full SVDs);
(c3) the paper's cheaper variant ``trigger=2`` with the steps of (c) (usually no SVD at all);
(d) one plain SGD step on all parameters, for scale;
(e) one forward and backward pass on 35 x 20 tokens (the rest of a training iteration).

δ = 0.2. Times in ms per update and as ratios to (a). The thread count applies to torch and
to the BLAS that scipy's ARPACK uses (set through the environment before numpy is imported).
The measurement itself is :func:`reprolib.update_costs.measure_update_costs`, which Chapter 7 also runs.
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

import scipy  # noqa: E402
import torch  # noqa: E402

from reprolib.update_costs import measure_update_costs  # noqa: E402

VOCAB, N, LAYERS, DELTA, GRAD_NORM, THRESHOLD = 10_000, 650, 1, 0.2, 10.0, 5.0


def main():
    torch.set_num_threads(args.threads)
    reps = 5 if args.quick else 20
    rows = measure_update_costs(generator=torch.Generator().manual_seed(0), vocab=VOCAB, n_hidden=N, n_layers=LAYERS,
                                delta=DELTA, threshold=THRESHOLD, grad_norm=GRAD_NORM, reps=reps)
    n_params = VOCAB * N * 2 + VOCAB + LAYERS * 6 * N * N
    print(f"GRU language model: vocab {VOCAB}, {LAYERS} layer(s) of {N} units, {n_params / 1e6:.1f}M parameters, "
          f"float32; delta = {DELTA}, {reps} repetitions")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), scipy {scipy.__version__}, Python {platform.python_version()}")
    print(f"{'update':<42} {'ms':>9} {'/ (a)':>7}  notes")
    for r in rows:
        print(f"{r['label']:<42} {r['ms']:>9.2f} {r['ratio']:>7.2f}  {r['note']}")


if __name__ == "__main__":
    main()
