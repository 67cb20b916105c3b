"""Typed settings of the experiments of ``python -m reprolib.experiments``: one dataclass each.

Their files are ``params/<profile>/<experiment>.yaml``, read by :func:`reprolib.profiles.load` like
every chapter's parameter file; :func:`load` builds the dataclass, which checks every field (type and
range) when it is built. Settings made in code (a chapter's overrides, :func:`dataclasses.replace`)
are therefore checked the same way as the files. The three cadences of a training loop have a name
each: ``test_every`` (the stopping criterion), ``log_every`` (the logged rows), ``checkpoint_every``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import _checks, initializations, omega, profiles, tasks

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
    """What every experiment sets: its profile, seeds, budget, cadences, test size and where it runs.

    Args:
        profile: one of :data:`reprolib.profiles.PROFILES` (the folder of the file).
        seeds: runs per setting, seeded 0, 1, ...
        max_updates: the budget of a run.
        test_every: updates between two tests of the stopping criterion.
        log_every: updates between two logged rows of each run.
        checkpoint_every: updates between two checkpoints.
        n_test: fresh test sequences per test.
        batch_size: sequences per minibatch.
        omega_form: the form of Ω (:data:`reprolib.omega.FORMS`).
        threads: torch threads of the command (0: torch's default).
        device: a torch device string or ``"auto"``.
    """

    profile: str
    seeds: int
    max_updates: int
    test_every: int
    log_every: int
    checkpoint_every: int
    n_test: int
    batch_size: int
    omega_form: str
    threads: int
    device: str

    def __post_init__(self):
        profiles.check_profile(self.profile)
        for key in ("seeds", "max_updates", "test_every", "log_every", "checkpoint_every", "n_test", "batch_size"):
            _checks.positive_int(key, getattr(self, key))
        _checks.positive_int("threads", self.threads, minimum=0)
        _one_of("omega_form", self.omega_form, omega.FORMS)
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
class Fig7(Sweep):
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
class Tables(Sweep):
    """The supplement's Tables 1-5: ``models`` (:class:`Model`, or mappings of its fields)."""

    models: tuple

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.models, (list, tuple)) or not self.models:
            raise ValueError(f"models must be a non-empty list of models, got {self.models!r}")
        self._set(models=tuple(m if isinstance(m, Model) else profiles.typed(Model, m, f"models[{k}]")
                               for k, m in enumerate(self.models)))


#: each experiment's settings class
EXPERIMENTS = {"fig7": Fig7, "tables": Tables}


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
