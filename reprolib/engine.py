"""Train R independent runs of the synthetic experiments (supp. §3.1) at once.

Every run has its own seed, learning rate, clipping threshold and kind, and Ω weight; the
runs share the task, the network size and the minibatch size, so that a whole grid of
Fig. 7 trains in one call. The parameters of the R runs are stacked along a leading run
dimension and the forward pass and back-propagation through time (BPTT) are written by
hand with batched matrix products, in the original code's form:

    h_0 = 0,   x_t = W_rec h_{t−1} + W_in u_t + b,   h_t = σ(x_t)            (eq. 2, h-form)

(the notation page shows this is eq. 2 started from h_0 = 0). One update of one run does,
in the order of the original code (see ``reprolib.clipping``):

    g = ∂E/∂θ by BPTT;   g_W_rec += α_t ∂⁺Ω/∂W_rec              (supp. eq. 5, reprolib.omega)
    ‖g‖ over all five parameters; norm clipping (Algorithm 1) or element-wise clipping;
    if ‖g‖ is NaN, Inf or > 1e10: g_W_rec = 0.02 W_rec, others 0       (supp. §2.1)
    θ ← θ − lr · g                                                        (plain SGD)

Each run draws its initialization and then its minibatches from its own generator, and its
test sequences from a second one, so a run gives the same trajectory whether it trains
alone or among others (up to the rounding of sums over padded steps, ~1e-16 relative).
Within one update the runs' sequences may have different lengths (a length range, or the
addition task's T' ∈ [T, 1.1T]); shorter ones are padded *at the start* and the padded
steps hold h = 0, which is exactly h_0, so they change nothing.

The batched maths (forward pass, output heads, BPTT, Ω's terms, clipping and the SGD step for
R stacked runs) is in :mod:`reprolib.bptt`; this module holds the runs, the training loop, the
tests of trained networks and the checkpoints. The implementation the engine is tested against
is the readable one, :mod:`reprolib.reference`.
"""

from __future__ import annotations

import inspect
import math
import os
import time

from dataclasses import dataclass, field
from datetime import datetime, timezone

import torch
from tqdm import tqdm  # tqdm.auto warns on stderr without ipywidgets, which nbval would compare

from . import _checks, files, omega, provenance, tasks
from . import initializations
from .bptt import NAMES, Batch, Step, Workspace, clip_and_step, forward, gradients, make_batch
from .linear import spectral_radius

#: clipping kinds: Algorithm 1 (rescale the whole gradient) or Mikolov's element-wise clamp
CLIP_KINDS = ("norm", "elementwise")
#: a run's seed is below this bound, and its test-sequence generator is seeded with seed + SEED_BOUND:
#: torch's CPU generator keeps only the low 32 bits of a seed, so both streams differ within 32 bits
#: (an offset of 2**32 or more would give the test sequences the training stream)
SEED_BOUND = 2**31
EVAL_SEED_OFFSET = SEED_BOUND
#: test sequences are generated and scored in chunks of this size, each chunk with its own length
EVAL_CHUNK = 1000
#: version of the checkpoint container written by :meth:`Engine.save`
CHECKPOINT_FORMAT = files.CHECKPOINT_FORMAT


#: a hash of the sources the engine runs (its module and those it uses): a checkpoint is resumed only by that code
CODE_HASH = provenance.code_hash("engine")


def read_checkpoint(path) -> dict:
    """The state saved by :meth:`Engine.save` at ``path``, verified against its checksum and never
    executed (:func:`reprolib.files.read_checkpoint`)."""
    return files.read_checkpoint(path)


@dataclass(frozen=True)
class Run:
    """The settings of one run.

    Args:
        seed: seeds the run's generator (initialization, then minibatches), in [0, 2**31); the run's
            test sequences come from a generator seeded with ``seed + 2**31`` (:data:`EVAL_SEED_OFFSET`).
        lr: learning rate of plain SGD (supp. §3.1: 0.01).
        threshold: clipping threshold, or ``None`` for no clipping (MSGD).
        clip_kind: ``"norm"`` (Algorithm 1) or ``"elementwise"``.
        alpha: weight of Ω, a number or an :class:`reprolib.omega.AlphaSchedule` of the update index;
            0 for no Ω (MSGD-C), > 0 for MSGD-CR.
        fallback: apply the non-finite fallback of supp. §2.1.
        l2: weight λ of the penalty (λ/2)‖W_rec‖²_F (the alternative of Pascanu §3.3 that Ω is compared
            with): after the clipped update, W_rec ← W_rec − lr·λ·W_rec, i.e. λ W_rec is added to the
            clipped gradient (the penalty's gradient is not clipped).
    """

    seed: int
    lr: float = 0.01
    threshold: float | None = 1.0
    clip_kind: str = "norm"
    alpha: float | omega.AlphaSchedule = 0.0
    fallback: bool = True
    l2: float = 0.0

    def __post_init__(self):
        _checks.positive_int("seed", self.seed, minimum=0)
        if self.seed >= SEED_BOUND:
            raise ValueError(f"seed must be in [0, 2**31), got {self.seed}: torch's CPU generator keeps only the low "
                             f"32 bits of a seed, and seed + 2**31 seeds the run's test sequences")
        _checks.positive_float("lr", self.lr)
        if self.threshold is not None:
            _checks.positive_float("threshold", self.threshold)
        if self.clip_kind not in CLIP_KINDS:
            raise ValueError(f"clip_kind must be one of {CLIP_KINDS}, got {self.clip_kind!r}")
        if not isinstance(self.alpha, omega.AlphaSchedule):
            _checks.positive_float("alpha", self.alpha, strict=False)
        if not isinstance(self.fallback, bool):
            raise TypeError(f"fallback must be a bool, got {type(self.fallback).__name__}")
        _checks.positive_float("l2", self.l2, strict=False)

    def alpha_at(self, t: int) -> float:
        """α at update ``t``."""
        return self.alpha(t) if isinstance(self.alpha, omega.AlphaSchedule) else float(self.alpha)


@dataclass
class Result:
    """The outcome of :meth:`Engine.train`.

    ``solved_at[r]``: the update after which run r passed the test (``None`` if it did not);
    ``error[r]``: its last test error rate; ``params[r]``: its final parameters;
    ``log``: a dict of equal-length lists, one row per (logged update, active run), with the
    keys ``update, run, loss, omega, norm, clipped, fallback, rho`` (ρ(W_rec)) and
    ``evals``: rows ``update, run, error``.
    """

    solved_at: list
    error: list
    params: list
    log: dict = field(default_factory=dict)
    evals: dict = field(default_factory=dict)
    updates: int = 0
    seconds: float = 0.0  # time spent in train(), summed over resumed sessions
    sessions: list = field(default_factory=list)  # Engine.sessions: the calls of train() that produced this result


class Engine:
    """R runs of one task, trained together.

    Args:
        task: a name in :data:`reprolib.tasks.TASKS` or a :class:`reprolib.tasks.Task`.
        runs: the :class:`Run` settings, one per run (their seeds need not differ).
        init: a name in :data:`reprolib.initializations.INITS` (``sigmoid``, ``basic_tanh``, ``smart_tanh``).
        n_hidden: N (supp. §3.1: 50).
        batch_size: B (supp. §3.1: 20).
        length: the training length T, an int or a ``(min, max)`` range sampled per minibatch.
        eval_length: the test length (default: ``length``), sampled per chunk of 1,000.
        task_options: extra keyword arguments of the task's generator (e.g. ``variant``).
        init_options: extra keyword arguments of the initialization (e.g. ``variant``).
        omega_form, omega_norms: see :mod:`reprolib.omega` (``"x"``/``"h"``, ``"squared"``/``"plain"``).
        dtype: float32 (default) or float64.
        device: ``"auto"`` (CUDA when present) or any torch device this machine has (``"cuda:1"``).

    The public surface: :meth:`train`, :meth:`step`, :meth:`evaluate`, :meth:`sample_gradients`,
    :meth:`params`, :meth:`set_params`, :meth:`generator`, :meth:`load_params`, :meth:`choices`, the
    checkpoint methods, and the read-only attributes ``task``, ``runs``, ``n_hidden``, ``batch_size``,
    ``length``, ``eval_length``, ``dtype``, ``device``, ``sigma``, ``updates``, ``active`` (the runs
    still training), ``solved_at``, ``error``, ``log``, ``evals`` and ``sessions``. The parameters are
    stacked over the active runs and re-indexed when a run stops; only the engine's own code relies on that.
    """

    def __init__(self, task, runs, *, init="smart_tanh", n_hidden=50, batch_size=20, length=50,
                 eval_length=None, task_options=None, init_options=None, omega_form="x",
                 omega_norms="squared", dtype=torch.float32, device="auto"):
        self.task = tasks.get_task(task)
        if not isinstance(runs, (list, tuple)) or not runs or not all(isinstance(r, Run) for r in runs):
            raise TypeError("runs must be a non-empty list of engine.Run")
        self.runs = list(runs)
        if init not in initializations.INITS:
            raise ValueError(f"init must be one of {tuple(initializations.INITS)}, got {init!r}")
        self.n_hidden = _checks.positive_int("n_hidden", n_hidden)
        self.batch_size = _checks.positive_int("batch_size", batch_size)
        self.task_options = dict(task_options or {})
        tasks.sample_length(length, torch.Generator(), self.task_options.get("variant", "paper"), self.task.min_length)
        self.length, self.eval_length = length, length if eval_length is None else eval_length
        tasks.sample_length(self.eval_length, torch.Generator(), "paper", self.task.min_length)
        if omega_form not in omega.FORMS:
            raise ValueError(f"omega_form must be one of {omega.FORMS}, got {omega_form!r}")
        if omega_norms not in omega.NORMS:
            raise ValueError(f"omega_norms must be one of {omega.NORMS}, got {omega_norms!r}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.omega_form, self.omega_norms, self.dtype = omega_form, omega_norms, dtype
        self.init_name, self.init_options = init, dict(init_options or {})
        self.device = _checks.device(device)
        self._gens = [torch.Generator().manual_seed(r.seed) for r in self.runs]
        self._eval_gens = [torch.Generator().manual_seed(r.seed + EVAL_SEED_OFFSET) for r in self.runs]
        inits = [initializations.initialize(init, self.task.n_in, n_hidden, self.task.n_out, g, dtype=torch.float64,
                                          **(init_options or {})) for g in self._gens]
        self.sigma = inits[0].sigma
        self._P = {n: torch.stack([getattr(p, n) for p in inits]).to(self.device, dtype) for n in NAMES}
        self.active = list(range(len(self.runs)))  # runs still training, in the order of the rows of P
        self._workspace, self._eval_workspace = Workspace(), Workspace()
        self._final = [None] * len(self.runs)
        self.solved_at = [None] * len(self.runs)
        self.error = [None] * len(self.runs)
        self.updates = 0
        self.train_seconds = 0.0  # time spent in train(), summed over resumed sessions
        self.sessions = []  # one entry per call of train(): {"from", "to" (updates), "seconds", "ended" (UTC)}
        self.log = {k: [] for k in ("update", "run", "loss", "omega", "norm", "clipped", "fallback", "rho")}
        self.evals = {k: [] for k in ("update", "run", "error")}

    def choices(self) -> dict:
        """Every modelling choice of this engine that changes the numbers, for a results file's provenance:
        the task and its variant, the initialization and its variant, the loss (head and reduction),
        Ω's form, norms and reduction, the dtype."""
        def default(fn, name):
            p = inspect.signature(fn).parameters.get(name)
            return None if p is None or p.default is inspect.Parameter.empty else p.default

        reductions = {"last_softmax": "cross-entropy at the last step, mean over the minibatch",
                      "every_softmax": "cross-entropy at every step, mean over steps x minibatch",
                      "last_linear": "squared error at the last step, mean over the minibatch"}
        init_fn = initializations.INITS[self.init_name]
        task_options = {**self.task.options, **self.task_options}
        return {"task": self.task.name, "task_variant": task_options.pop("variant", default(self.task.make, "variant")),
                "task_options": task_options,
                "init": self.init_name, "init_variant": self.init_options.get("variant", default(init_fn, "variant")),
                "loss": reductions[self.task.head], "omega_form": self.omega_form, "omega_norms": self.omega_norms,
                "omega_reduction": "mean over the included (step, sequence) terms, as the original code",
                "dtype": str(self.dtype).removeprefix("torch.")}

    # ------------------------------------------------------------------ data
    def _batch(self, ids, gens, batch_size, length) -> Batch:
        samples = [self.task.generate(batch_size, length, gens[r], dtype=self.dtype, device=self.device,
                                      **self.task_options) for r in ids]
        return make_batch(self.task, samples)

    def _per_run(self, ids):
        runs = [self.runs[r] for r in ids]
        as_t = lambda xs, dt=self.dtype: torch.tensor(xs, dtype=dt, device=self.device)  # noqa: E731
        lr = as_t([r.lr for r in runs])
        threshold = as_t([math.inf if r.threshold is None else r.threshold for r in runs])
        elementwise = as_t([r.threshold is not None and r.clip_kind == "elementwise" for r in runs], torch.bool)
        fallback = as_t([r.fallback for r in runs], torch.bool)
        alpha = as_t([r.alpha_at(self.updates) for r in runs])
        return lr, threshold, elementwise, fallback, alpha

    # ------------------------------------------------------------------ one update
    def step(self, omega_value: bool = True) -> Step:
        """One SGD update of every active run (Ω is computed for the record only if ``omega_value``)."""
        ids = self.active
        lr, threshold, elementwise, fallback, alpha = self._per_run(ids)
        batch = self._batch(ids, self._gens, self.batch_size, self.length)
        grads, loss, value = gradients(self._P, batch, self.sigma, self.task.head, alpha, self.omega_form,
                                       self.omega_norms, self._workspace, omega_value)
        norm, clipped, bad = clip_and_step(self._P, grads, lr, threshold, elementwise, fallback)
        l2 = [self.runs[r].l2 for r in ids]
        if any(l2):  # the L2 penalty's step, after the clipped one (Run.l2)
            self._P["W_rec"].mul_((1 - lr * torch.tensor(l2, dtype=self.dtype, device=self.device)).view(-1, 1, 1))
        self.updates += 1
        return Step(loss, value, norm, clipped, bad)

    # ------------------------------------------------------------------ test
    @torch.no_grad()
    def evaluate(self, n_test: int = tasks.N_TEST, length=None) -> torch.Tensor:
        """The number of wrong sequences out of ``n_test`` fresh ones, for each active run
        (chunks of 1,000, each with its own length drawn from ``length``, default ``eval_length``)."""
        _checks.positive_int("n_test", n_test)
        if length is None:
            length = self.eval_length
        else:
            tasks.sample_length(length, torch.Generator(), "paper", self.task.min_length)
        ids = self.active
        wrong = torch.zeros(len(ids), dtype=torch.long)
        for start in range(0, n_test, EVAL_CHUNK):
            batch = self._batch(ids, self._eval_gens, min(EVAL_CHUNK, n_test - start), length)
            H = forward(self._P, batch, self.sigma, self._eval_workspace, last_only=self.task.head != "every_softmax")
            for i in range(len(ids)):
                wrong[i] += int(tasks.wrong(self.task, *self._outputs(H, batch, i)).sum())
        return wrong

    def _outputs(self, H, batch: Batch, i: int):
        """Run i's outputs and targets in the shapes :func:`reprolib.tasks.wrong` expects."""
        W_out, b_out = self._P["W_out"][i], self._P["b_out"][i]
        if self.task.head == "every_softmax":
            real = batch.mask[i]
            return H[i, 1:][real] @ W_out.T + b_out, batch.y[i][real]
        out = H[i, -1] @ W_out.T + b_out
        return (out[:, 0] if self.task.head == "last_linear" else out), batch.y[i]

    def load_params(self, params: list) -> None:
        """Give every run the parameters ``params[r]`` (a dict of tensors per run, as in
        :attr:`Result.params`) and make all runs active again, e.g. to test trained networks
        at other lengths with :meth:`evaluate`."""
        if not isinstance(params, (list, tuple)) or len(params) != len(self.runs):
            raise ValueError(f"params must be a list of {len(self.runs)} parameter dicts (one per run)")
        for r, p in enumerate(params):
            if not isinstance(p, dict) or set(p) != set(NAMES):
                raise ValueError(f"params[{r}] must be a dict with the keys {NAMES}")
            for n in NAMES:
                if p[n].shape != self._P[n].shape[1:]:
                    raise ValueError(f"params[{r}][{n!r}] must have shape {tuple(self._P[n].shape[1:])}, "
                                     f"got {tuple(p[n].shape)}")
        self._P = {n: torch.stack([p[n] for p in params]).to(self.device, self.dtype) for n in NAMES}
        self.active = list(range(len(self.runs)))

    # ------------------------------------------------------------------ one run, from outside
    def _row(self, run) -> int:
        """The row of the active run ``run`` in the stacked parameters."""
        if run not in self.active:
            raise ValueError(f"run must be an active run of the engine {self.active}, got {run!r}")
        return self.active.index(run)

    def _check_run(self, run) -> None:
        if not _checks.is_integer(run) or not 0 <= run < len(self.runs):
            raise ValueError(f"run must be an index of the engine's {len(self.runs)} runs, got {run!r}")

    def params(self, run: int) -> dict[str, torch.Tensor]:
        """A copy of run ``run``'s parameters ``{"W_rec", "W_in", "b", "W_out", "b_out"}`` (its final
        ones once it has stopped)."""
        self._check_run(run)
        if run not in self.active:
            return {n: t.clone() for n, t in self._final[run].items()}
        i = self._row(run)
        return {n: self._P[n][i].detach().clone() for n in NAMES}

    def set_params(self, run: int, **tensors: torch.Tensor) -> None:
        """Replace some parameters of the active run ``run``, e.g. ``set_params(0, W_rec=W)`` (same
        shapes; cast to the engine's dtype and device)."""
        i = self._row(run)
        for n, t in tensors.items():
            if n not in NAMES:
                raise ValueError(f"parameter names are {NAMES}, got {n!r}")
            _checks.tensor(n, t)
            if t.shape != self._P[n].shape[1:]:
                raise ValueError(f"{n} must have shape {tuple(self._P[n].shape[1:])}, got {tuple(t.shape)}")
            self._P[n][i] = t.to(self.device, self.dtype)

    def generator(self, run: int, stream: str = "train") -> torch.Generator:
        """A copy of run ``run``'s generator: ``"train"`` draws the minibatches of its next updates,
        ``"test"`` its next test sequences. Drawing from the copy does not advance the run's own."""
        self._check_run(run)
        if stream not in ("train", "test"):
            raise ValueError(f"stream must be 'train' or 'test', got {stream!r}")
        g = (self._gens if stream == "train" else self._eval_gens)[run]
        return torch.Generator(device=g.device).set_state(g.get_state())

    def sample_gradients(self, n_batches: int, generator: torch.Generator, run: int = 0) -> list[dict[str, torch.Tensor]]:
        """The gradients the engine would clip, ∂E/∂θ + α ∂⁺Ω/∂W_rec, for the active run ``run`` at
        its current parameters, on ``n_batches`` fresh minibatches drawn from ``generator`` (the
        engine's task, batch size and length range), without updating. The run's parameters are
        copied ``n_batches`` times and the batches go through :func:`gradients` at once.

        Returns one dict ``{"W_rec", "W_in", "b", "W_out", "b_out"}`` per minibatch.
        """
        n_batches = _checks.positive_int("n_batches", n_batches)
        _checks.generator("generator", generator)
        i = self._row(run)
        P = {n: t[i:i + 1].expand(n_batches, *t.shape[1:]).contiguous() for n, t in self._P.items()}
        samples = [self.task.generate(self.batch_size, self.length, generator, dtype=self.dtype, device=self.device,
                                      **self.task_options) for _ in range(n_batches)]
        alpha = torch.full((n_batches,), self.runs[run].alpha_at(self.updates), dtype=self.dtype, device=self.device)
        grads, _, _ = gradients(P, make_batch(self.task, samples), self.sigma, self.task.head, alpha, self.omega_form,
                                self.omega_norms, omega_value=False)
        return [{n: grads[n][k] for n in NAMES} for k in range(n_batches)]

    # ------------------------------------------------------------------ bookkeeping
    def _retire(self, keep: list[bool]) -> None:
        """Store the final parameters of the runs that stop and drop them from the batch."""
        for i, r in enumerate(self.active):
            if not keep[i]:
                self._final[r] = {n: self._P[n][i].detach().cpu().clone() for n in NAMES}
        rows = torch.tensor([i for i, k in enumerate(keep) if k], dtype=torch.long, device=self.device)
        self._P = {n: self._P[n].index_select(0, rows).contiguous() for n in NAMES}
        self.active = [r for r, k in zip(self.active, keep) if k]

    def _reactivate(self) -> None:
        """Make the runs that stopped at an earlier ``max_updates`` unsolved active again (a larger
        ``max_updates`` continues them from their final parameters; solved runs stay stopped)."""
        back = [r for r in range(len(self.runs)) if r not in self.active and self.solved_at[r] is None]
        if not back:
            return
        order = sorted(self.active + back)
        rows = {r: i for i, r in enumerate(self.active)}
        self._P = {n: torch.stack([self._P[n][rows[r]] if r in rows else self._final[r][n].to(self.device, self.dtype)
                                  for r in order]) for n in NAMES}
        for r in back:
            self._final[r] = None
        self.active = order

    def _test(self, n_test: int, criterion: str) -> None:
        """Test every active run on ``n_test`` fresh sequences, record its error, and stop the runs
        that pass (:func:`reprolib.tasks.solved` with ``criterion``)."""
        wrong = self.evaluate(n_test)
        keep = []
        for i, r in enumerate(self.active):
            self.error[r] = wrong[i].item() / n_test
            for k, v in (("update", self.updates), ("run", r), ("error", self.error[r])):
                self.evals[k].append(v)
            done = tasks.solved(wrong[i].item(), n_test, criterion)
            if done:
                self.solved_at[r] = self.updates
            keep.append(not done)
        if not all(keep):
            self._retire(keep)

    def _record(self, step: Step) -> None:
        rho = [spectral_radius(W.double()) for W in self._P["W_rec"]]
        for i, r in enumerate(self.active):
            for k, v in (("update", self.updates), ("run", r), ("loss", step.loss[i].item()),
                         ("omega", step.omega[i].item()), ("norm", step.norm[i].item()),
                         ("clipped", bool(step.clipped[i])), ("fallback", bool(step.fallback[i])), ("rho", rho[i])):
                self.log[k].append(v)

    def fingerprint(self) -> dict:
        """What a checkpoint must have been written by to be resumed here: the code, the task, the
        initialization, the sizes, the lengths, Ω's form and norms, the dtype and every :class:`Run`."""
        return {"code": CODE_HASH, "task": self.task.name, "task_options": repr(sorted(self.task_options.items())),
                "init": self.init_name, "init_options": repr(sorted(self.init_options.items())),
                "n_hidden": self.n_hidden, "batch_size": self.batch_size, "length": repr(self.length),
                "eval_length": repr(self.eval_length), "omega_form": self.omega_form, "omega_norms": self.omega_norms,
                "dtype": str(self.dtype), "runs": [repr(r) for r in self.runs]}

    def state_dict(self) -> dict:
        """Everything needed to resume exactly (parameters, generators, logs) and the :meth:`fingerprint`."""
        return {"fingerprint": self.fingerprint(), "P": {n: t.cpu() for n, t in self._P.items()}, "active": self.active, "final": self._final,
                "solved_at": self.solved_at, "error": self.error, "updates": self.updates,
                "gens": [g.get_state() for g in self._gens], "eval_gens": [g.get_state() for g in self._eval_gens],
                "log": self.log, "evals": self.evals, "seeds": [r.seed for r in self.runs],
                "train_seconds": self.train_seconds, "sessions": self.sessions}

    def load_state_dict(self, state: dict) -> None:
        """Resume from ``state``; ``ValueError`` when it was written by other code or another engine."""
        mine, theirs = self.fingerprint(), state.get("fingerprint", {})
        differ = [k for k in mine if theirs.get(k) != mine[k]]
        if differ:
            what = "other code (the sources of the engine or of a module it uses changed)" if differ == ["code"] else \
                f"another engine ({', '.join(k for k in differ if k != 'code')} differ)"
            raise ValueError(f"the checkpoint was written by {what}")
        self._P = {n: t.to(self.device) for n, t in state["P"].items()}
        self._final = state["final"]
        for k in ("active", "solved_at", "error", "updates", "log", "evals", "train_seconds", "sessions"):
            setattr(self, k, state[k])
        for g, s in zip(self._gens, state["gens"]):
            g.set_state(s)
        for g, s in zip(self._eval_gens, state["eval_gens"]):
            g.set_state(s)

    def save(self, path) -> None:
        """Write a checkpoint atomically, with the sha256 of its contents so that :func:`read_checkpoint`
        detects damage (:func:`reprolib.files.write_checkpoint`)."""
        files.write_checkpoint(path, self.state_dict())

    # ------------------------------------------------------------------ the loop
    def train(self, max_updates: int, *, test_every: int = 1000, n_test: int = tasks.N_TEST,
              criterion: str = "paper", log_every: int = 100, checkpoint=None, checkpoint_every: int = 1000,
              progress: bool = True, on_update=None) -> Result:
        """Train every run until it passes the test or ``max_updates`` updates are done.

        Every ``test_every`` updates each active run is tested on ``n_test`` fresh sequences
        and stops when :func:`reprolib.tasks.solved` says so (``criterion`` ``"paper"``: < 1 %
        wrong; ``"code"``: none wrong). Every ``log_every`` updates a row per run is logged.
        With ``checkpoint`` (a path), the state is saved every ``checkpoint_every`` updates and,
        if the file exists, training resumes from it. Runs that stopped unsolved at a smaller
        ``max_updates`` (in this engine or in the checkpoint) go on from where they stopped.
        Each call is recorded in :attr:`sessions` (and in the checkpoint): the updates it did,
        its time, when it ended. ``on_update(engine, step)``, if given, is called after every update
        with its :class:`Step` (raw gradient norm before clipping, Ω, loss, per active run; Ω is then
        computed at every update).
        """
        if on_update is not None and not callable(on_update):
            raise TypeError(f"on_update must be callable, got {type(on_update).__name__}")
        _checks.positive_int("max_updates", max_updates, minimum=0)
        _checks.positive_int("test_every", test_every)
        _checks.positive_int("log_every", log_every)
        _checks.positive_int("checkpoint_every", checkpoint_every)
        if criterion not in tasks.CRITERIA:
            raise ValueError(f"criterion must be one of {tasks.CRITERIA}, got {criterion!r}")
        if checkpoint is not None and os.path.exists(checkpoint):
            state = read_checkpoint(checkpoint)  # a ValueError that names the file when it is damaged
            try:
                self.load_state_dict(state)
            except ValueError as err:
                raise ValueError(f"cannot resume from {checkpoint}: {err}; delete it to start again") from None
        if self.updates < max_updates:
            self._reactivate()
        start = time.perf_counter() - self.train_seconds
        session = {"from": self.updates, "to": self.updates, "seconds": 0.0, "ended": None}
        self.sessions.append(session)
        began = time.perf_counter()

        def close_session():
            self.train_seconds = time.perf_counter() - start
            session.update({"to": self.updates, "seconds": round(time.perf_counter() - began, 1),
                            "ended": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")})
        bar = tqdm(total=max_updates, initial=self.updates, disable=not progress, desc=f"{self.task.name}, {len(self.runs)} runs")
        bar.set_postfix(solved=f"{sum(s is not None for s in self.solved_at)}/{len(self.runs)}")
        while self.active and self.updates < max_updates:
            step = self.step(omega_value=on_update is not None or (self.updates + 1) % log_every == 0)
            bar.update(1)
            if on_update is not None:
                on_update(self, step)
            if self.updates % log_every == 0:
                self._record(step)
            if self.updates % test_every == 0 or self.updates == max_updates:
                self._test(n_test, criterion)
                bar.set_postfix(solved=f"{sum(s is not None for s in self.solved_at)}/{len(self.runs)}")
            if checkpoint is not None and self.updates % checkpoint_every == 0:
                close_session()
                self.save(checkpoint)
        bar.close()
        if self.active:
            self._retire([False] * len(self.active))
        close_session()
        if checkpoint is not None:
            self.save(checkpoint)
        return Result(list(self.solved_at), list(self.error), list(self._final), self.log, self.evals, self.updates,
                      self.train_seconds, [dict(x) for x in self.sessions])
