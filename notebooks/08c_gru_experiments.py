# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   reprolib:
#     reproduces: "Kanai et al. §4: the gradient's scale, Fig. 1 at 650 units, Tables 1 and 3; Table 2 (not yet run)"
# ---

# %% [markdown]
# # 8c. The experiments of Kanai et al.
#
# Chapter 7 checks the lemmas of Kanai, Fujiwara and Iwamura {cite}`kanai2017preventing` and runs their Fig. 1 on
# a small model. The paper's evidence is its §4, on a word-level language model of the Penn Treebank with one
# GRU layer of 650 units (§4.1.1) and on Nottingham. Its claims:
#
# 1. **The gradient's scale** (§4.1.1): "the average norm of the gradient was about 10", which is why the
#    clipping thresholds of Table 1 are 5 to 20.
# 2. **Fig. 1** (§4.3): trained with clipping at 5, the gradient explodes at iterations 63, 79 and 141 of the
#    first 500, each time as the spectral radius $\rho(J)$ of $J = \frac14 W_{hh} + \frac12 I$ crosses 1, and
#    $\rho(J)$ falls below 1 after each explosion; with the projection $\mathcal P_\delta$, $\delta = 0.2$,
#    $\rho(J)$ stays below 1 and nothing explodes.
# 3. **Table 1** (§4.2, Penn Treebank): the projection trains in every run for $\delta \in$ {0.2, …, 1.4},
#    while "gradient clipping failed to train even though its parameter was set to 10", and the projection
#    reaches a lower perplexity.
# 4. **Table 2** (§4.2, Nottingham): both methods train in every run; the negative log-likelihood grows with
#    $\delta$ (a trade-off between stability and accuracy), clipping at 60 is erratic, and the projection again
#    reaches the lower loss.
# 5. **Table 3** (§4.4): a whole training with the truncated projection takes 0.917 of the time of clipping,
#    with the full SVD 1.012.
#
# This chapter reproduces claims 1 and 2 at the paper's size, 650 units, from committed runs, beside a live
# run of this build, and claims 3 to 5 from whole trainings. Each experiment is a command,
# `python -m reprolib.experiments <experiment> --profile <ci|cpu|paper>` (`kanai_readings`, `kanai_fig1`,
# `kanai_table1`, `kanai_table2`, `kanai_table3`), with its sizes in `params/<profile>/<experiment>.yaml`.

# %% tags=["parameters", "remove-cell"]
profile = "ci"
seed = 0
threads = 1
device = "auto"
readings_overrides = {}  # fields of the live kanai_readings settings replaced (params/<profile>/kanai_readings.yaml)
fig1_overrides = {"n_hidden": 32, "iterations": 90}  # the same for the live kanai_fig1 run
table1_overrides = {}  # the same for the live kanai_table1 run
table2_overrides = {}  # the same for the live kanai_table2 run
table3_overrides = {}  # the same for the live kanai_table3 run
committed = "cpu"  # the committed results shown beside the live runs (results/kanai_<...>_cpu.json)
explosion_factor = 3.0  # an explosion: norm > factor x median of the previous window (as Chapter 7)
explosion_window = 20  # iterations of that median
lag = 5  # iterations within which an explosion counts as following an upward crossing of rho(J) through 1
scale_band = [5.0, 20.0]  # "about 10": a mean gradient norm within a factor 2 of 10

# %%
import dataclasses

import matplotlib.pyplot as plt
import numpy as np

from reprolib import experiments, gru_experiments, natural, profiles, settings
from reprolib.claims import check, not_run
from reprolib.plotting import caption

dev = profiles.start(profile, seed, threads, device, note=f"live runs: kanai_readings and kanai_fig1 at '{profile}'").device
live_readings = dataclasses.replace(settings.load("kanai_readings", profile), **readings_overrides, device=device)
live_fig1 = dataclasses.replace(settings.load("kanai_fig1", profile), **fig1_overrides, device=device)


def load_committed(experiment):
    """The committed run of ``experiment`` at ``committed`` (its rows, settings and provenance), or ``None``."""
    res = experiments.load_results(experiment, committed)
    if res is None:
        print(f"No committed `{committed}` run of {experiment} yet: `python -m reprolib.experiments {experiment} "
              f"--profile {committed}` writes {experiments.results_path(experiment, committed).name}.")
        return None
    p = res["provenance"]
    print(f"{experiment}: {p['command']} at commit {p['git_commit'][:10]}, finished {p['finished']}; "
          f"{p['train_seconds_total'] / 3600:.2f} worker-hours on {p['workers']}")
    return res["runs"], settings.recorded(experiment, p), p


def scale(rows, s):
    """The gradient-scale summary of the rows of settings ``s`` (:func:`gru_experiments.gradient_scale`)."""
    return gru_experiments.gradient_scale(rows, s.threshold, explosion_factor, explosion_window, lag)

# %% [markdown]
# ## 8c.1 The gradient's scale
#
# §4.1.1 describes the model: a $650 \times 10{,}000$ embedding without bias whose output is multiplied by 0.01,
# one GRU layer of 650 units, a softmax output, 50 % dropout on the non-recurrent connections, segments of 35
# words in minibatches of 20, SGD with learning rate 1, $W_{hh}$ orthogonal and every other matrix drawn from
# "$\mathcal N(0, 1/650)$". Trained so, with the cost summed over the 35 steps as in the code of Zaremba et al.
# that the paper follows (Chapter 7, the book's reading), our model's gradient is five times smaller than the
# paper's "about 10", $\rho(J)$ hardly moves from 0.75, and clipping at 5 never acts. So something in our
# reading of the text differs from what was run. Each place where the text can be read another way is a
# *reading*, changed one at a time from the book's:
#
# | reading | what changes |
# |---|---|
# | `book` | nothing: the cost summed over the 35 steps, matrices $\mathcal N(0, 1/650)$ (a variance), the embedding too, dropout on the embedding's output and on the GRU's output |
# | `mean-over-steps` | the cost averaged over the 35 steps (the per-token mean of most libraries) |
# | `init-as-std` | "$\mathcal N(0, 1/650)$" read as a standard deviation of $1/650$ |
# | `W-hh-normal` | $W_{hh}$ drawn like the other matrices instead of orthogonal |
# | `no-input-scale` | no factor 0.01 on the embedding's output |
# | `embedding-std-1` | the embedding drawn $\mathcal N(0, 1)$, the default of `torch.nn.Embedding` |
# | `dropout-output-only` | dropout only on the GRU's output |
# | `no-dropout` | no dropout |
#
# The learning rate is not a reading: it is 1 for the first 10 epochs, and the 500 iterations of Fig. 1 are
# within the first epoch (1,327 iterations). The committed run trains each reading with clipping at 5 for
# 200 iterations from the same seed and reports the gradient norm before clipping, the share of that norm
# carried by $W_{hh}$, and the events Chapter 7 defines (an explosion: a norm above 3 times the median of the
# 20 before it).

# %%
committed_readings = load_committed("kanai_readings")


def show_readings(rows, s):
    """One line per reading: the gradient norm (mean, median, max), the share of iterations above the
    threshold, the median share of W_hh in the norm, the largest rho(J), and the numbers of events."""
    base = s.readings[0]
    print(f"{'reading':<20} {'mean':>7} {'median':>7} {'max':>8} {'> thr':>6} {'W_hh share':>10} {'max rho(J)':>10} "
          f"{'explosions':>10} {'crossings':>9}  changes")
    for r, ((name, method, sd), st) in zip(rows, scale(rows, s).items()):
        share = np.nanmedian([a / b for a, b in zip(r["grad_norm_W_hh"], r["grad_norm"]) if a is not None and b])
        reading = next(x for x in s.readings if x.name == name)
        what = gru_experiments.changed(reading, base) or "-"
        label = name if len(s.methods) == s.seeds == 1 else f"{name} {method} s{sd}"
        print(f"{label:<20} {st['mean']:7.2f} {st['median']:7.2f} {st['max']:8.1f} {100 * st['above_threshold']:5.1f}% "
              f"{share:10.3f} {st['max_rho']:10.4f} {len(st['explosions']):10d} {len(st['crossings']):9d}  {what}")


if committed_readings is not None:
    readings_rows, readings_s, _ = committed_readings
    print(f"{readings_s.n_hidden} units, {readings_s.iterations} iterations, clipping at {readings_s.threshold:g}, "
          f"seed 0; the paper: average norm 'about 10' ({gru_experiments.PAPER_AVERAGE_NORM:g})")
    show_readings(readings_rows, readings_s)

# %% [markdown]
# What the committed run shows, stated before its checks (a check that comes out otherwise fails the build):
# read as the text is written, the model's average gradient norm is far below 10; two readings raise it into
# the band of 5 to 20 or beyond, and both enlarge the GRU's input: the embedding drawn $\mathcal N(0, 1)$
# (average 16) and no factor 0.01 (60). Every other reading leaves the norm where the book's is.

# %%
STATED = {  # the outcome of each check on the committed runs, as the text states it
    "8c.1-text-reading-scale": False, "8c.1-some-reading-scale": True,
}


def stated(check_id):
    """The outcome the text states for ``check_id``."""
    if check_id not in STATED:
        raise KeyError(f"the text states no outcome for the check {check_id!r}: read the committed run and add it")
    return STATED[check_id]


lo, hi = scale_band
if committed_readings is None:
    not_run("8c.1-text-reading-scale", "the average gradient norm is about 10", source="Kanai §4.1.1",
            reason=f"no committed `{committed}` run of kanai_readings")
else:
    st = scale(readings_rows, readings_s)
    book = st[("book", "clip", 0)]
    check("8c.1-text-reading-scale", f"read as the text states it, the average gradient norm over the first "
          f"{readings_s.iterations} iterations is about 10 (between {lo:g} and {hi:g})", lo <= book["mean"] <= hi,
          source="Kanai §4.1.1", expected=stated("8c.1-text-reading-scale"), paper="about 10",
          ours=f"{book['mean']:.2f} (reading `book`, {readings_s.n_hidden} units)")
    inside = [k[0] for k, v in st.items() if lo <= v["mean"] <= hi]
    check("8c.1-some-reading-scale", f"some reading of the set-up gives an average gradient norm between {lo:g} and "
          f"{hi:g}", bool(inside), source="Kanai §4.1.1", expected=stated("8c.1-some-reading-scale"),
          verdict="reproduced qualitatively" if stated("8c.1-some-reading-scale") else "not reproduced",
          paper="about 10", ours=", ".join(f"{k}: {st[(k, 'clip', 0)]['mean']:.1f}" for k in inside) or "none",
          line=f"readings with an average gradient norm between {lo:g} and {hi:g}: {inside}")

# %% [markdown]
# Why the book's reading gives so small a gradient: with the embedding and the other matrices drawn with
# variance $1/650$, a word's embedding has entries of about $0.04$, and the factor 0.01 makes the GRU's input
# about $4 \times 10^{-4}$. The hidden state stays near $h = 0$, where the GRU is the linear map $J$ (Lemma 2),
# the softmax sees almost nothing but its own weights, and the gradient is the output layer's, as the small
# share of $W_{hh}$ says. Nothing drives $W_{hh}$, so $\rho(J)$ stays at 0.75. With the embedding
# $\mathcal N(0, 1)$ the input is 25 times larger and the hidden state leaves the neighbourhood of 0. The paper
# does not say how its embedding was drawn; we take `embedding-std-1` for Fig. 1, the reading nearest the text's
# average norm, and list it on the [Deviations](../deviations.md) page (U18).
#
# The same function runs live on this build's profile. At `ci` it is a smoke test of seconds (16 units,
# 6 iterations), not evidence:

# %%
live_readings_rows = experiments.kanai("kanai_readings", live_readings, progress=profile != "ci")
show_readings(live_readings_rows, live_readings)

# %% [markdown]
# ## 8c.2 Fig. 1 at 650 units
#
# The committed run trains the model of the `embedding-std-1` reading at 650 units for 500 iterations with each
# method, three seeds; the two methods of a seed start from the same weights and see the same dropout masks.
# Fig. 1 is one run; we report every seed.

# %%
committed_fig1 = load_committed("kanai_fig1")


def fig1_lines(rows, s):
    """Per seed: the clipping run's events and the projection run's largest rho(J) and norm."""
    st = scale(rows, s)
    out = {}
    for sd in range(s.seeds):
        c, p = st.get((s.readings[0].name, "clip", sd)), st.get((s.readings[0].name, "project", sd))
        if c is None or p is None:
            continue
        out[sd] = (c, p)
        print(f"seed {sd}: clipping: explosions at {c['explosions']} (paper: {list(gru_experiments.PAPER_EXPLOSIONS)}); "
              f"upward crossings of rho(J) = 1 at {c['crossings']}; explosions at rho(J) > 1: {c['unstable']}; "
              f"rho(J) below 1 after them: {c['back_below']}; largest rho(J) {c['max_rho']:.3f}")
        print(f"        projection: largest rho(J) {p['max_rho']:.4f}; explosions at {p['explosions']}; largest norm "
              f"{p['max']:.1f} against clipping's {c['max']:.1f} (ratio {p['max'] / c['max']:.3f})")
    return out


if committed_fig1 is not None:
    fig1_rows, fig1_s, _ = committed_fig1
    fig1_seeds = fig1_lines(fig1_rows, fig1_s)

# %% [markdown]
# The figure: for each committed seed and for the live run, the gradient norm before clipping (normalised to
# its maximum, as the paper plots it) and $\rho(J)$, with clipping (left) and the projection (right).

# %% tags=["hide-input"]
def plot_fig1(panels, label, text, **sizes):
    """One row per (title, clip row, project row): the normalised norm and rho(J), triangles at explosions."""
    fig, axes = plt.subplots(len(panels), 2, figsize=(13, 3.0 * len(panels)), sharey=True, squeeze=False)
    for row, (title, runs, s) in zip(axes, panels):
        st = scale(runs, s)
        for ax, r in zip(row, runs):
            g, rho = gru_experiments.as_array(r["grad_norm"]), gru_experiments.as_array(r["rho_J"])
            ex = st[(r["reading"], r["method"], r["seed"])]["explosions"]
            top = np.nanmax(g)
            ax.plot(g / top, color="tab:blue", lw=0.8, label=f"gradient norm / its maximum ({top:.0f})")
            ax.plot(rho[:-1], color="tab:red", lw=1.1, label="ρ(J), J = W_hh/4 + I/2")
            ax.plot(ex, g[ex] / top, "kv", ms=5, label="explosion")
            ax.axhline(1, color="k", ls=":", lw=0.8)
            method = "clipping at " + f"{s.threshold:g}" if r["method"] == "clip" else f"projection, δ = {s.delta:g}"
            ax.set(title=f"{title}: {method}", xlabel="iteration")
            ax.legend(loc="upper left", fontsize=7)
        row[0].set(ylabel="normalised norm; ρ(J)")
    fig.tight_layout()
    plt.show()
    caption(label, text, **sizes)


def by_seed(rows, sd):
    """The clip and project rows of seed ``sd``."""
    return [next(r for r in rows if r["method"] == m and r["seed"] == sd) for m in ("clip", "project")]


if committed_fig1 is not None:
    plot_fig1([(f"{fig1_s.n_hidden} units, seed {sd}", by_seed(fig1_rows, sd), fig1_s) for sd in fig1_seeds],
              "8c.1", "Kanai's Fig. 1 at the paper's size from the committed run "
              f"(`results/kanai_fig1_{committed}.json`): the gradient norm before clipping, normalised to its "
              "maximum, and the spectral radius of J during the first iterations of the Penn Treebank language "
              "model, left with clipping, right with the projection; triangles mark explosions.",
              profile=committed, units=fig1_s.n_hidden, iterations=fig1_s.iterations, reading=fig1_s.readings[0].name,
              seeds=fig1_s.seeds, dtype=fig1_s.dtype, lr=fig1_s.readings[0].lr, threshold=fig1_s.threshold,
              delta=fig1_s.delta, explosion=f"> {explosion_factor:g} x median of {explosion_window}")

# %% [markdown]
# What the committed run shows, stated before its checks. With clipping, every seed's gradient explodes, from
# about iteration 23 on, dozens of times in 500 iterations (the paper marks three), and the largest norms all come
# with $\rho(J) > 1$: the ten largest of every run were computed at weights with $\rho(J) > 1$. The
# correspondence is not one to one, though. Our detector also flags smaller spikes at $\rho(J) < 1$ (about half
# of its explosions), a few crossings of 1 are not followed by an explosion within 5 iterations (among them the
# first crossing of every seed, at iteration 11, inside the detector's first 20-iteration window although its norm
# is one of the largest), and in one seed
# $\rho(J)$ stays above 1 for several iterations after an explosion before it falls back. So the paper's
# sentences hold for the large explosions and not as rules for every event. With the projection, $\rho(J)$ stays
# below 0.95 and the largest norm is a few percent of clipping's.

# %%
STATED.update({
    "8c.2-clip-explodes": True, "8c.2-largest-at-unstable": True, "8c.2-explosions-at-crossing": False,
    "8c.2-crossing-explodes": False, "8c.2-back-below-1": False, "8c.2-projection-prevents": True,
})
n_largest = 10  # the largest gradient norms of a run that the check below looks at
if committed_fig1 is None:
    not_run("8c.2-clip-explodes", "clipping: the gradient explodes in the first 500 iterations at 650 units",
            source="Kanai §4.3, Fig. 1(a)", reason=f"no committed `{committed}` run of kanai_fig1")
else:
    seeds_ = sorted(fig1_seeds)
    clip = {sd: fig1_seeds[sd][0] for sd in seeds_}
    proj = {sd: fig1_seeds[sd][1] for sd in seeds_}
    n = len(seeds_)
    exploded = [sd for sd in seeds_ if clip[sd]["explosions"]]
    check("8c.2-clip-explodes", f"clipping: the gradient explodes within the first {fig1_s.iterations} iterations "
          f"at {fig1_s.n_hidden} units", len(exploded) == n, source="Kanai §4.3, Fig. 1(a)",
          expected=stated("8c.2-clip-explodes"), paper=f"explosions at {list(gru_experiments.PAPER_EXPLOSIONS)}",
          ours="; ".join(f"seed {sd}: {clip[sd]['explosions'][:6]}" for sd in seeds_),
          verdict="reproduced qualitatively" if stated("8c.2-clip-explodes") else "not reproduced",
          line=f"clipping: seeds with an explosion: {len(exploded)} of {n}")
    largest = gru_experiments.largest_at_unstable(fig1_rows, n_largest)
    at = sum(v for (_, m, _), v in largest.items() if m == "clip")
    check("8c.2-largest-at-unstable", f"clipping: the {n_largest} largest gradient norms of every run are computed at "
          "rho(J) > 1", at == n_largest * n, source="Kanai §4.3, Fig. 1(a)", expected=stated("8c.2-largest-at-unstable"),
          verdict="reproduced qualitatively" if stated("8c.2-largest-at-unstable") else "not reproduced",
          paper="the norm increased significantly when rho(J) crossed 1", ours=f"{at} of {n_largest * n}",
          line=f"clipping: of the {n_largest} largest norms of each of the {n} runs, at rho(J) > 1: {at} of {n_largest * n}")
    ex_all = sum(len(clip[sd]["explosions"]) for sd in seeds_)
    at_unstable = sum(len(clip[sd]["unstable"]) for sd in seeds_)
    check("8c.2-explosions-at-crossing", "clipping: every explosion happens at rho(J) > 1", at_unstable == ex_all > 0,
          source="Kanai §4.3, Fig. 1(a)", expected=stated("8c.2-explosions-at-crossing"),
          verdict="reproduced qualitatively" if stated("8c.2-explosions-at-crossing") else "not reproduced",
          ours=f"{at_unstable} of {ex_all}", line=f"clipping: explosions at rho(J) > 1: {at_unstable} of {ex_all}")
    cross_all = sum(len(clip[sd]["crossings"]) for sd in seeds_)
    followed = sum(len(clip[sd]["followed"]) for sd in seeds_)
    check("8c.2-crossing-explodes", f"clipping: every upward crossing of rho(J) = 1 is followed by an explosion within "
          f"{lag} iterations", followed == cross_all > 0, source="Kanai §4.3, Fig. 1(a)",
          expected=stated("8c.2-crossing-explodes"),
          verdict="reproduced qualitatively" if stated("8c.2-crossing-explodes") else "not reproduced",
          ours=f"{followed} of {cross_all}", line=f"clipping: crossings followed by an explosion within {lag} "
          f"iterations: {followed} of {cross_all}")
    back = [b for sd in seeds_ for b in clip[sd]["back_below"]]
    check("8c.2-back-below-1", "clipping: rho(J) falls below 1 right after every explosion at rho(J) > 1",
          bool(back) and all(back), source="Kanai §4.3, Fig. 1(a)", expected=stated("8c.2-back-below-1"),
          ours=f"{sum(back)} of {len(back)}", line=f"clipping: rho(J) below 1 after the explosions at rho(J) > 1: "
          f"{sum(back)} of {len(back)}")
    top_rho = max(proj[sd]["max_rho"] for sd in seeds_)
    check("8c.2-projection-stable", "projection: rho(J) < 1 at every iteration", top_rho < 1,
          source="Kanai §4.3, Fig. 1(b)", kind="identity", line=f"projection: largest rho(J) over the seeds "
          f"{top_rho:.4f} (< 1 by construction: sigma1 <= 2 - delta)")
    ratios = [proj[sd]["max"] / clip[sd]["max"] for sd in seeds_]
    check("8c.2-projection-prevents", "projection: its largest gradient norm is below a quarter of clipping's, "
          "every seed", max(ratios) < 0.25, source="Kanai §4.3, Fig. 1(b)", expected=stated("8c.2-projection-prevents"),
          verdict="reproduced qualitatively" if stated("8c.2-projection-prevents") else "not reproduced",
          ours=", ".join(f"{x:.3f}" for x in ratios),
          line=f"projection: largest norm / clipping's largest, per seed: {', '.join(f'{x:.3f}' for x in ratios)}")

# %% [markdown]
# The live run of this build: the same command's function at the chapter's profile. At `ci` it is a
# 32-unit model trained for 90 iterations in float64, too small to say anything about 650 units; at `paper`
# it is the paper's size with five seeds.

# %%
live_fig1_rows = experiments.kanai("kanai_fig1", live_fig1, progress=profile != "ci")
live_seeds = fig1_lines(live_fig1_rows, live_fig1)

# %% tags=["hide-input"]
plot_fig1([(f"live, {live_fig1.n_hidden} units, seed {sd}", by_seed(live_fig1_rows, sd), live_fig1) for sd in live_seeds],
          "8c.2", f"Fig. 1 as in Figure 8c.1, from the live run of this build at the `{profile}` profile.",
          profile=profile, units=live_fig1.n_hidden, iterations=live_fig1.iterations,
          reading=live_fig1.readings[0].name, seeds=live_fig1.seeds, dtype=live_fig1.dtype, threshold=live_fig1.threshold,
          delta=live_fig1.delta)

# %% [markdown]
# ## 8c.3 Table 1: the Penn Treebank
#
# Table 1 trains the model of §4.1.1 for 75 epochs: the learning rate 1 for 10 epochs, then divided by 1.1
# after each epoch; the validation loss after each epoch; the model of the least validation loss evaluated on
# the test set. A run *succeeds* when its validation loss is never above its value before training (§4.1).
# The columns are the projection at $\delta \in$ {0.2, 0.5, 0.8, 1.1, 1.4} and clipping at thresholds
# {5, 10, 15, 20}, 5 runs each; the table gives the success rate and the validation and test perplexity,
# mean ± standard deviation, "N/A" where no run succeeded. We train every column of a seed from the same weights
# with the same dropout masks (`python -m reprolib.experiments kanai_table1`, the reading `embedding-std-1` of
# 8c.1), and average the perplexity over the successful runs.

# %%
committed_table1 = load_committed("kanai_table1")


def show_table(rows, who, table=1):
    """Each column of Table 1 (or 2): ours (success rate, validation and test perplexity, or negative
    log-likelihood per frame) beside the paper's."""
    digits = 1 if table == 1 else 2
    fmt = lambda x: "N/A" if x is None else f"{x[0]:6.{digits}f} ± {x[1]:.{digits}f}"  # noqa: E731
    paper = gru_experiments.PAPER_TABLE1 if table == 1 else gru_experiments.PAPER_TABLE2
    for key, st in gru_experiments.table1_summary(rows, perplexity=table == 1).items():
        method, value = key
        name = f"delta {value:g}" if method == "project" else f"threshold {value:g}"
        theirs = paper.get(key)
        ref = "" if theirs is None else (f"   | paper: success {100 * theirs['success']:3.0f} %, valid "
                                         f"{fmt(theirs['valid'])}, test {fmt(theirs['test'])}")
        print(f"{'projection' if method == 'project' else 'clipping':<10} {name:<13} {who:<5} success "
              f"{100 * st['success']:3.0f} % of {st['runs']}, valid {fmt(st['valid'])}, test {fmt(st['test'])}{ref}")


if committed_table1 is not None:
    table1_rows, table1_s, _ = committed_table1
    show_table(table1_rows, committed)

# %% [markdown]
# The paper's claims on Table 1, as checks on the committed run:

# %%
TABLE1_CLAIMS = {
    "8c.3-projection-always-trains": "the projection trains successfully in every run, at every delta",
    "8c.3-clip-fails-at-10": "clipping fails in some runs at threshold 10 (the average norm)",
    "8c.3-clip-fails-at-15-20": "clipping fails in every run at thresholds 15 and 20",
    "8c.3-clip-10-beats-5": "clipping at 10 reaches a lower test perplexity than at 5",
    "8c.3-projection-beats-clipping": "the projection's best test perplexity is below clipping's best",
}


def check_claims(table, claims, outcomes, experiment):
    """The checks of ``claims`` (id -> claim) on Table ``table`` with their ``outcomes`` (id -> (held, ours)), or
    "not run" for each when ``outcomes`` is None (no committed run of ``experiment``)."""
    source = f"Kanai §4.2, Table {table}"
    for cid, claim in claims.items():
        if outcomes is None:
            not_run(cid, f"Table {table}: {claim}", source=source, reason=f"no committed `{committed}` run of {experiment} yet")
        else:
            held, ours = outcomes[cid]
            check(cid, f"Table {table}: {claim}", held, source=source, expected=stated(cid),
                  verdict="reproduced qualitatively" if stated(cid) else "not reproduced", ours=ours)


def by_method(summary):
    """A table's summary (:func:`gru_experiments.table1_summary`) as the projection's columns and clipping's,
    each δ or threshold -> its cell."""
    return tuple({v: st for (m, v), st in summary.items() if m == method} for method in ("project", "clip"))


def best_test(columns):
    """The least mean test loss over ``columns`` (None when no column has a successful run)."""
    return min((st["test"][0] for st in columns.values() if st["test"] is not None), default=None)


def projection_beats_clipping(proj, clip, digits):
    """Whether the projection's best test loss is below clipping's (or clipping has none), and both in words."""
    p, c = best_test(proj), best_test(clip)
    return p is not None and (c is None or p < c), f"{p or float('nan'):.{digits}f} against {c or float('nan'):.{digits}f}"


def all_succeed(columns):
    """Whether every run of every column succeeded, and each column's success rate in words."""
    return (all(st["success"] == 1 for st in columns.values()),
            ", ".join(f"{v:g}: {100 * st['success']:.0f} %" for v, st in columns.items()))


outcomes = None
if committed_table1 is not None:
    t1 = gru_experiments.table1_summary(table1_rows)
    proj, clip = by_method(t1)
    outcomes = {
        "8c.3-projection-always-trains": all_succeed(proj),
        "8c.3-clip-fails-at-10": (10.0 in clip and clip[10.0]["success"] < 1, f"{100 * clip[10.0]['success']:.0f} %"
                                  if 10.0 in clip else "not run"),
        "8c.3-clip-fails-at-15-20": (all(v in clip and clip[v]["success"] == 0 for v in (15.0, 20.0)),
                                     ", ".join(f"{v:g}: {100 * clip[v]['success']:.0f} %" for v in (15.0, 20.0) if v in clip)),
        "8c.3-clip-10-beats-5": (all(v in clip and clip[v]["test"] is not None for v in (5.0, 10.0))
                                 and clip[10.0]["test"][0] < clip[5.0]["test"][0],
                                 ", ".join(f"{v:g}: {clip[v]['test'][0]:.1f}" for v in (5.0, 10.0)
                                           if v in clip and clip[v]["test"] is not None)),
        "8c.3-projection-beats-clipping": projection_beats_clipping(proj, clip, 1),
    }
check_claims(1, TABLE1_CLAIMS, outcomes, "kanai_table1")

# %% [markdown]
# The live run of this build, at the chapter's profile. At `ci` every column trains a 16-unit model for two
# epochs on the first 2,820 training tokens: a smoke test of the whole pipeline (training, the success
# criterion, the best epoch, the test perplexity), not evidence.

# %%
live_table1 = dataclasses.replace(settings.load("kanai_table1", profile), **table1_overrides, device=device)
live_table1_rows = experiments.kanai("kanai_table1", live_table1, progress=profile != "ci")
show_table(live_table1_rows, "live")

# %% tags=["hide-input"]
def plot_table(rows, label, what, s, table=1):
    """The validation perplexity (Table 1) or negative log-likelihood per frame (Table 2) after each epoch, every
    run, projection (left) and clipping (right)."""
    unit = np.exp if table == 1 else (lambda x: x)  # noqa: E731
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), sharey=True)
    methods = {"project": (axes[0], "δ"), "clip": (axes[1], "threshold")}
    values = {m: sorted({r["value"] for r in rows if r["method"] == m}) for m in methods}
    for r in rows:
        ax, _ = methods[r["method"]]
        k = values[r["method"]].index(r["value"])
        color = plt.cm.viridis(k / max(1, len(values[r["method"]]) - 1))
        epochs = [0] + [h["epoch"] + 1 for h in r["history"]]
        ppl = [unit(r["initial_valid"])] + [unit(min(h["valid"], 50.0 if table == 1 else 1e3)) for h in r["history"]]
        ax.plot(epochs, ppl, "-", color=color, lw=1, label=f"{r['value']:g}" if r["seed"] == 0 else None)
    for m, (ax, name) in methods.items():
        ax.set(title="projection" if m == "project" else "clipping", xlabel="epoch", yscale="log")
        ax.legend(fontsize=8, title=name)
        ax.grid(alpha=0.3)
    axes[0].set(ylabel="validation perplexity" if table == 1 else "validation NLL per frame (nats)")
    fig.tight_layout()
    plt.show()
    sizes = (dict(reading=s.reading.name, train_tokens=s.train_tokens or "all") if table == 1 else
             dict(layers=s.n_layers, corpus=s.corpus, train_frames=s.train_frames or "all"))
    caption(label, f"Validation {'perplexity' if table == 1 else 'negative log-likelihood per frame'} before training "
            f"(epoch 0) and after each epoch, every run ({what}); a run fails when a point rises above its epoch-0 "
            "value.", units=s.n_hidden, epochs=s.epochs, seeds=s.seeds, **sizes, dtype=s.dtype)


if committed_table1 is not None:
    plot_table(table1_rows, "8c.3", f"committed `{committed}` run", table1_s)
plot_table(live_table1_rows, "8c.4", f"live run at `{profile}`", live_table1)

# %% [markdown]
# ## 8c.4 Table 3: the time of a whole training
#
# Table 3 gives the computation time of a whole training of Table 1's model (§4.4; $\delta = 0.2$, threshold 5):
# $5.02 \times 10^4$ s with the projection by the full SVD, $4.55 \times 10^4$ s by the truncated SVD of eq. (15),
# $4.96 \times 10^4$ s with clipping, that is 1.012, 0.917 and 1 relative to clipping. Chapter 7 times one update
# of each; here the same trainings as Table 1 are timed whole, from the same weights, one cell at a time
# (`python -m reprolib.experiments kanai_table3 --workers 1`), so that no two share the machine. Both routes of the
# projection train the same model (eq. 15 is exact), so only their time differs.

# %%
committed_table3 = load_committed("kanai_table3")


def show_table3(rows, prov, who):
    """Per column: the whole-training times, their mean and its ratio to clipping's, beside the paper's."""
    names = {"project-full": "projection, full SVD", "project": "projection, truncated SVD", "clip": "clipping"}
    paper_clip = gru_experiments.PAPER_TABLE3["clip"]
    for (method, value), t in gru_experiments.table3_times(rows, prov).items():
        theirs = gru_experiments.PAPER_TABLE3[method]
        print(f"{names[method]:<26} {who:<5} {t['mean']:8.1f} s (runs: {', '.join(f'{x:.1f}' for x in t['seconds'])}), "
              f"ratio to clipping {t['ratio']:.3f}   | paper: {theirs:.3g} s, ratio {theirs / paper_clip:.3f}")


if committed_table3 is not None:
    table3_rows, _, table3_prov = committed_table3
    show_table3(table3_rows, table3_prov, committed)
    t3 = gru_experiments.table3_times(table3_rows, table3_prov)
    r_trunc, r_full = t3[("project", 0.2)]["ratio"], t3[("project-full", 0.2)]["ratio"]
    STATED.update({"8c.4-table3-truncated": False, "8c.4-table3-full-slower": False})
    check("8c.4-table3-truncated", "Table 3: a training with the truncated projection takes at most the time of "
          "clipping (ratio <= 1.05)", r_trunc <= 1.05, source="Kanai §4.4, Table 3", expected=stated("8c.4-table3-truncated"),
          verdict="reproduced qualitatively" if stated("8c.4-table3-truncated") else "not reproduced",
          paper="0.917", ours=f"{r_trunc:.3f}")
    full_s, trunc_s = t3[("project-full", 0.2)]["seconds"], t3[("project", 0.2)]["seconds"]
    check("8c.4-table3-full-slower", "Table 3: the full SVD takes longer than the truncated SVD (every training by "
          "the full SVD slower than every one by the truncated SVD)", min(full_s) > max(trunc_s),
          source="Kanai §4.4, Table 3", expected=stated("8c.4-table3-full-slower"),
          verdict="reproduced" if stated("8c.4-table3-full-slower") else "not reproduced",
          paper="1.012 against 0.917", ours=f"{r_full:.3f} against {r_trunc:.3f} (runs {min(full_s):.1f}-{max(full_s):.1f} s "
                                              f"against {min(trunc_s):.1f}-{max(trunc_s):.1f} s)")
else:
    for cid, claim in (("8c.4-table3-truncated", "a training with the truncated projection takes at most the time "
                                                 "of clipping"),
                       ("8c.4-table3-full-slower", "the full SVD takes longer than the truncated SVD")):
        not_run(cid, f"Table 3: {claim}", source="Kanai §4.4, Table 3",
                reason=f"no committed `{committed}` run of kanai_table3 yet")

# %% [markdown]
# The live run at the chapter's profile (at `ci`, the 16-unit model of 8c.3: its times say nothing about 650 units,
# and they are not compared by the regression tests):

# %% tags=["nbval-ignore-output"]
live_table3 = dataclasses.replace(settings.load("kanai_table3", profile), **table3_overrides, device=device)
live_table3_rows, live_table3_outcome, _ = experiments.run("kanai_table3", live_table3, progress=False)
show_table3(live_table3_rows, {"cells": live_table3_outcome.results}, "live")

# %% [markdown]
# ## 8c.5 Table 2: Nottingham
#
# Table 2 trains a music model (§4.1.2): the binary frame of the notes sounding at step $t$ through a
# bias-free linear layer of 200 units scaled by 0.01, two GRU layers of 200 units, and one logistic output per
# key for the frame at $t + 1$; the cost is the negative log-likelihood of the frame, the sum over the keys of
# the Bernoulli NLL. SGD starts at 0.1 and divides the learning rate by 1.25 after 10 epochs without a better
# validation loss, until it is below $10^{-4}$; every matrix but $W_{hh}$ is drawn $\mathcal N(0, 10^{-4}/200)$.
# The projection keeps $\|J\|_2 \le 2 - \delta$ in both layers and, as the paper requires of a multi-layer GRU
# (eq. 10), $\sigma_1(W_{xh}) \le 2$ for the input matrix of each layer's candidate state. Clipping uses the
# thresholds {15, 30, 45, 60} ("the average norm of the gradient was about 30"). The data are Nottingham's
# piano rolls with the split of Boulanger-Lewandowski et al., 88 keys where the paper counts 93 (see
# [Deviations](../deviations.md) U20), the pieces of a split played one after the other
# (`python -m reprolib.experiments kanai_table2`).

# %%
committed_table2 = load_committed("kanai_table2")
if committed_table2 is not None:
    table2_rows, table2_s, _ = committed_table2
    show_table(table2_rows, committed, table=2)

TABLE2_CLAIMS = {
    "8c.5-table2-projection-always-trains": "the projection trains successfully in every run, at every delta",
    "8c.5-table2-clip-always-trains": "clipping trains successfully in every run, at every threshold",
    "8c.5-table2-tradeoff": "the test NLL grows with delta: lower at deltas 0.2 and 0.5 than at 1.1 and 1.4",
    "8c.5-table2-projection-beats-clipping": "the projection's best test NLL is below clipping's best",
}
outcomes = None
if committed_table2 is not None:
    t2 = gru_experiments.table1_summary(table2_rows, perplexity=False)
    proj2, clip2 = by_method(t2)
    test_nll = lambda d, vs: [d[v]["test"][0] for v in vs if v in d and d[v]["test"] is not None]  # noqa: E731
    low, high = test_nll(proj2, (0.2, 0.5)), test_nll(proj2, (1.1, 1.4))
    outcomes = {
        "8c.5-table2-projection-always-trains": all_succeed(proj2),
        "8c.5-table2-clip-always-trains": all_succeed(clip2),
        "8c.5-table2-tradeoff": (len(low) == 2 and len(high) == 2 and max(low) < min(high),
                                 f"{', '.join(f'{x:.2f}' for x in low)} against {', '.join(f'{x:.2f}' for x in high)}"),
        "8c.5-table2-projection-beats-clipping": projection_beats_clipping(proj2, clip2, 2),
    }
check_claims(2, TABLE2_CLAIMS, outcomes, "kanai_table2")

# %% [markdown]
# The live run of this build, at the chapter's profile. At `ci` every column trains a 16-unit, two-layer model for
# two epochs on the first 2,820 training frames: a smoke test of the pipeline (eq. 10 included), not evidence.
# It needs the corpus on this machine (`REPROLIB_DATA`, see the README).

# %%
live_table2 = dataclasses.replace(settings.load("kanai_table2", profile), **table2_overrides, device=device)
missing = natural.unavailable(live_table2.corpus)
live_table2_rows = None
if missing:
    print(f"live run of kanai_table2 not run: {missing}")
else:
    live_table2_rows = experiments.kanai("kanai_table2", live_table2, progress=profile != "ci")
    show_table(live_table2_rows, "live", table=2)

# %% tags=["hide-input"]
if committed_table2 is not None:
    plot_table(table2_rows, "8c.5", f"committed `{committed}` run", table2_s, table=2)
if live_table2_rows is not None:
    plot_table(live_table2_rows, "8c.6", f"live run at `{profile}`", live_table2, table=2)

# %% [markdown]
# ## 8c.6 Agreement with the paper
#
# * **The gradient's scale: not reproduced as the text reads, reproduced with one reading.** With every matrix,
#   the embedding included, drawn with variance $1/650$, the average gradient norm of the first 200 iterations
#   is 1.9, not "about 10", and nothing explodes; six of the eight readings leave it there. With the embedding
#   drawn $\mathcal N(0, 1)$ it is 16, and the model behaves as the paper describes. We use that reading for
#   Fig. 1 and Table 1 ([Deviations](../deviations.md) U18); the paper does not say how it drew its embedding.
# * **Fig. 1 (clipping): reproduced qualitatively.** At 650 units the gradient explodes in every seed, and the
#   largest norms of every run come with $\rho(J) > 1$. The explosions begin earlier (the first flagged at
#   iteration 23 or 24, a first spike at iteration 11) and are far more frequent than the three the paper marks,
#   and the relation is not one to one: about half of the flagged spikes are at $\rho(J) < 1$, and a few
#   crossings of 1 pass without an explosion within 5 iterations.
# * **Fig. 1 ($\rho(J)$ after an explosion): mostly.** $\rho(J)$ is below 1 at the next iteration after all but
#   5 of the explosions at $\rho(J) > 1$; those 5 are one seed's burst of consecutive explosions.
# * **Fig. 1 (projection): reproduced.** $\rho(J)$ stays below 0.95 (by construction) and the largest gradient
#   norm is 0.4 % to 3.2 % of clipping's.
# * **Table 3: not reproduced on a CPU.** At 650 units, over one epoch of an eighth of the corpus (165 updates,
#   the validation and the test as in a whole training), 2 runs each, one at a time on one core: the projection
#   by the truncated SVD takes 1.10 times the time of clipping and by the full SVD 1.11 times (the paper: 0.917
#   and 1.012). The two routes differ by less than the spread between two runs of the same route: the 650 × 650
#   SVD is a small part of an update whose cost is the 10,000-word soft-max, so on a CPU the projection costs
#   about 10 % more than clipping whichever SVD computes it. The paper argues that clipping pays for the norm of
#   every parameter, the large input and output matrices included, while the projection depends only on the
#   state's size; here the norm is a small part of an update too. The paper describes its hardware in a
#   supplement we do not have, and the balance of these operations differs between devices
#   ([Deviations](../deviations.md) U13).
# * **Tables 1 and 2:** the experiments run (8c.3, 8c.5); their `cpu` results are not committed yet, so their
#   claims say "not run".
