"""The typed settings of the experiments: every profile's file, every field checked, names kept."""

import dataclasses

import pytest
import yaml

from reprolib import experiments, profiles, settings


def test_profiles_share_the_keys_and_the_paper_profile_follows_the_supplement():
    ci, cpu, paper = (settings.load("fig7", p) for p in profiles.PROFILES)
    assert (ci.profile, cpu.profile, paper.profile) == profiles.PROFILES
    assert set(ci.to_dict()) == set(cpu.to_dict()) == set(paper.to_dict())
    assert paper.inits["smart_tanh"] == (16, 20, 50, 100, 150, 200, 250)  # supp. §3.1.1
    assert sum(map(len, paper.inits.values())) == 27
    assert (paper.n_hidden, paper.lr, paper.threshold, paper.alpha, paper.seeds, paper.max_updates) == \
        (50, 0.01, 1.0, 4.0, 5, 5_000_000)


def test_unknown_experiment_or_profile_is_refused():
    with pytest.raises(ValueError, match="profile"):
        settings.load("fig7", "gpu")
    with pytest.raises(ValueError, match="experiment"):
        settings.load("fig8", "ci")
    with pytest.raises(ValueError, match="has the profiles ci, paper"):  # a chapter has no cpu profile
        profiles.load("05_clipping", "cpu")


@pytest.mark.parametrize("change,error,match", [
    (lambda s: s.pop("lr"), ValueError, r"missing keys \['lr'\]"),
    (lambda s: s.update(learning_rate=0.1), ValueError, r"unknown keys \['learning_rate'\]"),
    (lambda s: s.update(clip=1.0), ValueError, r"unknown keys \['clip'\]"),  # the threshold has one name
    (lambda s: s.update(seeds=0), ValueError, "seeds must be >= 1"),
    (lambda s: s.update(seeds="5"), TypeError, "seeds must be an int"),
    (lambda s: s.update(test_every=0), ValueError, "test_every must be >= 1"),
    (lambda s: s.update(threshold=-1.0), ValueError, "threshold must be a finite number > 0"),
    (lambda s: s.update(methods=["MSGD", "Adam"]), ValueError, "methods entries must be one of"),
    (lambda s: s.update(inits={"orthogonal": [10]}), ValueError, "inits names must be one of"),
    (lambda s: s.update(inits={"sigmoid": [5]}), ValueError, r"inits\['sigmoid'\] entries must be >= 10"),
    (lambda s: s.update(criterion="strict"), ValueError, "criterion must be one of"),
    (lambda s: s.update(device="gpu0"), ValueError, "device"),
    (lambda s: s.update(method_max_updates={"Adam": 10}), ValueError, "method_max_updates names must be one of"),
    (lambda s: s.update(method_max_updates={"MSGD-CR": 0}), ValueError, r"method_max_updates\['MSGD-CR'\] must be >= 1"),
])
def test_a_bad_fig7_setting_is_named_with_its_file(tmp_path, monkeypatch, change, error, match):
    data = yaml.safe_load((profiles.ROOT / "params" / "ci" / "fig7.yaml").read_text())
    change(data)
    (tmp_path / "params" / "ci").mkdir(parents=True)
    (tmp_path / "params" / "ci" / "fig7.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setattr(profiles, "ROOT", tmp_path)
    with pytest.raises(error, match=match) as info:
        settings.load("fig7", "ci")
    assert "params/ci/fig7.yaml" in str(info.value)
    with pytest.raises(error, match=match):  # settings built in code are checked the same way
        settings.from_dict("fig7", {"profile": "ci", **data})


def test_settings_changed_in_code_are_checked_again():
    s = settings.load("fig7", "ci")
    assert dataclasses.replace(s, seeds=1).seeds == 1
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        dataclasses.replace(s, seeds=0)
    with pytest.raises(TypeError, match="settings"):
        experiments.fig7(s.to_dict(), progress=False)  # plain dicts are not settings


def test_a_bad_tables_model_is_named():
    s = settings.load("tables", "ci")
    first, last = s.models[0].__dict__, s.models[-1].__dict__
    for model, match in (({**first, "momentum": 0.9}, r"models\[0\]: unknown keys \['momentum'\]"),
                         ({**first, "task": "parity"}, r"models\[0\]: task must be one of"),
                         ({**first, "train": [15, 10]}, r"models\[0\]: train \(temporal_order\) must be a length"),
                         ({**first, "test": [5]}, r"models\[0\]: test \(temporal_order\) entries must be >= 10"),
                         ({**first, "test": []}, r"models\[0\]: test \(temporal_order\) must be a non-empty list")):
        with pytest.raises(ValueError, match=match):
            dataclasses.replace(s, models=[model])
    dataclasses.replace(s, models=[{**last, "test": [5]}])  # memorization: T >= 1


def test_tables_profiles_follow_the_supplement():
    paper = settings.load("tables", "paper")
    by_task = {}
    for m in paper.models:
        by_task.setdefault(m.task, []).append(m)
    assert set(by_task) == set(experiments.PAPER_TABLES)
    add = by_task["addition"][0]  # supp. §3.1.2
    assert (add.init, add.n_hidden, add.lr, add.alpha, add.train) == ("basic_tanh", 50, 0.01, 0.5, (50, 200))
    perm = by_task["random_permutation"][0]  # supp. §3.1.5
    assert (perm.n_hidden, perm.lr, perm.alpha, perm.threshold) == (100, 0.001, 1.0, 6.0)
    # Table 5: one model per length, original and extended task; the paper's test lengths are its tables' columns
    assert [m.train for m in by_task["memorization_extended"]] == [50, 100, 150, 200]
    for task, ms in by_task.items():
        assert sorted(T for m in ms for T in m.test) == sorted(experiments.PAPER_TABLES[task])
    keys = ("init", "n_hidden", "lr", "threshold", "alpha", "criterion")
    for profile in ("ci", "cpu"):
        s = settings.load("tables", profile)
        assert {m.task for m in s.models} == set(by_task)
        for m in s.models:  # hyper-parameters as in the paper; only lengths shrink
            ref = by_task[m.task][0]
            assert {k: getattr(m, k) for k in keys} == {k: getattr(ref, k) for k in keys}


@pytest.mark.parametrize("experiment", sorted(settings.EXPERIMENTS))
@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_settings_round_trip_through_the_plain_data_of_a_results_file(experiment, profile):
    s = settings.load(experiment, profile)
    assert settings.from_dict(experiment, s.to_dict()) == s
    assert settings.recorded(experiment, {"profile": profile, "settings": s.to_dict()}) == s


def test_a_results_file_written_with_the_old_names_is_read_with_todays():
    """Before the settings were typed, a results file named the threshold ``clip``, had one ``check_every``
    for the three cadences, and kept the profile outside the settings."""
    s = settings.load("tables", "cpu")
    old = {k: v for k, v in s.to_dict().items() if k not in ("profile", "test_every", "log_every", "checkpoint_every")}
    old["check_every"] = 1000
    old["models"] = [{("clip" if k == "threshold" else k): v for k, v in m.items()} for m in old["models"]]
    assert settings.recorded("tables", {"profile": "cpu", "settings": old}) == s
    old["check_every"] = 500
    assert settings.recorded("tables", {"profile": "cpu", "settings": old}).checkpoint_every == 500
