"""Typed settings of the experiments of ``python -m reprolib.experiments``: one dataclass each.

Their files are ``params/<profile>/<experiment>.yaml``, read by :func:`reprolib.profiles.load` like
every chapter's parameter file; :func:`load` builds the dataclass, which checks every field (type and
range) when it is built. Settings made in code (a chapter's overrides, :func:`dataclasses.replace`)
are therefore checked the same way as the files. The three cadences of a training loop have a name
each: ``test_every`` (the stopping criterion), ``log_every`` (the logged rows), ``checkpoint_every``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from . import _checks, data, gru, initializations, lm_training, omega, profiles, sequence, tasks

#: the three methods of Fig. 7: plain SGD, with norm clipping, with clipping and Ω
METHODS = ("MSGD", "MSGD-C", "MSGD-CR")


def _lengths(key: str, v, minimum: int = 1) -> tuple[int, ...]:
    if not isinstance(v, (list, tuple)) or not v:
        raise ValueError(f"{key} must be a non-empty list of lengths, got {v!r}")
    for T in v:
        _checks.positive_int(f"{key} entries", T, minimum)
    return tuple(int(T) for T in v)


def _train_length(key: str, v, minimum: int = 1) -> int | tuple[int, int]:
    if isinstance(v, (list, tuple)):
        if len(v) != 2 or not all(_checks.is_integer(T) and minimum <= T for T in v) or v[0] > v[1]:
            raise ValueError(f"{key} must be a length >= {minimum} or a [min, max] range of them, got {list(v)!r}")
        return (int(v[0]), int(v[1]))
    return _checks.positive_int(key, v, minimum)


def _one_of(key: str, v, options) -> None:
    if v not in options:
        raise ValueError(f"{key} must be one of {tuple(options)}, got {v!r}")


@dataclass(frozen=True)
class Sweep:
    """What every experiment sets: its profile, seeds and where its cells run.

    Args:
        profile: one of :data:`reprolib.profiles.PROFILES` (the folder of the file).
        seeds: runs per setting, seeded 0, 1, ...
        threads: torch threads of one cell (0: torch's default).
        device: a torch device string or ``"auto"``.
    """

    profile: str
    seeds: int
    threads: int
    device: str

    def __post_init__(self):
        profiles.check_profile(self.profile)
        _checks.positive_int("seeds", self.seeds)
        _checks.positive_int("threads", self.threads, minimum=0)
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a device name such as 'auto', 'cpu' or 'cuda:0', got {self.device!r}")
        _checks.device(self.device)

    def _set(self, **fields) -> None:
        """Store normalized values (lists as tuples) in this frozen instance while it is being built."""
        for key, value in fields.items():
            object.__setattr__(self, key, value)

    def to_dict(self) -> dict:
        """The settings as plain data (what a results file records; :func:`from_dict` reads it back)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Synthetic(Sweep):
    """What the synthetic experiments (Fig. 7, Tables 1-5) set besides :class:`Sweep`: a budget of updates,
    the three cadences of the training loop, the test size, the minibatch and the form of Ω.

    Args:
        max_updates: the budget of a run.
        test_every: updates between two tests of the stopping criterion.
        log_every: updates between two logged rows of each run.
        checkpoint_every: updates between two checkpoints.
        n_test: fresh test sequences per test.
        batch_size: sequences per minibatch.
        omega_form: the form of Ω (:data:`reprolib.omega.FORMS`).
    """

    max_updates: int
    test_every: int
    log_every: int
    checkpoint_every: int
    n_test: int
    batch_size: int
    omega_form: str

    def __post_init__(self):
        super().__post_init__()
        for key in ("max_updates", "test_every", "log_every", "checkpoint_every", "n_test", "batch_size"):
            _checks.positive_int(key, getattr(self, key))
        _one_of("omega_form", self.omega_form, omega.FORMS)


@dataclass(frozen=True)
class Fig7(Synthetic):
    """Fig. 7 of Pascanu et al.: every initialization × length × method × seed on the temporal order task.

    Args:
        inits: initialization name → the sequence lengths T trained with it.
        methods: a subset of :data:`METHODS`.
        criterion: the stopping criterion (:data:`reprolib.tasks.CRITERIA`).
        n_hidden, lr, threshold, alpha: the network's hidden size, SGD's learning rate, the clipping
            threshold of MSGD-C and MSGD-CR, and Ω's weight in MSGD-CR (supp. §3.1.1).
        method_max_updates: method → its budget where it is not ``max_updates`` (e.g. a larger one for
            MSGD-CR, which the paper claims keeps solving where the others fail); ``{}`` for none.
    """

    inits: dict
    methods: tuple
    criterion: str
    n_hidden: int
    lr: float
    threshold: float
    alpha: float
    method_max_updates: dict

    def budget(self, method: str) -> int:
        """The most updates a run of ``method`` may take."""
        return self.method_max_updates.get(method, self.max_updates)

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.inits, dict) or not self.inits:
            raise ValueError(f"inits must map initializations to lists of lengths, got {self.inits!r}")
        for name in self.inits:
            _one_of("inits names", name, initializations.INITS)
        self._set(inits={name: _lengths(f"inits[{name!r}]", Ts, tasks.MIN_LENGTH) for name, Ts in self.inits.items()})
        if not isinstance(self.methods, (list, tuple)) or not self.methods or len(set(self.methods)) != len(self.methods):
            raise ValueError(f"methods must be a non-empty list of distinct methods of {METHODS}, got {self.methods!r}")
        for m in self.methods:
            _one_of("methods entries", m, METHODS)
        self._set(methods=tuple(self.methods))
        _one_of("criterion", self.criterion, tasks.CRITERIA)
        _checks.positive_int("n_hidden", self.n_hidden)
        _checks.positive_float("lr", self.lr)
        _checks.positive_float("threshold", self.threshold)
        _checks.positive_float("alpha", self.alpha, strict=False)
        if not isinstance(self.method_max_updates, dict):
            raise ValueError(f"method_max_updates must map methods to budgets, got {self.method_max_updates!r}")
        for m, n in self.method_max_updates.items():
            _one_of("method_max_updates names", m, self.methods)
            _checks.positive_int(f"method_max_updates[{m!r}]", n)


@dataclass(frozen=True)
class Model:
    """One model of the supplement's Tables 1-5: a task trained on lengths ``train`` (an int, or a
    ``(min, max)`` range drawn per minibatch) until ``criterion``, then tested at each length of ``test``.
    MSGD-CR when ``alpha`` > 0, else MSGD-C; ``table`` 0 is the temporal-order claim of supp. §3.1.1."""

    table: int
    task: str
    init: str
    n_hidden: int
    lr: float
    threshold: float
    alpha: float
    train: int | tuple
    criterion: str
    test: tuple

    def __post_init__(self):
        _checks.positive_int("table", self.table, minimum=0)
        _one_of("task", self.task, tasks.TASKS)
        _one_of("init", self.init, initializations.INITS)
        _checks.positive_int("n_hidden", self.n_hidden)
        _checks.positive_float("lr", self.lr)
        _checks.positive_float("threshold", self.threshold)
        _checks.positive_float("alpha", self.alpha, strict=False)
        _one_of("criterion", self.criterion, tasks.CRITERIA)
        shortest = tasks.get_task(self.task).min_length  # and each task's own shortest length
        object.__setattr__(self, "train", _train_length(f"train ({self.task})", self.train, shortest))
        object.__setattr__(self, "test", _lengths(f"test ({self.task})", self.test, shortest))

    @property
    def name(self) -> str:
        """``<task>_T<train>``, e.g. ``addition_T50-200``: the engine that trains this model."""
        train = "-".join(map(str, self.train)) if isinstance(self.train, tuple) else self.train
        return f"{self.task}_T{train}"


@dataclass(frozen=True)
class Tables(Synthetic):
    """The supplement's Tables 1-5: ``models`` (:class:`Model`, or mappings of its fields)."""

    models: tuple

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.models, (list, tuple)) or not self.models:
            raise ValueError(f"models must be a non-empty list of models, got {self.models!r}")
        self._set(models=tuple(m if isinstance(m, Model) else profiles.typed(Model, m, f"models[{k}]")
                               for k, m in enumerate(self.models)))


#: the two set-ups of the natural tasks: the main text's Tables 1-2 (§4.1-4.2) and the supplement's §3.2
SETUPS = ("main", "supplement")
#: the dtypes a natural-task run may compute in
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class SeqMethod:
    """One training method of a natural-task model (a column of the paper's Tables 1-2).

    Args:
        name: as the paper labels it: "BPTT" and "rescaling" (main text), "MSGD", "MSGD-C", "MSGD-CR" (supplement).
        lr: the initial learning rate.
        threshold: the clipping threshold, or None for no clipping.
        alpha: Ω's weight: a number (constant) or the fields of an :class:`reprolib.omega.AlphaSchedule`
            (``{alpha0, kind, t0, beta}``); 0 for none.
    """

    name: str
    lr: float
    threshold: float | None
    alpha: object

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        _checks.positive_float("lr", self.lr)
        if self.threshold is not None:
            _checks.positive_float("threshold", self.threshold)
        a = self.alpha
        if isinstance(a, dict):
            a = profiles.typed(omega.AlphaSchedule, {"t0": 0, "beta": None, **a}, f"alpha of {self.name}")
        elif not isinstance(a, omega.AlphaSchedule):
            a = omega.AlphaSchedule(_checks.positive_float("alpha", a, strict=False))
        object.__setattr__(self, "alpha", a)


@dataclass(frozen=True)
class SeqModel:
    """One model of the natural tasks: a corpus, the network (:class:`reprolib.sequence.SeqRun`'s fields)
    and the methods it is trained with, each for every seed.

    Args:
        setup: one of :data:`SETUPS`.
        corpus: a music corpus (:data:`reprolib.data.MUSIC`) or a text (:data:`reprolib.data.TEXTS`).
        n_hidden, sigma, init, biases, n_leaky, segment, batch_size, reduction, alpha_per, horizon: as
            :class:`reprolib.sequence.SeqRun` (``init``: a name of :data:`reprolib.initializations.INITS`).
        methods: :class:`SeqMethod` entries (or mappings of their fields), distinct names.
    """

    setup: str
    corpus: str
    n_hidden: int
    sigma: str
    init: str
    biases: bool
    n_leaky: int
    segment: int
    batch_size: int
    reduction: str
    alpha_per: str
    horizon: int
    methods: tuple

    def __post_init__(self):
        _one_of("setup", self.setup, SETUPS)
        _one_of("corpus", self.corpus, data.MUSIC + data.TEXTS)
        if not isinstance(self.methods, (list, tuple)) or not self.methods:
            raise ValueError(f"methods must be a non-empty list of methods, got {self.methods!r}")
        methods = tuple(m if isinstance(m, SeqMethod) else profiles.typed(SeqMethod, m, f"methods[{k}] of {self.name}")
                        for k, m in enumerate(self.methods))
        if len({m.name for m in methods}) != len(methods):
            raise ValueError(f"methods of {self.name} must have distinct names")
        object.__setattr__(self, "methods", methods)
        self.run(0, methods[0])  # checks the network's fields as SeqRun does

    @property
    def kind(self) -> str:
        """``"music"`` or ``"chars"`` (:data:`reprolib.sequence.KINDS`)."""
        return "music" if self.corpus in data.MUSIC else "chars"

    @property
    def name(self) -> str:
        """``<setup>_<corpus>``, with ``_h<horizon>`` when the target is not the next character."""
        return f"{self.setup}_{self.corpus}" + (f"_h{self.horizon}" if self.horizon != 1 else "")

    def run(self, seed: int, method: SeqMethod) -> sequence.SeqRun:
        """The :class:`reprolib.sequence.SeqRun` of ``method`` with ``seed`` (weights, leak factors);
        every run of the model sees the same minibatches (``data_seed`` 0), so they can share updates."""
        return sequence.SeqRun(seed=seed, n_hidden=self.n_hidden, lr=method.lr, threshold=method.threshold,
                               alpha=method.alpha, sigma=self.sigma, init=self.init, biases=self.biases,
                               n_leaky=self.n_leaky, segment=self.segment, batch_size=self.batch_size,
                               reduction=self.reduction, alpha_per=self.alpha_per, horizon=self.horizon)


@dataclass(frozen=True)
class Natural(Sweep):
    """The natural tasks of Pascanu et al. (polyphonic music, characters): ``models`` (:class:`SeqModel`,
    or mappings of its fields), each trained for ``epochs`` epochs in ``dtype``; ``text_chars`` > 0 keeps
    only the first that many characters of each split of a text (a slice for the short profiles; 0: all)."""

    epochs: int
    dtype: str
    text_chars: int
    models: tuple

    def __post_init__(self):
        super().__post_init__()
        _checks.positive_int("epochs", self.epochs)
        _one_of("dtype", self.dtype, DTYPES)
        _checks.positive_int("text_chars", self.text_chars, minimum=0)
        if not isinstance(self.models, (list, tuple)) or not self.models:
            raise ValueError(f"models must be a non-empty list of models, got {self.models!r}")
        models = tuple(m if isinstance(m, SeqModel) else profiles.typed(SeqModel, m, f"models[{k}]")
                       for k, m in enumerate(self.models))
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise ValueError(f"models must differ in set-up, corpus or horizon, got {names}")
        self._set(models=models)


@dataclass(frozen=True)
class Reading:
    """One reading of the set-up of Kanai §4.1.1 that the text leaves open, for the GRU language model of
    Fig. 1 (:class:`reprolib.gru.GRULanguageModel` trained by :func:`reprolib.lm_training.train_language_model`).

    Args:
        name: a label (letters, digits, '-').
        reduction: the cost over the 35 steps, ``"sum"`` (Zaremba's code) or ``"mean"``.
        init_std: the standard deviation of every matrix but W_hh, as a multiple of 1/√n: 1 reads
            "N(0, 1/650)" as a variance, 1/√n (e.g. 0.0392 for 650) as a standard deviation.
        emb_std: the standard deviation of the embedding, absolute; ``None``: as the other matrices.
        W_hh_init: ``"orthogonal"`` (the text) or ``"normal"``.
        input_scale: the factor on the embedding's output (0.01 in the text).
        dropout_at: where the dropout acts (:data:`reprolib.gru.DROPOUT_PLACES`).
        lr: the learning rate of the first iterations (1 in the text).
    """

    name: str
    reduction: str
    init_std: float
    emb_std: float | None
    W_hh_init: str
    input_scale: float
    dropout_at: tuple
    lr: float

    def __post_init__(self):
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9-]+", self.name):
            raise ValueError(f"name must be letters, digits and '-', got {self.name!r}")
        _one_of("reduction", self.reduction, lm_training.REDUCTIONS)
        _checks.positive_float("init_std", self.init_std)
        if self.emb_std is not None:
            _checks.positive_float("emb_std", self.emb_std)
        _one_of("W_hh_init", self.W_hh_init, gru.W_HH_INITS)
        _checks.positive_float("input_scale", self.input_scale)
        object.__setattr__(self, "dropout_at", gru.check_dropout_places(self.dropout_at))
        _checks.positive_float("lr", self.lr)


@dataclass(frozen=True)
class KanaiFig1(Sweep):
    """Kanai's Fig. 1 (§4.3): the PTB language model of §4.1.1 trained from one initialization per seed for
    ``iterations`` updates by each of ``methods`` (``"clip"`` at ``threshold``, ``"project"`` with ``delta``),
    under each of ``readings`` (:class:`Reading`), in ``dtype``."""

    dtype: str
    n_hidden: int
    seq_len: int
    batch_size: int
    dropout: float
    iterations: int
    threshold: float
    delta: float
    methods: tuple
    readings: tuple

    def __post_init__(self):
        super().__post_init__()
        _one_of("dtype", self.dtype, DTYPES)
        for key in ("n_hidden", "seq_len", "batch_size", "iterations"):
            _checks.positive_int(key, getattr(self, key))
        _checks.positive_float("dropout", self.dropout, strict=False)
        _checks.positive_float("threshold", self.threshold)
        _checks.positive_float("delta", self.delta)
        if not isinstance(self.methods, (list, tuple)) or not self.methods:
            raise ValueError(f"methods must be a non-empty list, got {self.methods!r}")
        for m in self.methods:
            _one_of("methods entries", m, ("clip", "project"))
        if not isinstance(self.readings, (list, tuple)) or not self.readings:
            raise ValueError(f"readings must be a non-empty list of readings, got {self.readings!r}")
        readings = tuple(r if isinstance(r, Reading) else profiles.typed(Reading, r, f"readings[{k}]")
                         for k, r in enumerate(self.readings))
        names = [r.name for r in readings]
        if len(set(names)) != len(names) or len(set(self.methods)) != len(self.methods):
            raise ValueError(f"readings and methods must have distinct names, got {names} and {list(self.methods)}")
        self._set(methods=tuple(self.methods), readings=readings)


@dataclass(frozen=True)
class KanaiTable(Sweep):
    """What Kanai's Tables 1 and 2 share: a GRU model of ``n_hidden`` units in ``dtype`` trained for at most
    ``epochs`` epochs of segments of ``seq_len`` steps × ``batch_size``, with dropout ``dropout``, by the
    projection at every δ of ``deltas`` and by clipping at every threshold of ``thresholds``, ``seeds`` runs each."""

    dtype: str
    n_hidden: int
    seq_len: int
    batch_size: int
    dropout: float
    epochs: int
    deltas: tuple
    thresholds: tuple

    def __post_init__(self):
        super().__post_init__()
        _one_of("dtype", self.dtype, DTYPES)
        for key in ("n_hidden", "seq_len", "batch_size", "epochs"):
            _checks.positive_int(key, getattr(self, key))
        _checks.positive_float("dropout", self.dropout, strict=False)
        for key in ("deltas", "thresholds"):
            v = getattr(self, key)
            if not isinstance(v, (list, tuple)):
                raise ValueError(f"{key} must be a list of numbers, got {v!r}")
            for x in v:
                _checks.positive_float(f"{key} entries", x)
            if len(set(v)) != len(v):
                raise ValueError(f"{key} must be distinct, got {list(v)}")
        if not self.deltas and not self.thresholds:
            raise ValueError("deltas and thresholds must not both be empty")
        for d in self.deltas:
            if d >= 2:
                raise ValueError(f"deltas entries must be in (0, 2), got {d}")
        self._set(deltas=tuple(float(x) for x in self.deltas), thresholds=tuple(float(x) for x in self.thresholds))

    def routes(self) -> tuple:
        """The routes of P_δ (:data:`reprolib.lm_training.SVDS`) each δ is trained with."""
        return ("truncated",)

    def settings(self) -> list[tuple[str, float]]:
        """The columns of the table: ``("project", δ)`` for every δ (``("project-full", δ)`` too when
        :meth:`routes` holds ``"full"``), then ``("clip", threshold)``."""
        names = {"truncated": "project", "full": "project-full"}
        return [(names[v], d) for d in self.deltas for v in self.routes()] + [("clip", t) for t in self.thresholds]


@dataclass(frozen=True)
class KanaiTable1(KanaiTable):
    """Kanai's Table 1 (§4.1.1-4.2): the PTB language model of ``reading`` (:class:`Reading`) trained for
    ``epochs`` epochs; the learning rate is ``reading.lr`` for ``decay_after`` epochs, then divided by ``decay``
    after each epoch (:class:`reprolib.lm_training.Schedule`, ``"step"``). ``train_tokens`` and ``eval_tokens``
    cut the training and the validation and test splits to their first tokens (0: the whole split). ``svds``: the
    routes of P_δ each δ is trained with (:data:`reprolib.lm_training.SVDS`; Table 1: the truncated SVD; Table 3,
    ``kanai_table3``, compares both)."""

    decay: float
    decay_after: int
    reading: Reading
    train_tokens: int
    eval_tokens: int
    svds: tuple = ("truncated",)

    def __post_init__(self):
        super().__post_init__()
        _checks.positive_int("decay_after", self.decay_after)
        for key in ("train_tokens", "eval_tokens"):
            _checks.positive_int(key, getattr(self, key), minimum=0)
        if not isinstance(self.svds, (list, tuple)) or not self.svds or len(set(self.svds)) != len(self.svds):
            raise ValueError(f"svds must be a non-empty list of distinct names, got {self.svds!r}")
        for v in self.svds:
            _one_of("svds entries", v, lm_training.SVDS)
        reading = self.reading if isinstance(self.reading, Reading) else profiles.typed(Reading, self.reading, "reading")
        self._set(svds=tuple(self.svds), reading=reading)
        self.schedule()  # checks decay

    def routes(self) -> tuple:
        return self.svds

    def schedule(self) -> lm_training.Schedule:
        """The learning rate over the epochs: ``reading.lr``, divided by ``decay`` after each epoch from
        epoch ``decay_after`` on."""
        return lm_training.Schedule(self.reading.lr, self.decay, self.decay_after, "step")


@dataclass(frozen=True)
class KanaiTable2(KanaiTable):
    """Kanai's Table 2 (§4.1.2-4.2): the music model (:class:`reprolib.gru.GRUMusicModel`, ``n_layers`` GRU
    layers) on the piano rolls of ``corpus`` (:func:`reprolib.data.load_music`), trained by SGD at ``lr``, divided
    by ``decay`` after ``patience`` epochs without improvement of the validation loss, until it falls below
    ``min_lr`` or after ``epochs`` epochs (:class:`reprolib.lm_training.Schedule`, ``"plateau"``). The projection
    also keeps σ₁(W_xh) ≤ 2 in every layer (eq. 10). ``train_frames`` and ``eval_frames`` cut the training and the
    validation and test streams to their first frames (0: whole)."""

    n_layers: int
    lr: float
    decay: float
    patience: int
    min_lr: float
    corpus: str
    train_frames: int
    eval_frames: int

    def __post_init__(self):
        super().__post_init__()
        _checks.positive_int("n_layers", self.n_layers)
        _checks.positive_int("patience", self.patience)
        for key in ("train_frames", "eval_frames"):
            _checks.positive_int(key, getattr(self, key), minimum=0)
        _one_of("corpus", self.corpus, data.MUSIC)
        self.schedule()  # checks lr, decay and min_lr

    def schedule(self) -> lm_training.Schedule:
        """The learning rate over the epochs: ``lr``, divided by ``decay`` after ``patience`` epochs without a
        better validation loss, down to ``min_lr``."""
        return lm_training.Schedule(self.lr, self.decay, self.patience, "plateau", self.min_lr)


#: each experiment's settings class
EXPERIMENTS = {"fig7": Fig7, "tables": Tables, "music": Natural, "chars": Natural, "kanai_readings": KanaiFig1,
               "kanai_fig1": KanaiFig1, "kanai_table1": KanaiTable1, "kanai_table2": KanaiTable2,
               "kanai_table3": KanaiTable1}


def _class(experiment: str):
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {tuple(EXPERIMENTS)}, got {experiment!r}")
    return EXPERIMENTS[experiment]


def load(experiment: str, profile: str) -> Sweep:
    """The settings of ``experiment`` at ``profile`` from ``params/<profile>/<experiment>.yaml``; a bad
    file is a ``ValueError``/``TypeError`` naming the file and the key."""
    cls = _class(experiment)
    where = str(profiles.params_path(experiment, profile).relative_to(profiles.ROOT))
    return profiles.typed(cls, profiles.load(experiment, profile), where)


def from_dict(experiment: str, data: dict, where: str = "settings") -> Sweep:
    """Settings of ``experiment`` from plain data (:meth:`Sweep.to_dict`, a results file's provenance)."""
    return profiles.typed(_class(experiment), data, where)


#: names that results files written before the settings were typed use: ``clip`` (now ``threshold``)
#: and ``check_every``, which then set all three cadences
_OLD_NAMES = {"clip": "threshold"}


def recorded(experiment: str, provenance: dict) -> Sweep:
    """The settings a results file records in its ``provenance``, as :func:`from_dict` reads them.
    A file written before the settings were typed names the clipping threshold ``clip``, uses
    ``check_every`` for the three cadences, keeps the profile beside the settings and, for Fig. 7, has no
    ``method_max_updates`` (every method had ``max_updates``); those are read as today's settings (the
    values are the same; only the names changed)."""
    data = {"profile": provenance.get("profile"), **provenance["settings"]}
    if "check_every" in data:
        every = data.pop("check_every")
        data.update(test_every=every, log_every=every, checkpoint_every=every)
    rename = lambda d: {_OLD_NAMES.get(k, k): v for k, v in d.items()}  # noqa: E731
    data = rename(data)
    if "models" in data:
        data["models"] = [rename(m) for m in data["models"]]
    if experiment == "fig7":
        data.setdefault("method_max_updates", {})  # one budget for every method before the field existed
    return from_dict(experiment, data, where="the settings recorded in a results file")
