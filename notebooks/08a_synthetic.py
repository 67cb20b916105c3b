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
#     reproduces: "Pascanu et al. §4.3 (Fig. 7) and supplement §3.1 (Tables 1–5): the synthetic tasks"
# ---

# %% [markdown]
# # 8a. Synthetic experiments
#
# Chapters 5 and 6 built the two remedies, norm clipping and the regularizer $\Omega$. This chapter runs them
# on the pathological synthetic tasks of Hochreiter and Schmidhuber, as Pascanu, Mikolov and Bengio
# {cite}`pascanu2013difficulty` do in §4.3 and in §3.1 of their supplement. The claims are:
#
# 1. **Figure 7.** On the temporal order task, plain SGD (MSGD) solves fewer runs than SGD with clipping
#    (MSGD-C), and clipping with $\Omega$ (MSGD-CR) solves the most, up to $T = 250$; "as long as the vanishing
#    gradient problem does not become an issue, addressing the exploding gradient ensures a much larger success
#    rate" (§4.3). At $T = 20$ with the smart tanh initialization, MSGD needs 21k updates, MSGD-C 11k and MSGD-CR
#    2k (supp. §3.1.1).
# 2. **Supplementary Tables 1-5.** One model trained on lengths 50-200 handles longer sequences: addition and
#    random permutation stay under 1 % error up to $T = 600$, multiplication up to $T = 400$ (2.11 % at 600), and
#    3-bit temporal order up to $T = 300$ (2.75 % at 350, 14.13 % at 400, 24.81 % at 600); the temporal order task
#    makes no error up to $T = 5000$ (supp. §3.1.1). Noiseless memorization is solved at every length by all 5
#    seeds (Table 5).
#
# Training to these criteria takes GPU-days (5M updates at most per run). Each experiment therefore has a
# command, `python -m reprolib.experiments <fig7|tables> --profile <ci|cpu|paper>`, with three sizes in
# `params/<profile>/<fig7|tables>.yaml`. The `cpu` size finishes on two CPU cores in at most 3 hours. Its results are
# committed under `results/` together with their provenance, and this chapter shows them beside a *live* run
# made during the build at the chapter's own profile. At the `ci` profile the live run is small; with
# `PROFILE=paper` it is the paper's own experiment. Each table and figure below says which run it comes from.

# %% tags=["parameters", "remove-cell"]
profile = "ci"
seed = 0
threads = 1
device = "auto"
fig7_overrides = {}  # fields of the live Fig. 7 run's settings replaced (the paper smoke test shrinks the run)
tables_overrides = {}  # the same for the live Tables 1-5 run (params/<profile>/tables.yaml)
committed = "cpu"  # the committed results shown beside the live runs (results/<experiment>_cpu.json)

# %%
import dataclasses
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np

from reprolib import experiments, profiles, settings
from reprolib.claims import check, not_run
from reprolib.plotting import caption

dev = profiles.start(profile, seed, threads, device, note=f"live runs: fig7 at '{profile}', tables at '{profile}'").device
fig7_settings = dataclasses.replace(settings.load("fig7", profile), **fig7_overrides, device=device)
tables_settings = dataclasses.replace(settings.load("tables", profile), **tables_overrides, device=device)

INIT_NAMES = {"sigmoid": "sigmoid", "basic_tanh": "basic tanh", "smart_tanh": "smart tanh"}
COLORS = {"MSGD": "tab:gray", "MSGD-C": "tab:blue", "MSGD-CR": "tab:red"}


def describe(prov):
    """One paragraph of provenance: what ran, where, for how long."""
    minutes = prov["train_seconds_total"] / 60
    print(f"command: {prov['command']}" + (f" (cells on: {prov['workers']})" if "workers" in prov else "") +
          f"\ncommit: {prov['git_commit'][:10]}"
          f"{' (with uncommitted changes)' if prov['uncommitted_changes'] else ''}, finished {prov['finished']}\n"
          f"machine: {prov['machine']}, {prov['threads']} threads; torch {prov['torch']}\n"
          f"training time: {minutes:.1f} min summed over engines (this file's last invocation: "
          f"{prov['wall_seconds_last_invocation'] / 60:.1f} min of wall time)")
    if "sessions" in prov:  # per cell, one entry per engine and invocation; a Fig. 7 cell has an engine per budget
        counts = sorted({max(Counter(x.get("budget") for x in v).values(), default=0) for v in prov["sessions"].values()})
        print(f"invocations: every engine trained in {' or '.join(map(str, counts))} invocation(s) of the command "
              f"(a resumed engine continues from its checkpoint)")
    else:
        print("invocations: not recorded; this file predates the fix of the test-sequence seeds (8a.2) and "
              "should be regenerated")
    if prov.get("missing"):
        print(f"missing cells: {', '.join(prov['missing'])}; {len(prov['failed'])} of them failed (tracebacks in the file)")
    if "choices" not in prov:
        print(f"choices: not recorded (the file predates that field); the settings give Omega's form "
              f"'{prov['settings']['omega_form']}', and the code at its commit used the default variants")
    for engine, c in prov.get("choices", {}).items():
        print(f"choices, {engine}: task variant {c['task_variant']}, init variant {c['init_variant']}, loss: "
              f"{c['loss']}; Omega {c['omega_form']}-form, {c['omega_norms']} norms; {c['dtype']}")


def success_table(rows, s):
    """Print Fig. 7's points: success rate and median updates to success per (init, T, method)."""
    rates = experiments.success_rates(rows)
    methods = s.methods
    print("runs solved within each method's budget (" + ", ".join(f"{m} {s.budget(m):,}" for m in methods)
          + " updates) and the median updates of the solved runs")
    print(f"{'init':<11} {'T':>4} " + " ".join(f"{m:>21}" for m in methods))
    for init_name, lengths in s.inits.items():
        for T in lengths:
            cells = []
            for m in methods:
                r = rates[(init_name, T, m)]
                med = "-" if r["median_updates"] is None else f"{r['median_updates'] / 1000:.1f}k"
                cells.append(f"{r['solved']}/{r['runs']} solved, {med:>6}")
            print(f"{INIT_NAMES[init_name]:<11} {T:>4} " + " ".join(f"{c:>21}" for c in cells))
    return rates


def plot_fig7(rates, s, label, what):
    """Fig. 7: success rate (% of runs) against the sequence length T, one panel per initialization."""
    inits = list(s.inits)
    fig, axes = plt.subplots(1, len(inits), figsize=(4.2 * len(inits), 3.4), sharey=True, squeeze=False)
    for ax, init_name in zip(axes[0], inits):
        Ts = s.inits[init_name]
        for k, m in enumerate(s.methods):
            y = [100 * rates[(init_name, T, m)]["rate"] for T in Ts]
            ax.plot(Ts, np.array(y) + (k - 1) * 1.5, "o-", color=COLORS[m], label=m, ms=5)  # small offsets: ties stay visible
        ax.set(title=f"{INIT_NAMES[init_name]} initialization", xlabel="sequence length T (steps)", ylim=(-8, 108))
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("success rate (% of runs)")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=len(s.methods), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    plt.show()
    caption(label, f"Rate of success on the temporal order task against the sequence length ({what}). A run succeeds "
            "when fewer than 1 % of 10,000 fresh test sequences are misclassified (fewer than 1 % of n_test here); "
            "lines are offset by ±1.5 points so that equal rates stay visible.",
            N=s.n_hidden, lr=s.lr, threshold=s.threshold, alpha=s.alpha, seeds=s.seeds, batch=s.batch_size,
            updates_at_most=", ".join(f"{m} {s.budget(m):,}" for m in s.methods), n_test=s.n_test)


# %% [markdown]
# ## 8a.1 Which Figure 7?
#
# The text we reproduce describes Figure 7 twice, with two different set-ups.
#
# | | main text §4.3 | supplement §3.1.1 |
# |---|---|---|
# | units, nonlinearity | 50 sigmoid | 50; sigmoid, basic tanh and smart tanh initializations |
# | learning rate | 0.001 | 0.01 |
# | minibatch | 1000 | 20 ("in the first experiments we used a larger minibatch of 100 and 1000") |
# | updates | at most 100k | at most 5M ("100k updates were not sufficient") |
# | runs per length | 50 | 5 (the same seeds for every method) |
# | methods | MSGD, MSGD with clipping | MSGD, MSGD-C, MSGD-CR ($\mu = 1$, $\alpha = 4$) |
# | success | 1000 consecutive correct answers | < 1 % of 10,000 test sequences wrong |
#
# The main text's version is the earlier one. The supplement says so, and its figure has one panel per
# initialization and a curve for MSGD-CR, which the main text's set-up lacks. The original code also matches
# the supplement: minibatch 20, learning rate 0.01, threshold 1 and a test on 10,000 fresh sequences. The
# `paper` profile of `reprolib.experiments fig7` is therefore the supplement's set-up exactly. The main text's
# conclusion, that "for sequences longer than 20 the vanishing gradient problem ensures that neither BPTT nor
# our algorithm can solve the task", belongs to the earlier set-up. We test it on our runs below without
# reproducing that set-up ([Deviations](../deviations.md) S1).

# %% [markdown]
# ## 8a.2 Figure 7 from the committed `cpu` run
#
# The `cpu` profile keeps the supplement's network, optimizer, seeds, criterion and test size, and changes
# two things so that it fits in 3 hours on two CPU cores ([Deviations](../deviations.md) S2). The lengths are
# 10, 16, 20, 30 and 50 for every initialization, and 75 and 100 for smart tanh. A run stops after at most
# 50,000 updates, where the paper allows 5M; MSGD-CR is given 150,000, to see how far its slow solutions
# with the sigmoid initialization go. The table counts each method within its own budget. The checks compare
# the methods at the common budget of 50,000 updates (a run that MSGD-CR solved later counts as failed there),
# and print how many runs the extra budget adds. A failure at 50k updates therefore means "not solved within
# 1 % of the paper's budget", not "never solved".
#
# The file was regenerated after a fix to the engine's seeds. Each run tests on sequences from a generator of
# its own, seeded with the run's seed + 2³¹. Before, the offset was 2⁴⁰, and torch's CPU generator keeps
# only the low 32 bits of a seed, so a run's "fresh" test sequences were the first minibatches it had
# trained on. The provenance below names the commit that wrote the file and the invocations it took.

# %%
fig7_cpu = experiments.load_results("fig7", committed)
if fig7_cpu is None:
    raise FileNotFoundError(f"{experiments.results_path('fig7', committed)} is missing; regenerate it with "
                            f"`python -m reprolib.experiments fig7 --profile {committed}`")
describe(fig7_cpu["provenance"])
cpu_s = settings.recorded("fig7", fig7_cpu["provenance"])  # typed, as the live run's settings
cpu_rates = success_table(fig7_cpu["runs"], cpu_s)

# %% tags=["hide-input"]
plot_fig7(cpu_rates, cpu_s, "8a.1", f"committed `{committed}` run: `results/fig7_{committed}.json`, "
          "regenerated by `python -m reprolib.experiments fig7 --profile cpu`")

# %% [markdown]
# The paper's claims, checked on this run. Each line is computed from the results file. Where a claim is
# about lengths we did not run (up to 250), or about more updates than we allowed, the line says so and
# does not count as a check.

# %%
def compare(rows, s):
    """The paper's claims about Fig. 7, measured on the rows of one run. Methods with different budgets
    (``method_max_updates``) are compared at the smallest budget: a run solved later does not count."""
    inits, methods = s.inits, s.methods
    budgets = {m: s.budget(m) for m in methods}
    common = min(budgets.values())
    rates = experiments.success_rates(rows, within=common)
    if len(set(budgets.values())) > 1:
        full = experiments.success_rates(rows)
        for m, b in budgets.items():
            if b > common:
                extra = sum(full[k]["solved"] - rates[k]["solved"] for k in full if k[2] == m)
                print(f"compared at the common budget of {common:,} updates; {m}, given {b:,}, solves {extra} more "
                      f"runs with the rest of its budget")
    pairs = [(i, T) for i, Ts in inits.items() for T in Ts]
    rate = lambda i, T, m: rates[(i, T, m)]["rate"]  # noqa: E731
    total = {m: sum(rates[(i, T, m)]["solved"] for i, T in pairs) for m in methods}
    n = sum(rates[(i, T, methods[0])]["runs"] for i, T in pairs)
    print("solved runs over all (init, T): " + ", ".join(f"{m} {total[m]}/{n}" for m in methods))
    for a, b in (("MSGD-C", "MSGD"), ("MSGD-CR", "MSGD-C")):
        ge = sum(rate(i, T, a) >= rate(i, T, b) for i, T in pairs)
        gt = sum(rate(i, T, a) > rate(i, T, b) for i, T in pairs)
        check(f"8a.2-{a.lower()}-vs-{b.lower()}", f"{a} solves more runs than {b}, summed over all (init, T)",
              total[a] > total[b], source="Pascanu §4.3, Fig. 7", verdict="reproduced qualitatively",
              ours=f"{total[a]} vs {total[b]} of {n}; at least as many at {ge} of {len(pairs)} points",
              line=f"{a} solves at least as many runs as {b} at {ge} of {len(pairs)} (init, T) points, more at {gt}")
    if {"MSGD", "MSGD-C"} <= set(methods):  # same seed: same network and data; if clipping never acts, the same run
        end = {(r["init"], r["T"], r["method"], r["seed"]): (r["updates"], r["error"]) for r in rows}
        same = sum(end[(i, T, "MSGD", seed)] == end[(i, T, "MSGD-C", seed)] for i, T in pairs for seed in range(s.seeds))
        print(f"MSGD and MSGD-C runs of the same seed with identical outcomes (updates, test error): {same} of "
              f"{len(pairs) * s.seeds}")
    longest = {m: {i: max([T for T in Ts if rate(i, T, m) > 0], default=None) for i, Ts in inits.items()} for m in methods}
    for m in methods:
        print(f"longest T with a success, {m}: " + ", ".join(f"{INIT_NAMES[i]} {longest[m][i]}" for i in inits))
    beyond = [(i, T, m) for i, T in pairs for m in ("MSGD", "MSGD-C") if T > 20 and rate(i, T, m) > 0]
    check("8a.2-beyond-20", "§4.3: for T > 20 neither MSGD nor MSGD-C solves the task", not beyond,
          source="Pascanu §4.3", expected=False, deviation="S1",
          ours=f"{len(beyond)} (init, T, method) points with T > 20 solved",
          line=f"§4.3 'for T > 20 neither MSGD nor MSGD-C solves the task': "
               f"{'holds' if not beyond else 'does not hold'} here ({len(beyond)} (init, T, method) points with T > 20 solved)")
    far = [(i, T) for i, T in pairs if T > 50]
    if far and "MSGD-CR" in methods:
        ahead = all(rate(i, T, "MSGD-CR") > max(rate(i, T, m) for m in methods if m != "MSGD-CR") for i, T in far)
        ours = "; ".join(f"{INIT_NAMES[i]} T = {T}: " + ", ".join(f"{m} {rates[(i, T, m)]['solved']}/"
                         f"{rates[(i, T, m)]['runs']}" for m in methods) for i, T in far)
        check("8a.2-beyond-50", f"Fig. 7: beyond T = 50 (here up to T = {max(T for _, T in far)}) MSGD-CR solves "
              "more runs than MSGD and MSGD-C at every length", ahead, source="Pascanu §4.3, Fig. 7",
              verdict="reproduced qualitatively", ours=ours, line=f"beyond T = 50, solved within {common:,} updates: {ours}")
    if "sigmoid" in inits:
        short = [(T, m) for T in inits["sigmoid"] for m in ("MSGD", "MSGD-C") if T <= 20 and rate("sigmoid", T, m) > 0]
        check("8a.2-sigmoid-short", "sigmoid initialization: MSGD and MSGD-C solve the short lengths T <= 20 "
              "(as the main text's Fig. 7 implies)", bool(short), source="Pascanu §4.3, Fig. 7", expected=False,
              deviation="S1", ours=f"{len(short)} (T, method) points with T <= 20 solved")
    if ("smart_tanh", 20, "MSGD") in rates:
        med = {m: rates[("smart_tanh", 20, m)]["median_updates"] for m in methods}
        ours = ", ".join(f"{m} {'-' if v is None else f'{v / 1000:.1f}k'}" for m, v in med.items())
        line = (f"updates to success at T = 20, smart tanh (median over solved runs): ours {ours}; "
                "paper (average): MSGD 21k, MSGD-C 11k, MSGD-CR 2k")
        known = {m: v for m, v in med.items() if v is not None}
        fastest = len(known) == len(methods) and min(known, key=known.get) == "MSGD-CR" and \
            known["MSGD-CR"] < min(v for m, v in known.items() if m != "MSGD-CR")
        check("8a.2-t20-fastest", "T = 20, smart tanh: MSGD-CR needs the fewest updates", fastest,
              source="Pascanu supp. §3.1.1", verdict="reproduced qualitatively", paper="MSGD-CR 2k of MSGD 21k, MSGD-C 11k",
              ours=ours, line=line)
        c_faster = len(known) == len(methods) and known["MSGD-C"] < known["MSGD"]
        check("8a.2-t20-clipping-faster", "T = 20, smart tanh: MSGD-C needs fewer updates than MSGD", c_faster,
              source="Pascanu supp. §3.1.1", expected=False, paper="MSGD-C 11k, MSGD 21k", ours=ours, deviation="S4",
              line=line, show=False)
    not_run("8a.2-long-lengths", "MSGD-CR keeps solving the temporal order task up to T = 250 where the others fail",
            source="Pascanu §4.3, Fig. 7", reason=f"the committed run stops at T = {max(max(Ts) for Ts in inits.values())}; "
            "the paper profile runs T up to 250")
    return total, longest


cpu_total, cpu_longest = compare(fig7_cpu["runs"], cpu_s)

# %% [markdown]
# **Reading the committed run.** The ordering of the methods is the paper's: summed over all points and at
# the common budget, MSGD-CR solves the most runs and MSGD the fewest, and MSGD-CR is never behind MSGD-C.
#
# *Beyond $T = 50$* (smart tanh) the gap is the paper's Fig. 7 in small: at $T = 75$ MSGD solves nothing
# and MSGD-C a few runs, at $T = 100$ only MSGD-CR solves, every run, within 50k updates. Whether this goes
# on to $T = 250$ is left to the `paper` profile.
#
# *With the sigmoid initialization* only MSGD-CR solves anything. MSGD and MSGD-C solve no run at any
# length, not even at $T \le 20$, which the main text's Fig. 7 (its earlier set-up, S1) shows solved by both.
# The sigmoid network's weights start so small ($\mathcal{N}(0, 0.01)$, T8) that the gradient stays under
# the clipping threshold, and MSGD and MSGD-C run identically (the count of identical outcomes above). What
# makes the difference there is $\Omega$, which acts on the vanishing gradient, not clipping. Even so
# MSGD-CR is slow: beyond $T = 10$ most of its sigmoid runs succeed only after 50k updates (the medians of
# the table, counted within its 150k budget).
#
# *With the tanh initializations* clipping starts to matter from $T = 30$: there MSGD solves fewer runs
# than MSGD-C with both initializations, and at $T = 50$ MSGD solves nothing. At $T = 20$ with smart tanh
# it is the other way round, MSGD slightly ahead of MSGD-C (the one point where MSGD-C is behind). The main
# text's "longer than 20" limit does not hold in the supplement's set-up.
#
# *Speed.* At $T = 20$, smart tanh, every method needs far fewer updates than the paper reports. Those
# numbers are averages over an unstated number of runs, and the main text's earlier runs used minibatches
# of 100 and 1000, so the two are not measured the same way (S4; Chapter 6, R4). The ordering of MSGD-CR
# ahead of the others matches; MSGD-C is not faster than MSGD here.

# %% [markdown]
# ## 8a.3 Figure 7, live
#
# The same function, `experiments.fig7`, run now on the settings of the live profile. At `ci` this is a smoke
# test of seconds: a 20-unit network, two lengths, 200 updates. Nothing is expected to be solved, and the
# figure only shows that the pipeline from training to figure works. With `PROFILE=paper` this cell runs
# the supplement's experiment (27 lengths × 3 methods × 5 seeds, up to 5M updates each; about two GPU-days by
# the paper's own estimate of "close to 48h" for one 5M-update run).

# %%
live_rows = experiments.fig7(fig7_settings, progress=profile != "ci")  # bars for the long runs only
live_rates = success_table(live_rows, fig7_settings)

# %% tags=["hide-input"]
plot_fig7(live_rates, fig7_settings, "8a.2", f"live run of this build at the `{profile}` profile")

# %% [markdown]
# **What the `paper` profile costs.** Each experiment is a grid of *cells*, one engine's worth of runs (for
# Fig. 7, every method × seed at one initialization and length). The command runs the cells on Dask: by
# default on a local cluster with one single-threaded worker per core, or with `--scheduler` on a running
# cluster (the README gives recipes for Slurm and for a node with several GPUs). Before a sweep starts, it
# prints a cost model: every cell's engine times a few updates, and the cell is charged that rate times its
# update budget. This is an upper bound, since a run that passes its test stops early. Below is the model of
# the two `paper` sweeps, measured while this page was built, on its CPU, at one thread per cell, so the
# unit is CPU-hours. This project has no GPU measurement, so the GPU cost is not given.

# %% tags=["nbval-ignore-output"]
for name in ("fig7", "tables"):
    paper_cost = experiments.cost(name, dataclasses.replace(settings.load(name, "paper"), threads=1, device="cpu"),
                                  updates=3)
    print(f"{name} at `paper`: {paper_cost['cells']} cells, {paper_cost['runs']} runs, at most "
          f"{paper_cost['worker_hours']:,.0f} CPU-hours on this machine, i.e. {paper_cost['worker_hours'] / 100 / 24:.1f} "
          f"days on 100 cores (upper bound: every run to {settings.load(name, 'paper').max_updates:,} updates)")
print("on a GPU: unmeasured")

# %% [markdown]
# ## 8a.4 Supplementary Tables 1-5
#
# The supplement trains one model per task on sequences whose length is drawn per minibatch from 50-200,
# until **no** sequence out of 10,000 is misclassified (the "varying length" criterion of supp. §3.1.1). It
# then tests that model at longer lengths. The hyper-parameters are the supplement's, task by task:
#
# | table | task | init | N | lr | threshold | $\alpha$ | source |
# |---|---|---|---|---|---|---|---|
# | (text) | temporal order | smart tanh | 50 | 0.01 | 1 | 2 | §3.1.1 ("we decreased ... α to 2") |
# | 1 | addition | basic tanh | 50 | 0.01 | 1 | 0.5 | §3.1.2 |
# | 2 | multiplication | basic tanh | 50 | 0.01 | 1 | 0.5 | §3.1.3 ("the same hyperparameters") |
# | 3 | 3-bit temporal order | smart tanh* | 100 | 0.01 | 1 | 2 | §3.1.4 |
# | 4 | random permutation | smart tanh* | 100 | 0.001 | 6 | 1 | §3.1.5 |
# | 5 | noiseless memorization, original and extended | smart tanh* | 100 | 0.01 | 1 | 1 | §3.1.6 |
#
# \* The supplement names no initialization for these tasks. We use smart tanh, the one it uses "in all our
# latest results" (§3.2) ([Deviations](../deviations.md) S5). Memorization has one model per length (50, 100,
# 150, 200), because "all runs on varying length sequences failed". Table 5 averages the error over the 5
# seeds, and a memorization run succeeds below 1 % error. Tables 1-4 show "the same trained model". Ours
# shows the solved run with the lowest seed, or the run with the lowest mean error when none was solved, and
# says which.

# %%
def show_tables(entries, who):
    """Print each table: the paper's row (its lengths) and ours (our lengths), error in % of the test sequences."""
    shown = set()
    for e in entries:
        paper = experiments.PAPER_TABLES[e["task"]]
        train = e["train"] if isinstance(e["train"], int) else f"{e['train'][0]}-{e['train'][1]}"
        status = (f"{e['solved']}/{e['runs']} runs solved" if e["seed"] is None
                  else f"seed {e['seed']}, {'solved' if e['solved'] else 'not solved'}, of {e['runs']} run{'s' * (e['runs'] > 1)}")
        name = "Table " + str(e["table"]) if e["table"] else "temporal order (text of §3.1.1)"
        print(f"{name}, {e['task']}, trained on T = {train} ({status}):")
        if e["task"] not in shown:  # Table 5: the paper's row once per task
            shown.add(e["task"])
            print("  paper   " + "  ".join(f"T={T}: {v:g}%" for T, v in paper.items()))
        print(f"  {who:<7} " + "  ".join(f"T={T}: {v:.2f}%" for T, v in e["test"].items()))


tables_cpu = experiments.load_results("tables", committed)
if tables_cpu is None:
    print(f"No committed `{committed}` run of the tables yet: "
          f"`python -m reprolib.experiments tables --profile {committed}` writes {experiments.results_path('tables', committed).name}.")
    for task, paper in experiments.PAPER_TABLES.items():
        not_run(f"8a.4-{task.replace('_', '-')}", f"{task}: the trained model keeps the supplement's test errors "
                "at the lengths of its table", source="Pascanu supp. §3.1, Tables 1-5",
                paper=", ".join(f"T={T}: {v:g}%" for T, v in paper.items()),
                reason=f"no committed `{committed}` run of the tables; the ci run cannot learn the tasks")
else:
    describe(tables_cpu["provenance"])
    tables_entries = experiments.table_rows(tables_cpu["runs"])
    show_tables(tables_entries, committed)

# %% [markdown]
# **Reading the committed run.** The `cpu` models train on lengths 20-40, not 50-200, and for at most
# 100,000 updates, not 5M (S8), so the paper's lengths cannot be compared directly. We compare *how far a
# model generalizes*, as a multiple of its longest training length: the paper's addition model, trained up
# to 200, stays under 1 % up to 600 (3×), so ours, trained up to 40, should stay under 1 % up to 120. The
# checks below state each claim in that form. What the run shows:
#
# * **Random permutation: agrees, and more.** The model is solved and makes no error at any tested length up
#   to 160, four times its longest training length.
# * **Noiseless memorization: agrees.** All 5 seeds solve it at $T = 20$ and at $T = 40$, with 0 % error, as in
#   Table 5.
# * **Temporal order and 3-bit temporal order: solved, but they do not generalize.** Both make no error at the
#   training lengths 20 and 40, then fail at 60 (most sequences misclassified). The paper's temporal-order model
#   makes no error up to 5,000, 25 times its training length; ours does not reach 1.5 times.
# * **Addition: solved by the criterion, but not under 1 % at every length.** The criterion tests 10 chunks of
#   1,000 sequences, each chunk with one length drawn from 20-40; on 10,000 sequences of length exactly 20 the
#   model misclassifies about 1 %, and beyond 40 the error grows. The claim of Table 1 does not hold here.
# * **Multiplication: not solved** within 100,000 updates by any of the 5 seeds; the table shows the run with
#   the lowest mean error.
# * **Extended memorization: not solved** at this budget: 3 of 5 seeds at $T = 20$ and none at $T = 40$, where
#   the paper reports a mean error of 0.72-0.84 % at $T$ = 50-200.
#
# A model trained on short sequences for 2 % of the paper's budget generalizes worse than the paper's; whether
# the differences come from the budget or the lengths needs the `paper` profile.

# %%
TABLE_CLAIMS_HOLD = {"temporal-order": False, "addition": False, "multiplication": False, "temporal-order-3bit": False,
                     "random-permutation": True, "memorization-T20": True, "memorization-T40": True,
                     "memorization-extended-T20": False, "memorization-extended-T40": False}  # as the text above states
if tables_cpu is not None:
    for c in experiments.table_claims(tables_entries):
        exact = c["id"].startswith("memorization-T")  # the paper's own lengths differ, its error is the same (0 %)
        check(f"8a.4-{c['id'].lower()}", c["claim"], c["held"], source="Pascanu supp. §3.1, Tables 1-5",
              verdict=("reproduced" if exact else "reproduced qualitatively") if c["held"] else "not reproduced",
              expected=TABLE_CLAIMS_HOLD[c["id"]], paper=c["paper"], ours=c["ours"], deviation="S8",
              line=f"{c['claim']}: {'holds' if c['held'] else 'does not hold'} (ours: {c['ours']}; paper: {c['paper']})")

# %% [markdown]
# The live run of the tables at this build's profile follows. At `ci` each model trains for 400 updates on
# lengths 10-15 (5-10 for memorization) and is tested on 500 sequences. That is far too little to learn any
# of these tasks, so the errors sit near chance: 75 % for temporal order, 87.5 % for 3-bit, 50 % for random
# permutation (where the last symbol is one of two). The run checks the code path, not the claim.

# %%
live_tables = experiments.tables(tables_settings, progress=profile != "ci")
show_tables(experiments.table_rows(live_tables), "ours")

# %% [markdown]
# ## 8a.5 Agreement with the paper
#
# What the runs above support, and what they do not:
#
# * **The sigmoid panel: does not agree.** MSGD and MSGD-C solve no run with the sigmoid initialization, at any
#   length (8a.2); in the main text's figure both solve the short sequences.
# * **Figure 7, the ordering of the methods: agrees.** The printed comparison in 8a.2 counts, over every
#   (initialization, length), how often MSGD-C solves at least as many runs as MSGD, and MSGD-CR as MSGD-C. This is
#   the paper's qualitative claim, measured at 1 % of its update budget and at lengths up to 100. For the sigmoid
#   initialization the gain comes from $\Omega$ alone, since clipping never acts there.
# * **MSGD-CR solving where the others fail: agrees up to $T = 100$.** With smart tanh at $T = 75$ and $100$,
#   MSGD-CR solves every run within 50k updates, MSGD none and MSGD-C few or none (8a.2).
# * **The speed at $T = 20$ (smart tanh): does not agree in size.** The paper reports 21k, 11k and 2k updates on
#   average. The line in 8a.2 gives our medians over the solved runs, tested every 1,000 updates. Runs that failed
#   within 50k updates are left out, so our medians are biased towards fast runs wherever some runs failed.
# * **Lengths 150-250 (75-100 for the sigmoid and basic tanh), and the tables at lengths 50-600.** These need
#   the `paper` profile on a GPU. They are not reproduced here, and the book does not claim them.
# * **Early text of §4.3** ("for sequences longer than 20 ... neither BPTT nor our algorithm can solve the
#   task"). That statement is about the earlier set-up (lr 0.001, minibatch 1000, 100k updates). The line in
#   8a.2 says whether it also holds for the supplement's set-up within our budget.
# * **Tables 1-5, at lengths 20-40 and 2 % of the budget: partly.** Random permutation and noiseless
#   memorization agree (8a.4). Temporal order, 3-bit temporal order and addition are learned at the training
#   lengths but do not generalize as far as the paper's models; multiplication and extended memorization are not
#   solved within 100,000 updates. The paper's lengths (50-600) and budget are `paper`-only.
#
# Every departure from the papers' set-up is listed on the [Deviations](../deviations.md) page (S1–S8).
