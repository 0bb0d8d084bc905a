"""bench.run / bench.audit_model / bench.Results: the Python API over the runner and the run folder."""

import gc
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from torch import nn

import bench
from bench import Recipe, track_from_arrays

RECIPE = Recipe("mlp-16-32", epochs=8, batch_size=32, lr=0.1)


def small_track(name="api-blobs"):
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=300, n_features=16, n_informative=8, n_classes=4, random_state=1)
    return track_from_arrays(name, x, y, lambda: nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)), RECIPE)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("api-run")
    return bench.run([small_track()], ["loss", "lira"], defenses=["none", "l2"], out_dir=out, progress=False, scenarios=False,
                     params={"lira": {"n_queries": 1}})  # tabular rows: no query augmentation to average over


@pytest.mark.slow
def test_run_gives_one_row_per_cell_with_metrics_intervals_and_utility(results):
    df = results.to_pandas()
    assert len(df) == 4 == len(results)
    assert sorted(zip(df.defense, df.attack)) == [("l2", "lira"), ("l2", "loss"), ("none", "lira"), ("none", "loss")]
    assert (df.status == "ok").all(), df.error.tolist()
    for col in ("track", "seed", "budget", "auc", "auc_low", "auc_high", "tpr@1%fpr", "tpr@1%fpr_low", "test_accuracy", "run_id"):
        assert col in df.columns, col
    assert ((df.auc_low <= df.auc) & (df.auc <= df.auc_high)).all()
    assert df.test_accuracy.between(0.3, 1.0).all()


@pytest.mark.slow
def test_scores_and_roc_come_from_the_run_folder(results):
    s = results.scores(attack="lira", defense="none")
    assert s.scores.shape == s.is_member.shape == s.candidate_units.shape and s.is_member.dtype == bool
    assert "memorization" in s.extras  # online LiRA's export
    row = results.to_pandas().query("attack == 'lira' and defense == 'none'").iloc[0]
    roc = results.roc(row)  # a to_pandas() row picks its cell
    assert roc.fpr[0] == 0 and roc.fpr[-1] == 1 and np.all(np.diff(roc.fpr) >= 0)
    assert roc.tpr_at(0.01) == pytest.approx(row["tpr@1%fpr"])
    with pytest.raises(LookupError, match="2 cells match attack='lira'"):
        results.scores(attack="lira")
    with pytest.raises(TypeError, match="unknown field"):
        results.record(atack="lira")


@pytest.mark.slow
def test_load_reads_the_same_run_back_and_a_rerun_resumes(results):
    again = bench.Results.load(results.run_dir)
    assert sorted(r.run_id for r in again) == sorted(r.run_id for r in results)
    resumed = bench.run([small_track()], ["loss"], out_dir=results.run_dir, progress=False, scenarios=False)
    assert [r.run_id for r in resumed] == [results.record(attack="loss", defense="none").run_id]
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        bench.Results.load(results.run_dir / "scores")


def test_unknown_names_options_and_params_fail_before_anything_trains(tmp_path):
    with pytest.raises(bench.PluginError, match="unknown attack 'lirra'"):
        bench.run("synthetic-blobs", ["lirra"], out_dir=tmp_path, progress=False)
    with pytest.raises(TypeError, match="unknown run option.*scenarioz"):
        bench.run("synthetic-blobs", ["loss"], out_dir=tmp_path, scenarioz=False)
    with pytest.raises(ValueError, match="no parameter"):
        bench.run("synthetic-blobs", ["loss"], out_dir=tmp_path, params={"loss": {"nope": 1}}, progress=False)
    with pytest.raises(ValueError, match="params for 'lira', which is not in this run"):
        bench.run("synthetic-blobs", ["loss"], out_dir=tmp_path, params={"lira": {}}, progress=False)
    with pytest.raises(ValueError, match="no budget tier 'huge'"):
        bench.run("synthetic-blobs", ["loss"], out_dir=tmp_path, budget="huge", progress=False)
    assert not (tmp_path / "results.jsonl").exists()


@pytest.mark.slow
def test_without_out_dir_the_run_folder_lives_as_long_as_the_results():
    res = bench.run("synthetic-blobs", "loss", progress=False, scenarios=False)
    folder = res.run_dir
    assert (folder / "results.jsonl").is_file() and len(res.to_pandas()) == 1
    del res
    gc.collect()
    assert not folder.exists()


def test_import_bench_stays_cheap_and_the_api_loads_on_use():
    code = ("import sys, bench; heavy = [m for m in ('torch', 'bench._runner', 'bench.api', 'pandas') if m in sys.modules]; "
            "assert not heavy, heavy; assert callable(bench.run) and 'bench.api' in sys.modules and 'torch' not in sys.modules; "
            "assert set(bench.__all__) >= {'run', 'audit_model', 'Results', 'ArrayTrack', 'track_from_arrays', 'track_from_hf'}")
    subprocess.run([sys.executable, "-c", code], check=True)


def own_training_script(x, y, train_indices, epochs=80, seed=0):
    """A user's own plain torch loop (not the harness's): full-batch-ish SGD on their rows."""
    import torch

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    xt, yt = torch.as_tensor(x[train_indices]), torch.as_tensor(y[train_indices])
    for _ in range(epochs):
        for i in torch.randperm(len(xt)).split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[i]), yt[i]).backward()
            opt.step()
    return model.eval()


@pytest.mark.slow
def test_audit_a_model_trained_by_your_own_script(tmp_path):
    """Acceptance 2: own arrays, own loop, training indices to the harness only; LiRA and loss results come back."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = (d.images / 16.0).astype(np.float32)[:, None], d.target.astype(np.int64)
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(x))[:900]
    x, y = x[rows], y[rows]
    train = np.sort(rng.choice(len(x), 300, replace=False))
    model = own_training_script(x, y, train)
    recipe = Recipe("user-mlp", epochs=80, batch_size=32, lr=0.05, momentum=0.9, schedule="constant")
    res = bench.audit_model(model, x, y, train, recipe=recipe, module_factory=lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)),
                            attacks=["lira", "loss"], augmentations=("shift",), out_dir=tmp_path / "audit", progress=False, scenarios=False)
    df = res.to_pandas()
    assert sorted(df.attack) == ["lira", "loss"] and (df.status == "ok").all(), df.error.tolist()
    assert (df.n_members == 300).all() and (df.n_nonmembers == 300).all()  # 600 rows left: half non-members, half population
    assert (df.train_accuracy == 1.0).all()  # the user's model, evaluated on the user's training rows
    for attack in ("lira", "loss"):
        s = res.scores(attack=attack)
        np.testing.assert_array_equal(s.is_member, np.isin(s.candidate_units, train))  # the harness's truth is the user's indices
        auc = res.record(attack=attack).metric("auc")
        assert auc > 0.55, (attack, auc)  # an overfit MLP on 300 digits leaks, for both attacks
    # the model's weights are part of the cell identity: another model is a new run, not a resumed one
    other = own_training_script(x, y, train, epochs=1)
    again = bench.audit_model(other, x, y, train, recipe=recipe, attacks="loss", augmentations=("shift",), out_dir=tmp_path / "audit", progress=False, scenarios=False,
                              module_factory=lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)))
    assert again.records[0].run_id != res.record(attack="loss").run_id
    assert again.records[0].utility.train_accuracy < 1.0


def test_audit_refuses_bad_indices_and_population():
    x, y = np.zeros((10, 4), np.float32), np.zeros(10, np.int64)
    with pytest.raises(ValueError, match=r"train_indices must be row indices of x in \[0, 10\)"):
        bench.audit_model(None, x, y, [3, 10], recipe=RECIPE)
    with pytest.raises(ValueError, match="population must be a share"):
        bench.audit_model(None, x, y, [1, 2], recipe=RECIPE, population=1.5)


def test_to_pandas_tells_apart_cells_that_differ_only_in_parameters(tmp_path):
    """A sweep (l2 c=1 and c=2, lira with 4 and 8 shadows) gives rows one can group by: the params are columns."""
    from bench._records import ResultsWriter
    from bench.testing import make_record

    writer = ResultsWriter(tmp_path)
    for i, (c, n) in enumerate([(1, 4), (2, 4), (1, 8)]):
        writer.append(make_record({"name": "lira", "params": {"n_shadows": n}}, {"name": "l2", "params": {"c": c}}, 0, track="digits",
                                  tier="smoke", run_id=f"p{i}", metrics={"auc": 0.6}))
    res = bench.Results.load(tmp_path)
    df = res.to_pandas()
    assert list(df.columns[:5]) == ["track", "defense", "defense_params", "attack", "attack_params"]
    assert sorted(zip(df.defense_params, df.attack_params)) == [("c=1", "n_shadows=4"), ("c=1", "n_shadows=8"), ("c=2", "n_shadows=4")]
    assert res.record(defense_params="c=2").run_id == "p1"


@pytest.mark.slow
def test_an_official_run_from_python_never_imports_an_attack_plugin_here(tmp_path, monkeypatch):
    import os

    marker = f"PRIVBENCH_TEST_API_MARKER_{os.getpid()}"
    plugin = tmp_path / "api_marked.py"
    plugin.write_text(textwrap.dedent(f"""
        import os
        from bench import Attack, ThreatModel, hookimpl

        os.environ[{marker!r}] = "imported here"

        class ApiMarked(Attack):
            name = "api-marked"
            threat_model = ThreatModel.LABEL

            def score(self, ctx):
                return ctx.rng.random(len(ctx.candidates))

        @hookimpl
        def register_attacks(register):
            register(ApiMarked)
    """))
    monkeypatch.delenv(marker, raising=False)
    res = bench.run("synthetic-blobs", "api-marked", out_dir=tmp_path / "out", progress=False, scenarios=False, official=True,
                    plugin_files=[str(plugin)])
    (rec,) = res.records
    assert rec.status == "ok" and rec.official is True, rec.error
    assert marker not in os.environ  # its module ran in the sandbox (describe, then the worker), never in this process
