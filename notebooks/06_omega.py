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
#     reproduces: "Pascanu et al. supplement §2.2 (eq. 5) and summary eq. 15: the Ω regularizer"
# ---

# %% [markdown]
# # 6. The Ω regularizer
#
# Clipping (Chapter 5) deals with exploding gradients. For the vanishing gradient, Pascanu, Mikolov and
# Bengio {cite}`pascanu2013difficulty` add a regularizer $\Omega$ that asks every step of back-propagation
# through time to keep the norm of the error it carries (supplement §2.2, eq. 5; summary eq. 15). This chapter
# reproduces that term and the experiments around it. The claims are:
#
# 1. $\Omega$ is a sum of one term per step; its *immediate* derivative $\partial^+\Omega/\partial W_{rec}$ (the
#    back-propagated errors and the states held constant) is cheap, "two matrix multiplications" (supp. §2.2);
# 2. the paper writes $\Omega$ for the state $x$ of eq. (2), the original code for $h = \sigma(x)$; the two differ;
# 3. $\Omega$ needs the *total* derivatives $\partial\mathcal{E}/\partial x_k$; with the immediate ones it
#    shrinks to its last term (a known mistake of a public port);
# 4. terms whose $\lVert\partial\mathcal{E}/\partial x_{k+1}\rVert^2$ is below $10^{-20}$ are left out (supp. §2.2);
# 5. on the temporal order task, $\Omega$ pulls the ratio $\lVert\partial\mathcal{E}/\partial x_k\rVert / \lVert\partial\mathcal{E}/\partial x_{k+1}\rVert$ towards 1;
# 6. at $T = 20$ with the *smart tanh* initialization, MSGD needs 21k updates, MSGD with clipping (MSGD-C) 11k and
#    MSGD with clipping and $\Omega$ (MSGD-CR) 2k (supp. §3.1.1);
# 7. the weight $\alpha$ of $\Omega$ may follow a decreasing schedule (supp. §2.2, §3.2);
# 8. the "previous solution" of §3.1, an L2 penalty on $W_{rec}$, keeps $\rho(W_{rec}) < 1$, which leaves a single
#    point attractor and a memory that fades exponentially.
#
# Every claim closes with a printed check; the book's regression tests compare those lines on every change.

# %% tags=["parameters", "remove-cell"]
profile = "ci"
seed = 0
threads = 1
device = "auto"
n_hidden = 50  # hidden units (supp. 3.1.1)
batch_size = 20  # minibatch size (supp. 3.1.1)
lr = 0.01  # learning rate (supp. 3.1.1)
threshold = 1.0  # clipping threshold (supp. 3.1.1)
alpha = 4.0  # weight of Omega (supp. 3.1.1; the code's default is 2)
train_dtype = "float64"  # precision of the engine runs of 6.5, 6.6 and 6.8 (float64: the same numbers on every CPU)
n_test = 1000  # test sequences per evaluation (paper: 10,000)
test_every = 250  # updates between two evaluations
N_check = 20  # units of the random networks of 6.1-6.4
T_check = 30  # sequence length of 6.1-6.4
B_check = 8  # sequences of 6.1-6.4
T_grad = 50  # training length of 6.5
n_grad_seeds = 3  # runs per value of alpha in 6.5
grad_updates = 1000  # updates in 6.5
n_grad_sequences = 200  # fresh sequences on which dE/dx_k is measured
T_cmp = 20  # length of the MSGD / MSGD-C / MSGD-CR comparison (supp. 3.1.1)
n_cmp_seeds = 5  # runs per method
max_updates = 10000  # cap on the updates of a run in 6.6 (paper: 5M)
T_l2 = 20  # training length of 6.8
l2_lambdas = [0.0, 0.02, 0.05]  # weights of the L2 penalty on W_rec
n_l2_seeds = 3  # runs per lambda
l2_updates = 3000  # updates in 6.8
l2_every = 50  # updates between two measurements of rho(W_rec)
n_starts = 100  # initial states of the autonomous map
T_free = 1000  # steps of the autonomous map
T_memory = 100  # horizon of the input's influence

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm import tqdm  # text bars: tqdm.auto only adds a warning where ipywidgets is missing

from reprolib import linear, omega, profiles, reference, tasks
from reprolib.claims import check
from reprolib.engine import Engine, Run
from reprolib.initializations import Params
from reprolib.plotting import caption
from reprolib.rnn import RNN

D = torch.float64  # the checks of 6.1-6.4 and every measurement on trained networks: float64
chapter = profiles.start(profile, seed, threads, device, dtype=D)
dev, gen, randn = chapter.device, chapter.gen, chapter.randn


def last_step_cost(W_out, b_out, y):
    """The original code's `lastSoftmax`: cross-entropy of a soft-max read-out of h_T, mean over the batch."""
    return lambda hs: reference.cost("last_softmax", hs, W_out, b_out, y)


# %% [markdown]
# ## 6.1 Ω and its immediate derivative
#
# Write $\delta_k = \partial\mathcal{E}/\partial x_k$ for the *total* derivative of the cost with respect to the
# state of eq. (2) (through every later step), a row vector. One step of back-propagation multiplies it by the
# Jacobian $\partial x_{k+1}/\partial x_k = W_{rec}\,\mathrm{diag}(\sigma'(x_k))$ (in the layout of the
# [Notation](../notation.md) page). The regularizer asks that this step keep the norm:
#
# $$
# \Omega = \sum_k \Omega_k = \sum_k \left( \frac{\big\lVert \delta_{k+1}\, \frac{\partial x_{k+1}}{\partial x_k} \big\rVert^2}{\lVert\delta_{k+1}\rVert^2} - 1 \right)^2
# \qquad \text{(supp. eq. 5; summary eq. 15 has plain norms)} .
# $$
#
# For a cost on the last step only (the temporal order task), $\delta_{k+1}\,\partial x_{k+1}/\partial x_k = \delta_k$,
# so the ratio is $r_k = \lVert\delta_k\rVert^2/\lVert\delta_{k+1}\rVert^2$ and $\prod_k r_k = \lVert\delta_0\rVert^2/\lVert\delta_T\rVert^2$:
# pushing every $r_k$ to 1 is pushing the error that reaches the early steps to the size it had at the end, i.e.
# against the vanishing gradient. Only the immediate derivative is used: $\delta$ and the states are held constant,
# so for one term, with $v = \delta_{k+1}$ and $w = (v\,W_{rec}) \odot \sigma'(x_k)$,
#
# $$
# \frac{\partial^+ \Omega_k}{\partial W_{rec}} = \frac{4\,(r_k - 1)}{\lVert v\rVert^2}\; v^T \big(w \odot \sigma'(x_k)\big),
# $$
#
# one product forward ($w$) and one backward (the outer products, summed over $k$ and the batch). `reprolib.omega`
# implements it (`omega_grad`) with the original code's averaging ([Deviations](../deviations.md) C4). We check it against autograd
# applied to $\Omega$ with $\delta$ and the states detached, on a random tanh network with a soft-max read-out of
# $h_T$; $\delta_k$ comes from `omega.total_state_gradients`.

# %%
net = RNN(1.2 * randn(N_check, N_check) / math.sqrt(N_check), randn(N_check, 3), 0.1 * randn(N_check), "tanh")
u, x0 = randn(T_check, B_check, 3), 0.5 * randn(B_check, N_check)
W_out, y = randn(4, N_check), torch.randint(4, (B_check,), generator=gen)
cost = last_step_cost(W_out, torch.zeros(4, dtype=D), y)
xs, dE_dx, dE_dh = omega.total_state_gradients(net, u, x0, cost)

for form, dE in (("x", dE_dx), ("h", dE_dh)):
    for norms in ("squared", "plain"):
        W = net.W_rec.clone().requires_grad_(True)
        auto = torch.autograd.grad(omega.omega(W, xs, dE, "tanh", form=form, norms=norms), W)[0]
        closed = omega.omega_grad(net.W_rec, xs, dE, "tanh", form=form, norms=norms)
        err = ((closed - auto).norm() / auto.norm()).item()
        check(f"6.1-omega-grad-{form}-{norms}", f"form {form}, {norms} norms: closed-form dOmega/dW_rec = autograd "
              "(rel. error < 1e-12)", err < 1e-12, source="Pascanu supp. §2.2", kind="identity",
              line=f"form {form}, {norms:7s} norms: closed-form dOmega/dW_rec = autograd (rel. error < 1e-12): {err < 1e-12}")

r, _ = omega.omega_ratios(net.W_rec, xs, dE_dx, "tanh")
n2 = (dE_dx**2).sum(-1)  # ||delta_k||^2, [T+1, B]
check("6.1-ratio-last-step", "last-step cost: r_k = ||delta_k||^2 / ||delta_(k+1)||^2 (rel. error < 1e-12)",
      ((r - n2[:-1] / n2[1:]).abs() / r).max().item() < 1e-12, source="Pascanu supp. eq. 5", kind="identity")
check("6.1-ratio-product", "prod_k r_k = ||delta_0||^2 / ||delta_T||^2 (rel. error < 1e-10)",
      ((r.log().sum(0) - (n2[0] / n2[-1]).log()).abs()).max().item() < 1e-10, source="Pascanu supp. eq. 5",
      kind="identity")

# %% [markdown]
# **Verdict.** The closed form is the immediate derivative, for both states and both kinds of norm, and for a
# last-step cost the ratios inside $\Omega$ are the step-to-step shrinking of the back-propagated error, whose
# product is the whole vanishing factor $\lVert\delta_0\rVert^2/\lVert\delta_T\rVert^2$.

# %% [markdown]
# ## 6.2 Two states, two regularizers
#
# The paper writes $\Omega$ for $x$ of eq. (2). The original code uses the post-activation $h = \sigma(x)$ as its
# state and applies the same formula to it: with $g_k = \partial\mathcal{E}/\partial h_k$ and
# $\partial h_{k+1}/\partial h_k = \mathrm{diag}(\sigma'(x_{k+1}))\,W_{rec}$, its ratio is
# $\lVert (g_{k+1}\odot\sigma'(x_{k+1}))\,W_{rec}\rVert^2/\lVert g_{k+1}\rVert^2 = \lVert\delta_{k+1}W_{rec}\rVert^2/\lVert g_{k+1}\rVert^2$
# (`form="h"`), against $\lVert\delta_{k+1}W_{rec}\,\mathrm{diag}(\sigma'(x_k))\rVert^2/\lVert\delta_{k+1}\rVert^2$ for the
# paper (`form="x"`). The factor $\sigma'$ sits on different steps, so the two agree only for the identity.

# %%
for sigma in ("tanh", "identity"):
    net_s = RNN(net.W_rec, net.W_in, net.b, sigma)
    xs_s, dx_s, dh_s = omega.total_state_gradients(net_s, u, x0, cost)
    om_x = omega.omega(net.W_rec, xs_s, dx_s, sigma, form="x").item()
    om_h = omega.omega(net.W_rec, xs_s, dh_s, sigma, form="h").item()
    equal = abs(om_x - om_h) <= 1e-12 * abs(om_x)
    # the two forms coincide only for the identity (the chapter's claim 2)
    check(f"6.2-forms-equal-{sigma}", f"{sigma}: Omega for x (paper, eq. 5) = Omega for h (original code)", equal,
          source="Pascanu supp. eq. 5", kind="identity", verdict="reproduced", expected=sigma == "identity",
          deviation="C2", ours=f"{om_x:.4f} vs {om_h:.4f}",
          line=f"{sigma:8s}: Omega for x (paper, eq. 5) = {om_x:.4f}, for h (original code) = {om_h:.4f}, "
          f"equal (rel. 1e-12): {equal}")

# %% [markdown]
# **Verdict.** For tanh units the paper's $\Omega$ and the code's are different numbers (and different gradients),
# for the identity they coincide. The book trains with the paper's form; the paper's values of $\alpha$ were tuned
# with the code's ([Deviations](../deviations.md) C2, R1).

# %% [markdown]
# ## 6.3 The total derivative matters
#
# $\delta_{k+1}$ in eq. (5) is the derivative of the whole cost with respect to the state, through every later
# step. A public PyTorch port computed it as `autograd.grad(loss, torch.stack(h_list))`: the derivative with respect
# to a *stacked copy* of the states sees only the paths from that copy to the loss, i.e. the immediate
# $\partial^+\mathcal{E}/\partial h_k$. For a cost on the last step it is zero before step $T$, every earlier term
# falls under the $10^{-20}$ guard, and $\Omega$ is its last term alone. We repeat the mistake on the network of 6.1
# (the code's form $h$, as the port).

# %%
x0_leaf = x0.clone().requires_grad_(True)
hs_stacked = torch.tanh(net.unroll(u, x0_leaf))  # the states as one stacked tensor
dE_port = torch.autograd.grad(cost(hs_stacked), hs_stacked)[0]  # the port's "dE/dh"
om_total = omega.omega(net.W_rec, xs, dE_dh, "tanh", form="h").item()
om_port = omega.omega(net.W_rec, xs, dE_port.detach(), "tanh", form="h").item()
r_h, inc_total = omega.omega_ratios(net.W_rec, xs, dE_dh, "tanh", form="h")
_, inc_port = omega.omega_ratios(net.W_rec, xs, dE_port.detach(), "tanh", form="h")
last_term = ((r_h[-1] - 1) ** 2).mean().item()
print(f"Omega with the total dE/dh_k: {om_total:.4f} ({int(inc_total.sum())} of {inc_total.numel()} terms included)")
print(f"Omega with the port's stacked-states gradient: {om_port:.4f} ({int(inc_port.sum())} of {inc_port.numel()} terms included)")
check("6.3-port-last-term", "the port's Omega = the last term Omega_(T-1) of the true one (rel. 1e-12)",
      abs(om_port - last_term) <= 1e-12 * last_term, source="Pascanu supp. eq. 5", kind="identity")
check("6.3-port-zero", "the port's dE/dh_k is zero for every k < T", bool((dE_port[:-1] == 0).all()),
      source="Pascanu supp. eq. 5", kind="identity")

# %% [markdown]
# **Verdict.** With the immediate derivative the regularizer only looks at the last step and says nothing about
# the long-term flow it was designed for; the total derivative (per-step states, as `total_state_gradients` and the
# engine's hand-written backward do) is required.

# %% [markdown]
# ## 6.4 The $10^{-20}$ guard
#
# When the gradient vanishes, $\lVert\delta_{k+1}\rVert^2$ can be so small that the ratio is noise or $0/0$. The
# supplement keeps only the terms with $\lVert\partial\mathcal{E}/\partial x_{k+1}\rVert^2 \ge 10^{-20}$; the original
# code ran in float32, where a vanishing gradient reaches exact zeros. We shrink $W_{rec}$ of the network of 6.1 to
# $\rho = 0.2$ and compute in float32.

# %%
W_small = linear.scale_to_spectral_radius(net.W_rec, 0.2)
net32 = RNN(W_small.float(), net.W_in.float(), net.b.float(), "tanh")
cost32 = last_step_cost(W_out.float(), torch.zeros(4), y)
xs32, dx32, _ = omega.total_state_gradients(net32, u.float(), x0.float(), cost32)
n2_32 = (dx32**2).sum(-1)
naive = (n2_32[:-1] / n2_32[1:] - 1) ** 2  # eq. (5) without the guard (last-step cost: r_k = ||d_k||^2/||d_k+1||^2)
guarded = omega.omega(net32.W_rec, xs32, dx32, "tanh")
print(f"terms with ||delta_(k+1)||^2 < 1e-20: {int((n2_32[1:] < omega.BOUND).sum())} of {n2_32[1:].numel()}")
print(f"exact zeros among ||delta_k||^2 (float32 underflow): {int((n2_32 == 0).sum())}")
line = (f"Omega without the guard is finite: {bool(torch.isfinite(naive.mean()))}; "
        f"with the guard: {bool(torch.isfinite(guarded))} (Omega = {guarded.item():.4f})")
check("6.4-no-guard-finite", "float32, rho = 0.2: Omega without the 1e-20 guard is finite",
      bool(torch.isfinite(naive.mean())), source="Pascanu supp. §2.2", verdict="reproduced", expected=False,
      paper="division by 0 or instability", deviation="C5", line=line)
check("6.4-guard-finite", "float32, rho = 0.2: Omega with the 1e-20 guard is finite", bool(torch.isfinite(guarded)),
      source="Pascanu supp. §2.2", kind="identity", deviation="C5", line=line, show=False)

# %% [markdown]
# **Verdict.** Without the guard one vanished error signal makes $\Omega$ (and its gradient) non-finite; with it the
# terms that carry no information are dropped and $\Omega$ stays finite. The guard is on the squared norm and is
# inclusive, as in the code ([Deviations](../deviations.md) C5).

# %% [markdown]
# ## 6.5 Ω on the temporal order task: the error signal over time
#
# The temporal order task (supp. §3.1.1): six one-hot symbols, two relevant symbols $A$/$B$ at random positions in
# $[T/10, 2T/10)$ and $[4T/10, 5T/10)$, the class of their order read at the last step. We train
# `n_grad_seeds` networks with $\alpha = 0$ (MSGD-C) and as many, with the same seeds (hence the same
# initializations and minibatches), with $\alpha > 0$ (MSGD-CR), using `reprolib.engine` (smart tanh, $N = 50$,
# minibatch 20, learning rate 0.01, clipping threshold 1). Then, on fresh sequences and with each run's final
# parameters, we measure $\lVert\delta_k\rVert = \lVert\partial\mathcal{E}/\partial x_k\rVert$ for every $k$. The engine
# starts from $h_0 = 0$, i.e. $x_0 = 0$ for tanh.
# The engine runs of this chapter (6.5, 6.6, 6.8) train in `train_dtype`: float64 at `ci`, because in float32 these
# runs are chaotic enough that the CPU's kernel path (AVX2 or AVX-512, the maths library's code branch) changes the
# printed numbers; the `paper` profile trains in float32, as the paper did.

# %%
grad_runs = [Run(seed=s, lr=lr, threshold=threshold, alpha=a) for a in (0.0, alpha) for s in range(n_grad_seeds)]
eng = Engine("temporal_order", grad_runs, init="smart_tanh", n_hidden=n_hidden, batch_size=batch_size, length=T_grad,
             dtype=getattr(torch, train_dtype), device=dev)
P0 = [eng.params(i) for i in range(n_grad_seeds)]  # the initializations (shared by both groups)
res_grad = eng.train(grad_updates, test_every=grad_updates, n_test=n_test, log_every=grad_updates // 20, progress=False)

u_g, y_g = tasks.temporal_order(n_grad_sequences, T_grad, gen, dtype=D)


def delta_norms(p):
    """||dE/dx_k||, k = 0..T, [T+1, B], and rho(W_rec) of the network with parameters p on (u_g, y_g)."""
    P = Params(**{n: t.to(D).cpu() for n, t in p.items()}, sigma="tanh")
    x0 = torch.zeros(n_grad_sequences, n_hidden, dtype=D)
    xs_p, dx_p, _ = omega.total_state_gradients(P.rnn(), u_g, x0, last_step_cost(P.W_out, P.b_out, y_g))
    return dx_p.norm(dim=-1), xs_p, dx_p, P


groups = {"init": P0,
          "alpha = 0": res_grad.params[:n_grad_seeds], f"alpha = {alpha:g}": res_grad.params[n_grad_seeds:]}
stats = {}
for name, plist in groups.items():
    for i, p in enumerate(plist):
        norms_k, xs_p, dx_p, P = delta_norms(p)
        log_ratio = (norms_k[:-1] / norms_k[1:]).log().mean(1)  # mean over sequences of log ||d_k|| / ||d_k+1||
        om = omega.omega(P.W_rec, xs_p, dx_p, "tanh").item()
        stats[name, i] = dict(curve=(norms_k / norms_k[-1]).log10().mean(1), log_ratio=log_ratio, omega=om,
                              rho=linear.spectral_radius(P.W_rec))
        ap = "" if name == "init" else "≈"  # a trained network's digits depend on the CPU (book/design.md)
        print(f"{name:9s} seed {i}: rho(W_rec) = {ap}{stats[name, i]['rho']:.3f}, geometric mean of "
              f"||d_k||/||d_k+1|| = {ap}{math.exp(log_ratio[1:].mean().item()):.4f}, Omega = {ap}{om:.4f}")

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
colors = {"init": "0.6", "alpha = 0": "tab:blue", f"alpha = {alpha:g}": "tab:red"}
for (name, i), s in stats.items():
    axes[0].plot(range(T_grad + 1), s["curve"], color=colors[name], ls="--" if name == "init" else "-",
                 label=name if i == 0 else None)
axes[0].set(xlabel="step k", ylabel="log₁₀ ‖∂E/∂x_k‖ / ‖∂E/∂x_T‖ (mean over sequences)",
            title=f"back-propagated error after {grad_updates} updates")
axes[0].legend()
log = {k: np.array(v) for k, v in res_grad.log.items()}
for r in range(2 * n_grad_seeds):
    m = log["run"] == r
    name = "alpha = 0" if r < n_grad_seeds else f"alpha = {alpha:g}"
    axes[1].semilogy(log["update"][m], log["omega"][m], color=colors[name], label=name if r % n_grad_seeds == 0 else None)
axes[1].set(xlabel="update", ylabel="Ω on the training minibatch (log scale)", title="Ω during training")
axes[1].legend()
fig.tight_layout()
plt.show()
caption("6.1", "Left: the norm of the back-propagated error ‖∂E/∂x_k‖ relative to its value at the last step, "
        "on fresh temporal order sequences, for the initial networks (grey) and after training without Ω (blue) "
        "and with Ω (red). Right: Ω of each run on its training minibatches.",
        profile=profile, T=T_grad, N=n_hidden, runs=2 * n_grad_seeds, updates=grad_updates, sequences=n_grad_sequences,
        alpha=alpha)

# %%
mean_abs = {name: np.mean([stats[name, i]["log_ratio"][1:].abs().mean().item() for i in range(n_grad_seeds)])
            for name in groups}
mean_om = {name: np.mean([stats[name, i]["omega"] for i in range(n_grad_seeds)]) for name in groups}
a_name = f"alpha = {alpha:g}"
for name in groups:
    ap = "" if name == "init" else "≈"
    line = f"{name:9s}: mean |log(||d_k||/||d_k+1||)| = {ap}{mean_abs[name]:.4f}, mean Omega = {ap}{mean_om[name]:.4f}"
    if name != a_name:
        print(line)
        continue
    others = [n for n in groups if n != a_name]  # at initialization and trained without Omega
    halved = all(mean_abs[a_name] < 0.5 * mean_abs[n] and mean_om[a_name] < 0.5 * mean_om[n] for n in others)
    check("6.5-omega-halves", f"with Omega ({a_name}) the mean |log(||d_k||/||d_k+1||)| and the mean Omega of the trained "
          "networks are less than half their values at initialization and without Omega", halved,
          source="Pascanu supp. §2.2", deviation="R8",
          ours="; ".join(f"{n}: {mean_abs[n]:.4f}, Omega {mean_om[n]:.4f}" for n in groups), line=line)
check("6.5-omega-vs-none", "with Omega the ratios are closer to 1 than without",
      mean_abs[a_name] < mean_abs["alpha = 0"], source="Pascanu supp. §2.2", deviation="R8",
      ours=f"mean |log ratio| {mean_abs[a_name]:.4f} vs {mean_abs['alpha = 0']:.4f}")
check("6.5-omega-vs-init", "with Omega the ratios are closer to 1 than at initialization",
      mean_abs[a_name] < mean_abs["init"], source="Pascanu supp. §2.2", deviation="R8",
      ours=f"mean |log ratio| {mean_abs[a_name]:.4f} vs {mean_abs['init']:.4f}")

# %% [markdown]
# **Verdict.** The smart tanh initialization ($\rho(W_{rec}) = 0.95$) makes the error shrink at every step back in
# time. Trained without $\Omega$, the runs drift either way: some still vanish, some now grow. With $\Omega$ the
# step-to-step ratio stays close to 1 and the error reaches the first steps, where the relevant symbols are, at
# about the size it had at the end. This is the effect the regularizer is designed to have.

# %% [markdown]
# ## 6.6 MSGD, MSGD-C and MSGD-CR at $T = 20$
#
# The supplement (§3.1.1) reports: "if we fix $T = 20$ and the initialization to *smart tanh*, we have for MSGD 21k
# updates, for MSGD-C 11k updates and for MSGD-CR 2k updates" (the paper's numbers, averages over their runs). We
# train `n_cmp_seeds` runs of each method with the final hyper-parameters of §3.1.1: $N = 50$, learning rate 0.01,
# minibatch 20, threshold $\mu = 1$, and $\alpha = 4$ for MSGD-CR. The original code's default is $\alpha = 2$, which
# the supplement uses only for training on lengths 50–200; at fixed $T$ it states $\alpha = 4$, so we use 4
# ([Deviations](../deviations.md) C6). MSGD is plain SGD (no clipping; the non-finite fallback of supp. §2.1
# stays on, Deviations R5). A run is tested every `test_every` updates and stops when fewer than 1 % of the test
# sequences are wrong (the paper's criterion); at the `ci` profile the test uses `n_test` fresh sequences instead
# of 10,000, and runs are capped at `max_updates` updates instead of 5M ([Deviations](../deviations.md) R3).

# %%
methods = {"MSGD": dict(threshold=None, alpha=0.0), "MSGD-C": dict(threshold=threshold, alpha=0.0), "MSGD-CR": dict(threshold=threshold, alpha=alpha)}
paper_updates = {"MSGD": 21_000, "MSGD-C": 11_000, "MSGD-CR": 2_000}
cmp_runs = [Run(seed=s, lr=lr, **kw) for kw in methods.values() for s in range(n_cmp_seeds)]
eng = Engine("temporal_order", cmp_runs, init="smart_tanh", n_hidden=n_hidden, batch_size=batch_size, length=T_cmp,
             dtype=getattr(torch, train_dtype), device=dev)
res_cmp = eng.train(max_updates, test_every=test_every, n_test=n_test, log_every=test_every, progress=False)
print(f"trained {len(cmp_runs)} runs, T = {T_cmp}, at most {max_updates} updates, tested on {n_test} sequences")

# %%
summary = {}
for m, name in enumerate(methods):
    ids = range(m * n_cmp_seeds, (m + 1) * n_cmp_seeds)
    at = [res_cmp.solved_at[r] for r in ids]
    done = [a for a in at if a is not None]
    summary[name] = np.mean(done) if done else math.inf
    median = np.median([math.inf if a is None else a for a in at])  # a run that did not solve counts as never
    paper_n = paper_updates[name]
    line = (f"{name:8s}: solved ≈{len(done)}/{n_cmp_seeds}; updates to success per seed: "
            f"{', '.join('≈never' if a is None else f'≈{a}' for a in at)}; mean over the solved runs: "
            f"≈{summary[name]:.0f} (paper: {paper_n // 1000}k)")
    if name == "MSGD":  # the text below: our MSGD runs are several times faster than the paper's (R4)
        check("6.6-msgd-updates", f"MSGD needs about the paper's {paper_n // 1000}k updates at T = {T_cmp} (median updates "
              f"to success, an unsolved run counting as never, above {paper_n // 1000}k / 3)", bool(median > paper_n / 3),
              source="Pascanu supp. §3.1.1", verdict="not reproduced", expected=False, deviation="R4",
              paper=f"{paper_n // 1000}k", ours=f"median {median:.0f}, mean {summary[name]:.0f} over {len(done)} solved runs",
              line=line)
    elif name == "MSGD-CR":
        check("6.6-msgd-cr-updates", f"MSGD-CR solves the task in every run, in about the paper's {paper_n // 1000}k "
              f"updates at T = {T_cmp} (mean updates to success within a factor 3 of {paper_n // 1000}k)",
              bool(len(done) == n_cmp_seeds and paper_n / 3 < summary[name] < 3 * paper_n), source="Pascanu supp. §3.1.1",
              verdict="reproduced qualitatively", deviation="R4", paper=f"{paper_n // 1000}k",
              ours=f"mean {summary[name]:.0f}, {len(done)}/{n_cmp_seeds} solved", line=line)
    else:
        print(line)
# the paper: each method faster than the one before; the text below: at ci, MSGD-C is not faster than MSGD (R4)
for fast, slow, stated in (("MSGD-CR", "MSGD-C", True), ("MSGD-CR", "MSGD", True), ("MSGD-C", "MSGD", False)):
    fewer = summary[fast] < summary[slow]
    check(f"6.6-{fast}-vs-{slow}".lower(), f"{fast} needs fewer updates than {slow}", fewer, source="Pascanu supp. §3.1.1",
          verdict="reproduced qualitatively" if fewer else "not reproduced", expected=stated, deviation="R4",
          paper=f"{paper_updates[fast] // 1000}k vs {paper_updates[slow] // 1000}k",
          ours=f"{summary[fast]:.0f} vs {summary[slow]:.0f}", line=f"{fast} needs fewer updates than {slow} (paper: yes): {fewer}")

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
ev = {k: np.array(v) for k, v in res_cmp.evals.items()}
method_colors = {"MSGD": "tab:green", "MSGD-C": "tab:blue", "MSGD-CR": "tab:red"}
for m, name in enumerate(methods):
    for j, r in enumerate(range(m * n_cmp_seeds, (m + 1) * n_cmp_seeds)):
        sel = ev["run"] == r
        axes[0].plot(ev["update"][sel], 100 * ev["error"][sel], color=method_colors[name], marker=".",
                     label=name if j == 0 else None)
        if res_cmp.solved_at[r] is not None:
            axes[1].plot(m, res_cmp.solved_at[r], "o", color=method_colors[name], alpha=0.6)
    axes[1].plot(m, paper_updates[name], "k*", ms=12, label="paper (supp. §3.1.1)" if m == 0 else None)
    if math.isfinite(summary[name]):
        axes[1].plot([m - 0.25, m + 0.25], [summary[name]] * 2, color="k", lw=2,
                     label="our mean over the solved runs" if m == 0 else None)
axes[0].axhline(1, color="k", ls=":", lw=1, label="success: < 1 % wrong")
axes[0].set(xlabel="update", ylabel="test error (% of sequences wrong)", title=f"temporal order, T = {T_cmp}")
axes[0].legend()
axes[1].set_xticks(range(len(methods)), list(methods))
axes[1].set(ylabel="updates to success", yscale="log", title="updates to success, ours (dots) and the paper's (★)")
axes[1].legend()
fig.tight_layout()
plt.show()
caption("6.2", "Left: test error of every run against the update index. Right: the update at which each run "
        "passed the test, our mean over the solved runs, and the paper's reported number.",
        profile=profile, T=T_cmp, N=n_hidden, runs_per_method=n_cmp_seeds, batch=batch_size, lr=lr, threshold=threshold, alpha=alpha,
        n_test=n_test, test_every=test_every, max_updates=max_updates)

# %% [markdown]
# **Verdict.** The runs with $\Omega$ reach the criterion first, in the order of magnitude the paper reports
# (about 2k updates). Our MSGD runs solve the task several times sooner than the paper's 21k. Our MSGD-C runs are
# spread widely, some of them using most of the budget of `max_updates` updates (below the paper's 11k at `ci`), so
# their mean over the solved runs says little against the paper's number; with a few seeds the ordering of MSGD and
# MSGD-C is not the paper's, and the printed lines say which orderings hold at this run. Our counts are on a grid of
# `test_every` updates and on fewer test sequences than the paper's ([Deviations](../deviations.md) R3, R4).

# %% [markdown]
# ## 6.7 Schedules of α
#
# On the synthetic tasks $\alpha$ is constant. On the natural tasks the supplement found that $\Omega$ "can hurt
# learning" and used decreasing schedules (§2.2, §3.2): Piano-midi.de starts at 0.5 with "$\alpha_t = 1/(2t)$"
# ($t$ in epochs), MuseData at 0.1 with the same schedule, Nottingham at 5 decreasing "with $1/\max(1, t-10)$"
# after 10 epochs; the 5th-character prediction task at 0.05 with $\alpha/(1 + t/2800)$ ($t$ in updates), also
# tried with $\beta = 500$ and a start $t_0 = 28108$; next-character prediction keeps 0.01. `omega.AlphaSchedule`
# reads every one as $\alpha_0\,s(t)$ ([Deviations](../deviations.md) C7).

# %%
S = omega.AlphaSchedule
by_epoch = {"Piano-midi.de: 0.5/t (printed 1/(2t))": S(0.5, "1/t"), "MuseData: 0.1/t": S(0.1, "1/t"),
            "Nottingham: 5, 1/max(1, t−10)": S(5.0, "1/t", t0=10)}
by_update = {"5th character: 0.05, 1/(1+t/2800)": S(0.05, "1/(1+t/beta)", beta=2800),
             "  β = 500": S(0.05, "1/(1+t/beta)", beta=500),
             "  t₀ = 28108": S(0.05, "1/(1+t/beta)", t0=28108, beta=2800),
             "next character: 0.01, constant": S(0.01)}
epochs, updates = np.arange(0, 101), np.arange(0, 100_001, 100)
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, group, t in ((axes[0], by_epoch, epochs), (axes[1], by_update, updates)):
    for label, sched in group.items():
        ax.plot(t, [sched(int(i)) for i in t], label=label)
    ax.set(yscale="log", ylabel="α_t (log scale)")
    ax.legend(fontsize=8)
axes[0].set(xlabel="t (epochs)", title="music data sets (supp. §3.2.1)")
axes[1].set(xlabel="t (updates)", title="language modelling (supp. §3.2.2)")
fig.tight_layout()
plt.show()
caption("6.3", "The weight α_t of Ω under the schedules of the supplement, as implemented by omega.AlphaSchedule.")

# %%
every = {**by_epoch, **by_update}
for label, sched in every.items():
    print(f"{label.strip():35s}: alpha_0 = {sched(0):.4g}, alpha_10 = {sched(10):.4g}, alpha_100 = {sched(100):.4g}, "
          f"alpha_10000 = {sched(10000):.4g}")
grid = [0, 1, 2, 5, 10, 11, 20, 100, 1000, 28108, 28109, 100_000]
check("6.7-non-increasing", "every schedule is non-increasing in t",
      all(all(s(a) >= s(b) for a, b in zip(grid, grid[1:])) for s in every.values()), source="Pascanu supp. §3.2",
      kind="identity", deviation="C7")
check("6.7-starts-at-alpha0", "every schedule starts at its alpha_0 and keeps it up to t0",
      all(s(t) == s.alpha0 for s in every.values() for t in range(s.t0 + 1)), source="Pascanu supp. §3.2",
      kind="identity", deviation="C7")

# %% [markdown]
# **Verdict.** The schedules decrease as the supplement describes. The printed $1/(2t)$ is read as
# $\alpha_0/t$ with $t$ the epoch counted from 1: for Piano-midi.de ($\alpha_0 = 0.5$) this is exactly the printed
# $\alpha_t = 1/(2t)$, and it keeps MuseData's initial value 0.1, which the literal formula would ignore
# ([Deviations](../deviations.md) C7). The book does not train on the
# natural tasks, so the schedules are shown, not tested.

# %% [markdown]
# ## 6.8 The previous solution: an L2 penalty on $W_{rec}$
#
# §3.1 recalls that an L1 or L2 penalty on the recurrent weights keeps $\rho(W_{rec}) < 1$ when the model starts
# small, so that gradients cannot explode, but "limits the model to a simple regime (with a single point attractor
# at the origin), where any information inserted in the model has to die out exponentially fast in time". We add
# the penalty $\frac{\lambda}{2}\lVert W_{rec}\rVert_F^2$ to MSGD-C on the temporal order task: after each clipped
# update of the engine (`Run(l2=λ)`), $W_{rec} \leftarrow W_{rec} - \mathrm{lr}\,\lambda\,W_{rec}$, i.e. $\lambda W_{rec}$ is added
# to the clipped gradient (the penalty's gradient is not clipped; Deviations R6). We record $\rho(W_{rec})$ every
# `l2_every` updates and test the runs at the end.

# %%
l2_runs = [Run(seed=s, lr=lr, threshold=threshold, l2=lam) for lam in l2_lambdas for s in range(n_l2_seeds)]
eng = Engine("temporal_order", l2_runs, init="smart_tanh", n_hidden=n_hidden, batch_size=batch_size, length=T_l2,
             dtype=getattr(torch, train_dtype), device=dev)
rho = lambda: [linear.spectral_radius(eng.params(i)["W_rec"].double()) for i in range(len(l2_runs))]  # noqa: E731
rho_t = [rho()]
for t in tqdm(range(1, l2_updates + 1), desc="L2 runs", mininterval=30):
    eng.step(omega_value=False)  # the clipped update, then the L2 penalty's step W_rec -= lr * lambda * W_rec (Run.l2)
    if t % l2_every == 0:
        rho_t.append(rho())
rho_t = np.array(rho_t)  # [measurements, runs]
l2_wrong = eng.evaluate(n_test).tolist()  # wrong test sequences of each run
l2_params = [eng.params(i) for i in range(len(l2_runs))]
for i, run_lam in enumerate(run.l2 for run in l2_runs):
    W = l2_params[i]["W_rec"].double()
    print(f"lambda = {run_lam:.2f}, seed {i % n_l2_seeds}: max rho(W_rec) during training = ≈{rho_t[:, i].max():.3f}, "
          f"final rho = ≈{rho_t[-1, i]:.3f}, ||W_rec||_2 = ≈{torch.linalg.matrix_norm(W, 2).item():.3f}, "
          f"test error = ≈{100 * l2_wrong[i] / n_test:.1f} %")

# %%
below = rho_t.max(0) < 1
solved = np.array([tasks.solved(w, n_test) for w in l2_wrong])
print(f"runs whose rho(W_rec) stayed < 1 throughout: {int(below.sum())} of {len(l2_runs)}; "
      f"runs that solved the task: {int(solved.sum())}")
check("6.8-below-failed", "every run that kept rho < 1 failed the task", bool(not (below & solved).any()),
      source="Pascanu §3.1", deviation="R6", ours=f"{int((below & solved).sum())} of {int(below.sum())} solved")
check("6.8-solved-above", "every run that solved the task has rho > 1", bool((rho_t[-1, solved] > 1).all()),
      source="Pascanu §4.3", deviation="R6",
      ours=f"final rho of the solved runs from {rho_t[-1, solved].min():.3f}" if solved.any() else "no run solved")
check("6.8-largest-lambda-below", "the largest lambda kept rho < 1 in every run", bool(below[-n_l2_seeds:].all()),
      source="Pascanu §3.1", deviation="R6")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 4))
lam_colors = dict(zip(l2_lambdas, ["tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:olive"]))
lam_handles = [plt.Line2D([], [], color=c, label=f"λ = {v:g}") for v, c in lam_colors.items()]
steps = np.arange(rho_t.shape[0]) * l2_every
for i in range(len(l2_runs)):
    ax.plot(steps, rho_t[:, i], color=lam_colors[l2_lambdas[i // n_l2_seeds]], ls="-" if solved[i] else "--")
ax.axhline(1, color="k", lw=1, ls=":")
ax.set(xlabel="update", ylabel="ρ(W_rec)", title="spectral radius during training (solid: solved, dashed: failed)")
ax.legend(handles=lam_handles)
plt.show()
caption("6.4", "ρ(W_rec) during MSGD-C training on the temporal order task with an L2 penalty λ‖W_rec‖²/2; "
        "solid lines: runs that solved the task at the end, dashed: runs that did not.",
        profile=profile, T=T_l2, N=n_hidden, runs_per_lambda=n_l2_seeds, updates=l2_updates, n_test=n_test, lr=lr, threshold=threshold)

# %% [markdown]
# **Verdict.** A strong enough penalty keeps $\rho(W_{rec})$ below 1 for the whole run, as §3.1 says, and those
# runs do not learn the task; the runs that learn it do so by taking $\rho(W_{rec})$ above 1 (a weak penalty does not
# prevent it). What §3.1 predicts about the regime $\rho < 1$ can be seen on the trained networks: we iterate the
# autonomous map $x \mapsto W_{rec}\tanh(x) + b$ (eq. 2 without input, the map $\tilde F$ of §2.5) from
# `n_starts` random initial states, and we measure how the input at step 1 still acts on the state at step $t$,
# $\lVert\partial x_t/\partial u_1\rVert_F = \lVert \frac{\partial x_t}{\partial x_1} W_{in}\rVert_F$ (eq. 5), on task sequences.

# %%
u_m, _ = tasks.temporal_order(n_grad_sequences, T_memory, gen, dtype=D)
x_start = 3 * randn(n_starts, n_hidden)  # initial states, most units saturated
attractors, influence = [], []
for i, p in enumerate(l2_params):
    P = Params(**{n: t.to(D) for n, t in p.items()}, sigma="tanh")
    net_i = P.rnn()
    free = net_i.unroll(torch.zeros(T_free + 1, n_starts, P.n_in, dtype=D), x_start)  # the autonomous map
    ends = free[-2]
    distinct = (torch.cdist(ends, ends) > 1e-6).float()
    n_distinct = len({tuple(row.tolist()) for row in distinct})  # end states grouped within 1e-6
    is_fixed = bool(((free[-1] - ends).norm(dim=-1) < 1e-8).all())  # F(x) = x at every end state
    attractors.append((n_distinct, is_fixed))
    xs_m = net_i.unroll(u_m, torch.zeros(n_grad_sequences, n_hidden, dtype=D))
    J = net_i.step_jacobians(xs_m)  # J[i-1] = dx_i/dx_(i-1)
    M, logs = P.W_in.expand(n_grad_sequences, -1, -1), []
    for t in range(1, T_memory + 1):  # M = dx_t/du_1 = dx_t/dx_1 W_in
        if t > 1:
            M = J[t - 1] @ M
        logs.append(M.norm(dim=(1, 2)).log10().mean().item())
    influence.append(np.array(logs))
    rate = (logs[-1] - logs[T_memory // 2]) / (T_memory - 1 - T_memory // 2)
    print(f"lambda = {l2_runs[i].l2:.2f}, seed {i % n_l2_seeds}, rho = ≈{rho_t[-1, i]:.3f}: distinct end states of the "
          f"autonomous map from {n_starts} starts: {n_distinct}, all fixed points: {is_fixed}; ||dx_t/du_1|| changes by ≈{rate:.4f} decades per step "
          f"over t = {T_memory // 2 + 1}..{T_memory}")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 4))
for i, curve in enumerate(influence):
    ax.plot(range(1, T_memory + 1), curve, color=lam_colors[l2_lambdas[i // n_l2_seeds]], ls="-" if solved[i] else "--")
ax.set(xlabel="step t", ylabel="log₁₀ ‖∂x_t/∂u_1‖ (mean over sequences)", title="influence of the first input on x_t")
ax.legend(handles=lam_handles)
plt.show()
caption("6.5", "How much the input at step 1 still moves the state at step t, for the networks of Figure 6.4 "
        "(solid: solved, dashed: failed), on temporal order sequences longer than the training ones.",
        profile=profile, T=T_memory, N=n_hidden, sequences=n_grad_sequences, runs=len(l2_runs))

# %%
fades = [influence[i][-1] < influence[i][0] - 6 for i in range(len(l2_runs))]
check("6.8-below-one-attractor", "runs with rho < 1 throughout: one fixed point reached from every start",
      all(attractors[i] == (1, True) for i in np.flatnonzero(below)), source="Pascanu §3.1", deviation="R7")
check("6.8-below-fades", f"runs with rho < 1 throughout: the first input's influence falls by more than 6 decades over "
      f"{T_memory} steps", all(fades[i] for i in np.flatnonzero(below)), source="Pascanu §3.1")
many_ends, solved_fades = (all(attractors[i][0] > 1 for i in np.flatnonzero(solved)),
                           any(fades[i] for i in np.flatnonzero(solved)))
line = f"solved runs: more than one end state: {many_ends}; influence falls by more than 6 decades: {solved_fades}"
check("6.8-solved-many-ends", "solved runs: more than one end state of the autonomous map", many_ends,
      source="Pascanu §4.3", line=line)
# the "rich regimes" of §2.5 and §4.3 keep the first input: the text states that it does not fade
check("6.8-solved-fades", "solved runs: the first input's influence falls by more than 6 decades in some run",
      solved_fades, source="Pascanu §4.3", verdict="reproduced", expected=False, line=line, show=False)

# %% [markdown]
# **Verdict.** Every network that the penalty kept at $\rho(W_{rec}) < 1$ has a single point attractor, reached from
# every start, and the first input's influence on the state dies out exponentially: such a network cannot carry
# the first symbol to the end of a long sequence, and none of them learned the task. The networks that learned it
# have $\rho > 1$; their autonomous map does not settle on one point (the printed lines say whether the end states
# are fixed points), and the first input's influence does not fade: the "rich regime" of §2.5, where gradients can
# explode and clipping is needed. The attractor is not at the origin, as §3.1 says, because the bias $b$ is trained
# ([Deviations](../deviations.md) R7). This is the paper's argument for clipping plus $\Omega$ rather than an L2 penalty.
