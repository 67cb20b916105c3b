"""The natural tasks of Pascanu et al. as sweeps: polyphonic music (§4.1, Table 1; supp. §3.2.1) and
next-character prediction (§4.2, Table 2; supp. §3.2.2).

    python -m reprolib.experiments music --profile cpu    (writes results/music_cpu.json)
    python -m reprolib.experiments chars --profile cpu    (writes results/chars_cpu.json)

A cell is one model of the settings (:class:`reprolib.settings.SeqModel`: a set-up and a corpus): every
method × seed of it trained at once by :func:`reprolib.seq_engine.fit` (they see the same minibatches),
then each run's best-validation parameters evaluated on the three splits. The paper reports "the training
and test error for best validation score" over 5 runs (§4.2); so do the rows of a cell.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from pathlib import Path

import torch

from . import data, initializations, profiles, provenance, seq_engine, sequence, settings, sweeps

#: Table 1 of Pascanu et al. (negative log-likelihood per time step; mean ± std over 5 runs), as printed
PAPER_TABLE1 = {
    "Piano_midi": {"BPTT": {"train": (7.06, .052), "test": (7.79, .013)},
                   "rescaling": {"train": (7.12, .027), "test": (7.77, .019)}},
    "Nottingham": {"BPTT": {"train": (4.12, .330), "test": (4.57, .718)},
                   "rescaling": {"train": (3.71, .059), "test": (4.05, .052)}},
    "MuseData": {"BPTT": {"train": (7.99, .768), "test": (8.00, .426)},
                 "rescaling": {"train": (7.02, .031), "test": (7.24, .037)}},
}
#: Table 2 of Pascanu et al. (bits per character; mean ± std over 5 runs), as printed
PAPER_TABLE2 = {
    "text8": {"BPTT": {"train": (1.66, .010), "test": (1.82, .067)},
              "rescaling": {"train": (1.67, .006), "test": (1.80, .021)}},
    "PTB": {"BPTT": {"train": (2.25, .960), "test": (2.24, .942)},
            "rescaling": {"train": (1.41, .120), "test": (1.44, .006)}},
}
#: the files each corpus is read from (:data:`reprolib.data.SOURCES`; PTB comes with the library's ptb module)
FILES = {**{name: f"{name}.mat" for name in data.MUSIC}, "text8": "text8.zip", "PTB": None}


def unavailable(corpus: str) -> str | None:
    """Why ``corpus`` cannot be read on this machine without downloading (None when it can)."""
    if corpus not in FILES:
        raise ValueError(f"corpus must be one of {tuple(FILES)}, got {corpus!r}")
    if FILES[corpus] is None:
        return None
    try:
        data.fetch(FILES[corpus], download=False)
    except FileNotFoundError:  # the error names this machine's folders; the reason here is the same everywhere
        return (f"data not available: {FILES[corpus]} is neither in ${data.DATA_ENV} nor in the download cache; "
                f"reprolib.data.fetch({FILES[corpus]!r}) downloads it")
    return None


def vocabulary(corpus: str) -> list[str]:
    """The symbols of a text corpus, in index order."""
    if corpus == "PTB":
        return data.ptb_char_vocab()
    if corpus == "text8":
        return list(data.TEXT8_SYMBOLS)
    raise ValueError(f"corpus must be one of {data.TEXTS}, got {corpus!r}")


def load(corpus: str, split: str, text_chars: int = 0):
    """One split of ``corpus``: a list of ``[frames, 88]`` piano rolls (music), or the character ids of
    the text (its first ``text_chars`` characters when that is > 0)."""
    if corpus in data.MUSIC:
        return data.load_music(corpus, split)
    if corpus == "PTB":
        text = data.ptb_chars(split)
    elif corpus == "text8":
        text = data.text8_split(data.text8(), split)
    else:
        raise ValueError(f"corpus must be one of {data.MUSIC + data.TEXTS}, got {corpus!r}")
    return data.encode(text[:text_chars] if text_chars else text, vocabulary(corpus))


def sizes(corpus: str) -> dict:
    """The size of each split of ``corpus``: ``{"pieces", "frames", "keys_per_frame"}`` per split for
    music (keys sounding per frame: the polyphony), ``{"characters"}`` per split for a text."""
    out = {}
    for split in data.SPLITS:
        x = load(corpus, split)
        if corpus in data.MUSIC:
            frames = sum(p.shape[0] for p in x)
            out[split] = {"pieces": len(x), "frames": frames, "keys_per_frame": sum(float(p.sum()) for p in x) / frames}
        else:
            out[split] = {"characters": len(x)}
    return out


def runs(model: settings.SeqModel, seeds: int) -> list[sequence.SeqRun]:
    """The runs of one model, method by method, seed by seed (the order of a cell's rows)."""
    return [model.run(seed, m) for m in model.methods for seed in range(seeds)]


def _quantiles(x: list[float]) -> dict:
    """The spread of one epoch's gradient norms: min, 10 %, median, 90 %, max."""
    q = statistics.quantiles(x, n=10, method="inclusive") if len(x) > 1 else [x[0]] * 9
    return {"min": min(x), "q10": q[0], "median": statistics.median(x), "q90": q[-1], "max": max(x)}


def cell(experiment: str, data_: dict, index: int, checkpoint: str | None = None) -> dict:
    """One cell: model ``index`` of the settings ``data_`` of ``experiment`` (:meth:`Sweep.to_dict`), every
    method × seed trained for ``epochs`` epochs at once, then each run's best-validation parameters
    evaluated on the train, valid and test splits. Returns ``{"rows", "train_seconds", "sessions"}``:
    a row per run with its costs (nats per frame, or bits per character) and its history per epoch
    (mean training cost of the updates, validation cost, learning rate, α, fraction of clipped updates,
    quantiles of the gradient norms). With ``checkpoint``, the cell resumes from its last finished epoch."""
    s = settings.from_dict(experiment, data_)
    if s.threads:
        torch.set_num_threads(s.threads)
    m = s.models[index]
    dtype = getattr(torch, s.dtype)
    split = {name: load(m.corpus, name, s.text_chars) for name in data.SPLITS}
    n_in = None if m.kind == "music" else len(vocabulary(m.corpus))
    rs = runs(m, s.seeds)
    device = profiles.pick_device(s.device)
    fits = seq_engine.fit(m.kind, split["train"], split["valid"], rs, s.epochs, n_in=n_in, dtype=dtype,
                          checkpoint=checkpoint, device=device)
    rows = []
    best = {k: v.to(device) for k, v in seq_engine.stack([f.params for f in fits]).items()}  # evaluated at once
    leak = seq_engine.stacked_leak([f.leak for f in fits], m.n_hidden, dtype)
    leak = None if leak is None else leak.to(device)
    costs = {name: seq_engine.evaluate(m.kind, best, m.sigma, split[name], rs[0], leak, n_in) for name in data.SPLITS}
    for i, (run, fit) in enumerate(zip(rs, fits)):
        method = m.methods[i // s.seeds]  # runs(): method by method, seed by seed
        rows.append({"setup": m.setup, "corpus": m.corpus, "horizon": m.horizon, "method": method.name,
                     "seed": run.seed, "best_epoch": fit.best_epoch, **{name: costs[name][i] for name in data.SPLITS},
                     "history": [{**{k: v for k, v in h.items() if k != "norms"}, "norms": _quantiles(h["norms"])}
                                 for h in fit.history]})
    sessions = fits[0].sessions
    return {"rows": rows, "train_seconds": round(sum(x["seconds"] for x in sessions), 1), "sessions": sessions}


def cells(experiment: str, s: settings.Natural, checkpoints: Path | None = None) -> list[sweeps.Cell]:
    """The cells of ``experiment`` (``"music"`` or ``"chars"``) with settings ``s``: one per model whose
    corpus can be read here (:func:`skipped` names the others), keyed by the model's name
    (``supplement_Nottingham``). A cell's tag hashes the shared settings, the model and the code; its
    checkpoint (after every epoch) goes to ``checkpoints``."""
    shared = {k: v for k, v in s.to_dict().items() if k != "models"}
    shared["code"] = provenance.code_hash("natural")
    out = []
    for k, m in enumerate(s.models):
        if unavailable(m.corpus) is None:
            tag = sweeps.tag([shared, dataclasses.asdict(m)])
            ckpt = None if checkpoints is None else str(Path(checkpoints) / f"{experiment}_{m.name}_{tag}.pt")
            out.append(sweeps.Cell(m.name, cell, (experiment, s.to_dict(), k, ckpt), tag))
    return out


def skipped(s: settings.Natural) -> dict[str, str]:
    """The models of ``s`` whose corpus is not on this machine: name → why."""
    why = {m.name: unavailable(m.corpus) for m in s.models}  # each check reads and hashes the corpus's file
    return {name: reason for name, reason in why.items() if reason is not None}


def segments_per_pass(model: settings.SeqModel, split: str = "train", text_chars: int = 0) -> int:
    """How many segments one pass over ``split`` of ``model``'s corpus takes (an epoch's updates for ``train``)."""
    run = model.run(0, model.methods[0])
    return sum(1 for _ in sequence.batches(model.kind, load(model.corpus, split, text_chars), run, None))


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):  # the first call warms up
        begin = time.perf_counter()
        fn()
        times.append(time.perf_counter() - begin)
    return statistics.median(times[1:])


def cost(s: settings.Natural, updates: int = 3) -> dict[str, float]:
    """Each cell's cost in worker-hours, measured here: the median of ``updates`` timed updates of the
    cell's runs (on its first training segment) × the updates of its epochs, plus its evaluation passes
    (each run's validation cost after every epoch, and its three splits at the end) at the measured time
    of one run's forward pass over that segment."""
    out = {}
    dtype = getattr(torch, s.dtype)
    for c in cells(s.models[0].kind, s):
        m = s.models[c.args[2]]
        rs = runs(m, s.seeds)
        n_in = sequence.N_KEYS if m.kind == "music" else len(vocabulary(m.corpus))
        inits = [sequence.init(r, n_in, dtype) for r in rs]
        params = seq_engine.stack([p for p, _ in inits])
        leak = None if inits[0][1] is None else torch.stack([lk for _, lk in inits])
        x, y, mask, _ = next(sequence.batches(m.kind, load(m.corpus, "train", s.text_chars), rs[0], None))
        u, y = sequence.inputs(m.kind, x, n_in, dtype), (y.to(dtype) if m.kind == "music" else y)
        h0 = torch.zeros(len(rs), x.shape[1], m.n_hidden, dtype=dtype)
        vec = lambda f: torch.tensor([f(r) for r in rs], dtype=dtype)  # noqa: E731
        lr, alpha = vec(lambda r: r.lr), vec(lambda r: r.alpha_at(0))
        threshold = vec(lambda r: math.inf if r.threshold is None else r.threshold)
        step = lambda: seq_engine.update(m.kind, params, m.sigma, u, y, h0, lr=lr, threshold=threshold,  # noqa: E731
                                         alpha=alpha, mask=mask, leak=leak, reduction=m.reduction)
        one = {k: v[0] for k, v in params.items()}
        net = initializations.Params(one["W_rec"], one["W_in"], one["b"], one["W_out"], one["b_out"], m.sigma)
        with torch.no_grad():
            forward = _median_seconds(lambda: sequence.unroll(net, u, h0[0], None if leak is None else leak[0]), updates)
        passes = {split: segments_per_pass(m, split, s.text_chars) for split in data.SPLITS}
        evaluated = len(rs) * (passes["valid"] * s.epochs + sum(passes.values()))  # segments run forward only
        out[c.key] = (_median_seconds(step, updates) * passes["train"] * s.epochs + forward * evaluated) / 3600
    return out


def initial_norms(model: settings.SeqModel, segments: int = 50, seed: int = 0, text_chars: int = 0) -> dict:
    """The gradient norm of ``model``'s network at its initialization (``seed``) on its first ``segments``
    training segments, in order, the state carried as in training and the weights left unchanged; once
    with the segment's cost averaged over its steps and once summed (:data:`reprolib.sequence.REDUCTIONS`).
    A clipping threshold means different things under the two (supp. §3.2.1, footnote 1)."""
    segments = int(segments)
    if segments < 1:
        raise ValueError(f"segments must be >= 1, got {segments}")
    run = model.run(seed, model.methods[0])
    n_sym = sequence.N_KEYS if model.kind == "music" else len(vocabulary(model.corpus))
    params, leak = sequence.init(run, n_sym, torch.float64)
    train = load(model.corpus, "train", text_chars)
    out = {}
    for reduction in sequence.REDUCTIONS:
        norms = []
        for k, (u, y, mask, reset) in enumerate(sequence.training_segments(model.kind, train, run, None, n_sym,
                                                                            torch.float64)):
            if k == segments:
                break
            if reset:
                h = torch.zeros(u.shape[1], model.n_hidden, dtype=torch.float64)
            *_, norm, h = sequence.update(model.kind, params, model.sigma, u, y, h, lr=1.0, threshold=None,
                                          mask=mask, leak=leak, reduction=reduction)
            norms.append(norm.item())
        out[reduction] = norms
    return out


def summary(rows: list[dict]) -> dict:
    """Mean and standard deviation over seeds of each (setup, corpus, horizon, method)'s train and test
    costs, as the paper's tables give them: ``{(setup, corpus, horizon, method): {"train": (mean, std),
    "test": (mean, std), "runs": n}}`` (std: the sample standard deviation; 0 for one run)."""
    groups = {}
    for r in rows:
        groups.setdefault((r["setup"], r["corpus"], r["horizon"], r["method"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        stat = lambda xs: (statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0)  # noqa: E731
        out[key] = {"train": stat([r["train"] for r in rs]), "test": stat([r["test"] for r in rs]), "runs": len(rs)}
    return out
