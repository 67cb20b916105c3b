"""The batched engine against the readable reference: reprolib.rnn + omega + clipping with autograd."""

import math

import pytest
import torch

from reprolib import engine, omega, reference, tasks
from reprolib import initializations
from reprolib.engine import Engine, Run

D = torch.float64
X0 = {"tanh": 0.0, "sigmoid": -1e4}  # pre-activations with σ(x_0) = h_0 = 0 (exactly, in float64)


def reference_update(task, run, init_name, N, B, length, omega_form="x", omega_norms="squared", t=0, params=None, gen=None):
    """One update of one run by the readable route (reprolib.reference), from the run's initialization
    (its own generator) or from ``params``. Returns (new params, loss, Ω, norm, generator)."""
    task = tasks.get_task(task)
    if gen is None:
        gen = torch.Generator().manual_seed(run.seed)
        params = initializations.initialize(init_name, task.n_in, N, task.n_out, gen, dtype=D).as_dict()
    sigma = "sigmoid" if init_name == "sigmoid" else "tanh"
    u, y = task.generate(B, length, gen, dtype=D)
    new, loss, Om, norm = reference.update(task, run, params, sigma, u, y, torch.full((N,), X0[sigma], dtype=D), t,
                                           omega_form, omega_norms)
    return new, loss, Om, norm, gen


def engine_params(eng, i):
    return eng.params(i)


RUNS = [
    Run(seed=1, lr=0.5, threshold=None),
    Run(seed=2, lr=0.3, threshold=0.01),
    Run(seed=3, lr=0.2, threshold=1e-3, clip_kind="elementwise"),
    Run(seed=4, lr=0.1, threshold=0.05, alpha=2.0),
    Run(seed=5, lr=0.1, threshold=None, alpha=omega.AlphaSchedule(3.0, "1/t")),
    Run(seed=6, lr=0.1, threshold=0.05, l2=0.5),
]


@pytest.mark.parametrize("task,init_name,form,norms", [
    ("temporal_order", "smart_tanh", "x", "squared"),
    ("temporal_order", "sigmoid", "h", "squared"),
    ("addition", "basic_tanh", "x", "plain"),
    ("multiplication", "sigmoid", "x", "squared"),
    ("memorization", "basic_tanh", "h", "plain"),
    ("random_permutation", "smart_tanh", "h", "squared"),
    ("temporal_order_3bit", "basic_tanh", "x", "squared"),
])
def test_every_run_equals_the_autograd_reference(task, init_name, form, norms):
    """Three updates of five runs with different settings and lengths (padding), float64."""
    N, B, length = 16, 5, (12, 24)
    eng = Engine(task, RUNS, init=init_name, n_hidden=N, batch_size=B, length=length, omega_form=form,
                 omega_norms=norms, dtype=D, device="cpu")
    refs = [None] * len(RUNS)
    for t in range(3):
        step = eng.step()
        for i, run in enumerate(RUNS):
            params, gen = (None, None) if refs[i] is None else refs[i]
            new, loss, Om, norm, gen = reference_update(task, run, init_name, N, B, length, form, norms, t, params, gen)
            refs[i] = (new, gen)
            assert math.isclose(step.loss[i].item(), loss.item(), rel_tol=1e-10)
            assert math.isclose(step.omega[i].item(), Om.item(), rel_tol=1e-9, abs_tol=1e-14)
            assert math.isclose(step.norm[i].item(), norm.item(), rel_tol=1e-9)
            for n in engine.NAMES:
                got, want = engine_params(eng, i)[n], new[n]
                assert ((got - want).norm() / want.norm()).item() < 1e-9, (t, i, n)


def test_omega_is_used_and_clipping_happens():
    """The test above must exercise Ω and clipping: check it is not vacuous."""
    eng = Engine("temporal_order", RUNS, init="smart_tanh", n_hidden=16, batch_size=5, length=(12, 24), dtype=D, device="cpu")
    step = eng.step()
    assert (step.omega > 0).all()
    assert step.clipped[1] and step.clipped[2] and not step.clipped[0]


def test_fallback_on_overflow():
    """float32 overflow of a huge W_rec: the update is W_rec ← W_rec − lr·0.02·W_rec, others unchanged."""
    run = Run(seed=0, lr=0.5, threshold=1.0)
    eng = Engine("addition", [run], init="basic_tanh", n_hidden=8, batch_size=4, length=20, device="cpu")
    p = eng.params(0)
    eng.set_params(0, W_rec=p["W_rec"] * 1e30, W_out=p["W_out"] * 1e30)
    before = eng.params(0)
    step = eng.step()
    after = eng.params(0)
    assert step.fallback[0] and not step.clipped[0]
    torch.testing.assert_close(after["W_rec"], before["W_rec"] * (1 - 0.5 * 0.02))
    for n in ("W_in", "b", "W_out", "b_out"):
        assert torch.equal(after[n], before[n])


def test_a_run_alone_follows_the_same_trajectory():
    runs = [Run(seed=s, lr=0.05, threshold=1.0, alpha=1.0 if s % 2 else 0.0) for s in range(4)]
    kw = dict(init="smart_tanh", n_hidden=16, batch_size=4, length=(15, 40), dtype=D, device="cpu")
    together = Engine("temporal_order", runs, **kw).train(30, test_every=10, n_test=50, log_every=10, progress=False)
    alone = Engine("temporal_order", runs[2:3], **kw).train(30, test_every=10, n_test=50, log_every=10, progress=False)
    for n in engine.NAMES:
        torch.testing.assert_close(together.params[2][n], alone.params[0][n], rtol=1e-12, atol=1e-14)
    assert together.evals["error"][2::4] == alone.evals["error"]


def test_checkpoint_resumes_exactly(tmp_path, monkeypatch):
    runs = [Run(seed=s, lr=0.05, threshold=1.0, alpha=0.5) for s in range(3)]
    kw = dict(init="basic_tanh", n_hidden=12, batch_size=4, length=(10, 20), dtype=D, device="cpu")
    train = dict(test_every=7, n_test=40, log_every=3, progress=False)
    full = Engine("temporal_order", runs, **kw).train(25, **train)

    path = tmp_path / "ckpt.pt"
    killed = Engine("temporal_order", runs, **kw)
    real_step = killed.step

    def step_then_die(**kw):
        if killed.updates == 17:  # after the checkpoint at update 15 and two more updates
            raise KeyboardInterrupt("simulated kill")
        return real_step(**kw)

    monkeypatch.setattr(killed, "step", step_then_die)
    with pytest.raises(KeyboardInterrupt):
        killed.train(25, checkpoint=path, checkpoint_every=5, **train)
    resumed = Engine("temporal_order", runs, **kw).train(25, checkpoint=path, checkpoint_every=5, **train)
    assert resumed.updates == 25
    for r in range(3):
        for n in engine.NAMES:
            assert torch.equal(full.params[r][n], resumed.params[r][n])
    assert full.log == resumed.log and full.evals == resumed.evals
    # the sessions say which updates each invocation did
    assert [(x["from"], x["to"]) for x in resumed.sessions] == [(0, 15), (15, 25)]


def test_a_larger_max_updates_continues_the_unsolved_runs(tmp_path):
    """train(130) then train(300) from its checkpoint (or in the same engine) equals train(300) at once
    (130 is a test point of both): run 2, solved at 110, stays stopped; run 0 goes on and is solved
    later; run 1 is never solved. Before, the second train() returned 130 updates."""
    runs = [Run(seed=0, lr=1.0, threshold=1.0), Run(seed=1, lr=0.05, threshold=1.0), Run(seed=2, lr=0.05, threshold=1.0, alpha=0.5)]
    kw = dict(init="basic_tanh", n_hidden=20, batch_size=20, length=10, dtype=D, device="cpu")
    train = dict(test_every=10, n_test=200, log_every=1, progress=False)
    full = Engine("temporal_order", runs, **kw).train(300, **train)
    assert full.solved_at[2] < 130 < full.solved_at[0] and full.solved_at[1] is None

    path = tmp_path / "ckpt.pt"
    first = Engine("temporal_order", runs, **kw).train(130, checkpoint=path, **train)
    assert first.updates == 130 and first.solved_at[0] is None
    resumed = Engine("temporal_order", runs, **kw).train(300, checkpoint=path, **train)
    same = Engine("temporal_order", runs, **kw)
    same.train(130, **train)
    continued = same.train(300, **train)
    for res in (resumed, continued):
        assert res.updates == 300 and res.solved_at == full.solved_at
        for r in range(3):
            for n in engine.NAMES:
                assert torch.equal(full.params[r][n], res.params[r][n])
        assert full.log == res.log and full.evals == res.evals
    assert [(x["from"], x["to"]) for x in resumed.sessions] == [(0, 130), (130, 300)]


def test_a_run_stops_when_solved():
    """With a trivially short sequence and a high learning rate, temporal order is learnt; the solved
    run's parameters stop changing and the others go on."""
    runs = [Run(seed=0, lr=1.0, threshold=1.0), Run(seed=1, lr=1e-6, threshold=1.0)]
    eng = Engine("temporal_order", runs, init="basic_tanh", n_hidden=20, batch_size=20, length=10, device="cpu")
    res = eng.train(500, test_every=50, n_test=1000, progress=False)
    assert res.solved_at[0] is not None and res.solved_at[0] < 500 and res.solved_at[1] is None
    assert res.error[0] < 0.01 and res.error[1] > 0.5
    assert res.updates == 500
    last = max(i for i, r in enumerate(res.log["run"]) if r == 0)
    assert res.log["update"][last] <= res.solved_at[0]  # no row for run 0 after it stopped


def test_float32_default_and_bad_arguments():
    eng = Engine("temporal_order", [Run(seed=0)], n_hidden=15, length=20, device="cpu")
    assert eng.params(0)["W_rec"].dtype == torch.float32
    with pytest.raises(ValueError, match="clip_kind"):
        Run(seed=0, clip_kind="value")
    with pytest.raises(ValueError, match="lr"):
        Run(seed=0, lr=0.0)
    with pytest.raises(ValueError, match="init"):
        Engine("temporal_order", [Run(seed=0)], init="orthogonal")
    with pytest.raises(TypeError, match="runs"):
        Engine("temporal_order", [0])
    with pytest.raises(ValueError, match="task"):
        Engine("parity", [Run(seed=0)])
    with pytest.raises(ValueError, match="length"):
        Engine("temporal_order", [Run(seed=0)], length=3)
    with pytest.raises(ValueError, match="max_updates"):
        eng.train(-1)
    with pytest.raises(ValueError, match="criterion"):
        eng.train(1, criterion="strict")


def test_paper_sizes_run_one_update_on_the_cpu():
    """Paper profile smoke test: 50 units, T = 200, batch 20, one update."""
    eng = Engine("temporal_order", [Run(seed=0, threshold=1.0, alpha=2.0)], init="smart_tanh", n_hidden=50,
                 batch_size=20, length=200, device="cpu")
    step = eng.step()
    assert torch.isfinite(step.loss).all() and step.loss.item() == pytest.approx(math.log(4), rel=0.1)


@pytest.mark.parametrize("task,init_name,T", [("temporal_order", "smart_tanh", 25), ("temporal_order", "basic_tanh", 26),
                                              ("addition", "basic_tanh", 25), ("memorization", "sigmoid", 25)])
def test_trained_networks_tested_at_another_length_equal_the_readable_route(task, init_name, T):
    """load_params + evaluate(length=T) count the same wrong sequences as reprolib.rnn + tasks.wrong
    on the same test sequences (the engine's test generators, replayed)."""
    runs = [Run(seed=3, lr=0.1, threshold=1.0), Run(seed=4, lr=0.1, threshold=1.0, alpha=1.0)]
    make = lambda: Engine(task, runs, init=init_name, n_hidden=16, batch_size=10, length=(10, 14), device="cpu",  # noqa: E731
                          dtype=D)
    res = make().train(30, test_every=30, n_test=100, progress=False)
    tester = make()
    tester.load_params(res.params)
    states = [tester.generator(r, "test").get_state() for r in range(len(runs))]
    wrong = tester.evaluate(1500, length=T)  # two chunks: 1000 + 500
    t = tasks.get_task(task)
    for r, p in enumerate(res.params):
        gen, expected = torch.Generator(), 0
        gen.set_state(states[r])
        sigma = "sigmoid" if init_name == "sigmoid" else "tanh"
        rnn = initializations.Params(*(p[n] for n in engine.NAMES), sigma).rnn()
        for n in (1000, 500):
            u, y = t.generate(n, T, gen, dtype=D)
            hs = (torch.sigmoid if sigma == "sigmoid" else torch.tanh)(rnn.unroll(u, torch.full((16,), X0[sigma], dtype=D)))
            out = (hs[1:] if t.head == "every_softmax" else hs[-1]) @ p["W_out"].T + p["b_out"]
            expected += int(tasks.wrong(t, out[..., 0] if t.head == "last_linear" else out, y).sum())
        assert wrong[r].item() == expected
    if t.head != "every_softmax":  # (30 updates leave every memorization sequence wrong)
        assert 0 < wrong.sum() < 3000  # neither all right nor all wrong: the counts are informative
    with pytest.raises(ValueError, match="params"):
        tester.load_params(res.params[:1])
    with pytest.raises(ValueError, match="W_rec"):
        tester.load_params([{**p, "W_rec": p["W_rec"][:2]} for p in res.params])
    with pytest.raises(ValueError, match="length"):
        tester.evaluate(10, length=0)


def test_choices_record_every_variant_that_changes_the_numbers():
    eng = Engine("temporal_order", [Run(seed=0, lr=0.01)], init="smart_tanh", length=10, omega_form="h",
                 task_options={"variant": "code"}, init_options={"variant": "code"}, dtype=torch.float64)
    c = eng.choices()
    assert (c["task_variant"], c["init_variant"], c["omega_form"], c["dtype"]) == ("code", "code", "h", "float64")
    assert "last step" in c["loss"] and c["omega_norms"] == "squared"
    c = Engine("memorization_extended", [Run(seed=0, lr=0.01)], init="basic_tanh", length=5).choices()
    assert c["task_variant"] == "paper" and c["task_options"] == {"n_values": 5, "n_pos": 10} and c["omega_form"] == "x"
    assert "every step" in c["loss"]


def _small_engine(**over):
    kw = dict(init="basic_tanh", n_hidden=12, batch_size=4, length=10, dtype=D, device="cpu") | over
    return Engine("temporal_order", [Run(seed=s, lr=0.05) for s in range(2)], **kw)


TRAIN = dict(test_every=5, n_test=20, log_every=5, checkpoint_every=5, progress=False)


def test_a_planted_pickle_is_never_executed(tmp_path):
    import pickle

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "ckpt.pt"
    path.write_bytes(pickle.dumps({"P": Payload()}))
    with pytest.raises(ValueError, match="cannot be read"):
        _small_engine().train(5, checkpoint=path, **TRAIN)
    assert not marker.exists()
    torch.save({"format": engine.CHECKPOINT_FORMAT, "payload": Payload(), "sha256": ""}, path)  # inside torch's zip
    with pytest.raises(ValueError, match=str(path)):
        _small_engine().train(5, checkpoint=path, **TRAIN)
    assert not marker.exists()


def test_a_damaged_checkpoint_is_named_and_not_loaded(tmp_path):
    path = tmp_path / "ckpt.pt"
    _small_engine().train(5, checkpoint=path, **TRAIN)
    data = bytearray(path.read_bytes())
    box = torch.load(path, weights_only=True)
    payload = box["payload"].numpy().tobytes()
    at = data.find(payload[len(payload) // 2: len(payload) // 2 + 16])  # a byte inside the saved state
    assert at > 0
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"checkpoint {path} (is damaged|cannot be read)"):
        _small_engine().train(10, checkpoint=path, **TRAIN)
    path.write_bytes(b"\x00" * 10)  # truncated
    with pytest.raises(ValueError, match="delete .* to start the run again"):
        _small_engine().train(10, checkpoint=path, **TRAIN)


def test_resuming_into_another_engine_or_other_code_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    _small_engine().train(5, checkpoint=path, **TRAIN)
    with pytest.raises(ValueError, match="another engine.*n_hidden"):
        _small_engine(n_hidden=16).train(10, checkpoint=path, **TRAIN)
    with pytest.raises(ValueError, match="another engine.*length"):
        _small_engine(length=12).train(10, checkpoint=path, **TRAIN)
    other = Engine("temporal_order", [Run(seed=s, lr=0.01) for s in range(2)], init="basic_tanh", n_hidden=12,
                   batch_size=4, length=10, dtype=D, device="cpu")
    with pytest.raises(ValueError, match="another engine.*runs"):
        other.train(10, checkpoint=path, **TRAIN)
    monkeypatch.setattr(engine, "CODE_HASH", "0" * 16)
    with pytest.raises(ValueError, match="other code"):
        _small_engine().train(10, checkpoint=path, **TRAIN)


def test_test_sequences_come_from_a_stream_of_their_own():
    """A run's test generator is seeded with seed + 2**31, which torch's CPU generator (it keeps the
    low 32 bits of a seed) does not confuse with the training stream; seeds that would alias are refused."""
    assert torch.equal(torch.rand(3, generator=torch.Generator().manual_seed(2**40 + 1)),
                       torch.rand(3, generator=torch.Generator().manual_seed(1)))  # why 2**40 was no offset
    eng = Engine("temporal_order", [Run(seed=1), Run(seed=2**31 - 1)], n_hidden=15, length=10, device="cpu")
    for r, run in enumerate(eng.runs):
        test = torch.rand(64, generator=eng.generator(r, "test"))
        assert torch.equal(test, torch.rand(64, generator=torch.Generator().manual_seed(run.seed + 2**31)))
        assert not torch.equal(test, torch.rand(64, generator=torch.Generator().manual_seed(run.seed)))
    first = [torch.rand(64, generator=eng.generator(r, "test")) for r in range(2)]
    assert not torch.equal(*first)
    for seed in (2**31, 2**32, 2**40 + 1):
        with pytest.raises(ValueError, match="seed"):
            Run(seed=seed)


def test_a_long_test_keeps_only_the_states_it_needs():
    """Testing 1,000 sequences of T = 5000 with N = 50 would hold 1 GB of states [R, T+1, B, N];
    the last-step heads need only the last state. Measured in a fresh process as the growth of its
    peak resident memory (the inputs themselves take about 330 MB)."""
    import subprocess
    import sys
    code = ("import resource, torch; from reprolib.engine import Engine, Run\n"
            "eng = Engine('temporal_order', [Run(seed=0)], n_hidden=50, length=20, device='cpu')\n"
            "eng.evaluate(100)\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "eng.evaluate(1000, length=5000)\n"
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)")
    grew_mb = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert grew_mb < 600, grew_mb


def test_sample_gradients_is_the_gradient_of_the_next_update():
    """With threshold=None and plain SGD, the engine's next update is θ − lr·g; sample_gradients on a
    copy of the run's generator must return that g (float64, with Ω in the W_rec gradient)."""
    lr = 0.5
    eng = Engine("temporal_order", [Run(seed=3, lr=lr, threshold=None, alpha=2.0)], n_hidden=16, batch_size=4,
                 length=(12, 30), dtype=D, device="cpu")
    (g,) = eng.sample_gradients(1, eng.generator(0))
    before = eng.params(0)
    eng.step()
    for n, t in eng.params(0).items():
        torch.testing.assert_close((before[n] - t) / lr, g[n], rtol=1e-9, atol=1e-12)


def test_sample_gradients_against_autograd(gen):
    """α = 0: each sampled gradient is the autograd gradient of the cross-entropy of eq. (2)
    unrolled by reprolib.rnn from x_0 = 0 (h_0 = tanh(0) = 0) on the same minibatch."""
    eng = Engine("temporal_order", [Run(seed=1), Run(seed=2)], n_hidden=16, batch_size=3, length=(12, 30),
                 dtype=D, device="cpu")
    copy = torch.Generator().manual_seed(0)
    copy.set_state(gen.get_state())
    grads = eng.sample_gradients(3, gen, run=1)
    task = tasks.get_task("temporal_order")
    for g in grads:
        u, y = task.generate(3, (12, 30), copy, dtype=D)
        P = {n: t.requires_grad_(True) for n, t in eng.params(1).items()}
        rnn = initializations.Params(P["W_rec"], P["W_in"], P["b"], P["W_out"], P["b_out"], "tanh").rnn()
        hT = torch.tanh(rnn.unroll(u, torch.zeros(16, dtype=D))[-1])
        loss = torch.nn.functional.cross_entropy(hT @ P["W_out"].T + P["b_out"], y)
        for n, ref in zip(P, torch.autograd.grad(loss, list(P.values()))):
            torch.testing.assert_close(g[n], ref, rtol=1e-10, atol=1e-13)


def test_the_public_surface_refuses_bad_arguments(gen):
    eng = Engine("temporal_order", [Run(seed=1)], n_hidden=16, batch_size=2, length=12, device="cpu")
    with pytest.raises(ValueError, match="n_batches"):
        eng.sample_gradients(0, gen)
    with pytest.raises(TypeError, match="generator"):
        eng.sample_gradients(1, None)
    with pytest.raises(ValueError, match="run"):
        eng.sample_gradients(1, gen, run=5)
    with pytest.raises(ValueError, match="run"):
        eng.params(1)
    with pytest.raises(ValueError, match="W_rec must have shape"):
        eng.set_params(0, W_rec=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="parameter names"):
        eng.set_params(0, W=torch.zeros(16, 16))
    with pytest.raises(ValueError, match="stream"):
        eng.generator(0, "valid")
    with pytest.raises(ValueError, match="l2"):
        Run(seed=0, l2=-0.1)
    with pytest.raises(TypeError, match="on_update"):
        eng.train(1, on_update=3)


def test_params_of_a_stopped_run_are_its_final_ones_and_set_params_changes_only_that_run():
    runs = [Run(seed=0, lr=0.1), Run(seed=1, lr=0.1)]
    eng = Engine("temporal_order", runs, n_hidden=15, batch_size=4, length=10, dtype=D, device="cpu")
    other = eng.params(1)
    eng.set_params(0, W_rec=torch.zeros(15, 15))
    assert torch.equal(eng.params(0)["W_rec"], torch.zeros(15, 15, dtype=D))
    assert all(torch.equal(eng.params(1)[n], other[n]) for n in other)
    res = eng.train(3, test_every=3, n_test=20, progress=False)
    assert eng.active == [] and all(torch.equal(eng.params(r)[n], res.params[r][n]) for r in range(2) for n in other)
    # a copy of the generator does not advance the run's own
    drawn = torch.rand(10, generator=eng.generator(0))
    assert torch.equal(drawn, torch.rand(10, generator=eng.generator(0)))


def test_the_l2_penalty_is_a_decay_of_w_rec_after_the_clipped_update():
    """Run(l2=λ): each update is the clipped update of the same run without the penalty, then
    W_rec ← W_rec − lr·λ·W_rec (the route Chapter 6 took by hand); λ = 0 leaves a run as it was."""
    kw = dict(init="smart_tanh", n_hidden=15, batch_size=5, length=12, dtype=D, device="cpu")
    lr, lam = 0.1, 0.05
    with_l2 = Engine("temporal_order", [Run(seed=4, lr=lr, threshold=1.0, l2=lam), Run(seed=5, lr=lr, threshold=1.0)], **kw)
    plain = Engine("temporal_order", [Run(seed=4, lr=lr, threshold=1.0), Run(seed=5, lr=lr, threshold=1.0)], **kw)
    for _ in range(5):
        with_l2.step()
        plain.step()
        p = plain.params(0)
        plain.set_params(0, W_rec=p["W_rec"] - lr * lam * p["W_rec"])
        for r in range(2):
            for n, t in plain.params(r).items():
                torch.testing.assert_close(with_l2.params(r)[n], t, rtol=1e-13, atol=0)


def test_on_update_sees_every_updates_raw_norm_and_omega():
    """The hook receives each update's Step: its norms (before clipping) and Ω equal the log's rows
    at log_every=1, and it is called once per update."""
    runs = [Run(seed=0, lr=0.05, threshold=0.1, alpha=1.0), Run(seed=1, lr=0.05, threshold=None)]
    kw = dict(n_hidden=15, batch_size=4, length=10, dtype=D, device="cpu")
    seen = []
    hook = lambda eng, step: seen.append((eng.updates, step.norm.tolist(), step.omega.tolist()))  # noqa: E731
    res = Engine("temporal_order", runs, **kw).train(6, test_every=6, n_test=20, log_every=1, progress=False,
                                                     on_update=hook)
    assert [u for u, _, _ in seen] == list(range(1, 7))
    assert [x for _, norms, _ in seen for x in norms] == res.log["norm"]
    assert [x for _, _, om in seen for x in om] == res.log["omega"]
    assert max(x for _, norms, _ in seen for x in norms) > 0.1  # the norms are the raw ones: above the clip
