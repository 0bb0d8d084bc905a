"""LiRA's pool design in the runner: M models per (track, defense, seed), T targets, harness-owned metrics."""

import numpy as np
import pytest

from bench import Attack
from bench._plan import Cell, Plan, check_params
from bench._pool_cell import design_for
from bench.metrics import auc
from bench.testing import make_session, registry_with
from plugins.tracks.synthetic import SyntheticBlobs


class ShadowCount(Attack):
    """Scores each candidate by how many of its shadows trained on it: must be at chance (the design's promise)."""

    name = "shadow-count"
    params = {"n": None}

    def score(self, ctx):
        shadows = ctx.shadows(int(self.params["n"] or ctx.budget.max_shadows), online=True)
        return shadows.candidate_inclusion.sum(axis=0).astype(float)


class Confidence(Attack):
    name = "conf-pool"

    def score(self, ctx):
        p = ctx.target.predict_scores(ctx.candidates.x)
        return np.log(p[np.arange(len(p)), ctx.candidates.y] + 1e-12)


class PoolBlobs(SyntheticBlobs):
    """synthetic-blobs in LiRA's pool design (the registered test track keeps the one-target path)."""

    name = "pool-blobs"
    pool_design = True


@pytest.fixture(scope="module")
def reg():
    return registry_with(ShadowCount, Confidence, PoolBlobs)


@pytest.mark.parametrize("name", ["digits", "fashion-mnist"])
@pytest.mark.parametrize("tier", ["smoke", "cpu"])
def test_every_model_trains_on_n_pool_units_and_shadow_counts_do_not_reveal_the_target(name, tier):
    with make_session() as s:
        track, data, _ = s.track(name)
        budget = track.budgets[tier]
        n = track.split_sizes["members"]
        d = design_for(track, data, 0, budget.models, track.split_seed, budget.targets)
    assert d.n_models == budget.targets + budget.max_shadows and len(d.pool) == 2 * n
    assert (d.keep.sum(axis=1) == n).all()  # every model, target or shadow, trains on exactly N pool units
    assert d.keep.mean() == 0.5 and 0.3 < np.median(d.keep.mean(axis=0)) < 0.7  # IN for half the models on average
    aucs = np.array([auc(d.keep[d.shadows_of(t)].sum(axis=0).astype(float), d.is_member(t)) for t in range(budget.targets)])
    # Under independence each target's AUC is null-distributed with sd ≈ sqrt((2N+1) / (12 N²)): 0.018 for digits'
    # 1,000 candidates, 0.006 for fashion-mnist's 10,000. Per target within 3.5 sd; pooled within 0.03.
    sd = np.sqrt((2 * n + 1) / (12.0 * n * n))
    assert np.all(np.abs(aucs - 0.5) <= max(0.03, 3.5 * sd)), aucs
    pooled = auc(np.concatenate([d.keep[d.shadows_of(t)].sum(axis=0) for t in range(budget.targets)]).astype(float),
                 np.concatenate([d.is_member(t) for t in range(budget.targets)]))
    assert abs(pooled - 0.5) <= 0.03


def test_a_cell_runs_the_attack_against_t_targets_and_pools_the_decisions(reg):
    with make_session(registry=reg) as s:
        record, arrays = s.run_cell(Cell("pool-blobs", "none", "conf-pool", 0, "smoke"))
        assert record.status == "ok", record.error
        track = s.track("pool-blobs")[0]
        design = s.pool_design(Cell("pool-blobs", "none", "conf-pool", 0, "smoke"))
    t, pool = track.budgets["smoke"].targets, 2 * track.split_sizes["members"]
    assert record.design["targets"] == t and record.design["models"] == track.budgets["smoke"].models
    assert len(record.per_target) == t and arrays["scores"].shape == (t * pool,)
    # the harness's truth is each target's own half of the pool
    assert np.array_equal(arrays["is_member"], np.concatenate([design.keep[i] for i in range(t)]))
    assert record.metrics["n_members"] == t * pool // 2
    assert record.metrics["auc"] > 0.55  # a confidence attack beats chance on blobs' overfit MLP
    # operating points are the harness's, calibrated on the other targets' non-members
    assert 0.0 <= record.metrics["fpr@5%cal"] <= 0.2 and record.metrics["fpr_nonmembers"] == record.metrics["fpr@5%cal"]
    assert record.epsilon["epsilon"] >= 0 and record.metrics["epsilon_lb"] == record.epsilon["epsilon"]


def test_shadow_counting_scores_at_chance_through_the_runner(reg):
    with make_session(registry=reg) as s:
        record, _ = s.run_cell(Cell("pool-blobs", "none", "shadow-count", 0, "smoke"))
    assert record.status == "ok", record.error
    assert abs(record.metrics["auc"] - 0.5) < 0.1  # 2 targets × 400 candidates: sd ≈ 0.02


def test_an_attack_gets_the_non_target_models_never_a_target(reg):
    from bench._pool_cell import pool_context

    with make_session(registry=reg) as s:
        cell = Cell("pool-blobs", "none", "shadow-count", 0, "smoke")
        models = s.pool_models(cell, s.defense(cell))
        for t in range(2):
            ctx, _, split = pool_context(s, cell, s.registry.attack("shadow-count"), s.defense(cell), t)
            shadows = ctx.shadows(ctx.budget.max_shadows, online=True)
            design = s.pool_design(cell)
            expected = design.keep[np.arange(design.n_targets, design.n_models)]  # the same rows for every target
            assert np.array_equal(shadows.inclusion, expected)
            assert not any(sh.module is models[u].module for sh in shadows for u in range(design.n_targets))  # copies
            assert np.array_equal(split.is_member(), design.keep[t])


def test_unknown_set_names_and_keys_are_listed_before_anything_trains(reg):
    plan = Plan(tracks=["digits"], attacks=["loss"], defenses=["none"], seeds=[0],
                params={"lira": {"n_shadows": 2}, "loss": {"calibration_shadowz": 1}, "digits": {"nope": 1}})
    problems = check_params(plan, reg)
    assert any("'lira' is no track, defense or attack of this run" in p for p in problems)
    assert any("attack 'loss' has no option 'calibration_shadowz'" in p and "calibration_shadows" in p for p in problems)
    assert any("track 'digits' has no option 'nope'" in p for p in problems)


def test_cli_exits_2_on_a_misspelled_set_before_training(tmp_path):
    from click.testing import CliRunner

    from bench.cli import cli

    out = CliRunner().invoke(cli, ["run", "--track", "synthetic-blobs", "--attacks", "loss", "--set", "loss.calibration_shadowz=2",
                                   "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert out.exit_code == 2, out.output
    assert "calibration_shadowz" in out.output and "calibration_shadows" in out.output
    assert not (tmp_path / "cache").exists()  # nothing trained


def test_a_plugin_version_change_changes_the_run_id(reg):
    from plugins.attacks.loss import LossAttack

    with make_session(registry=reg) as s:
        cell = Cell("pool-blobs", "none", "loss", 0, "smoke")
        before = s.run_id(cell)
        old = LossAttack.version
        LossAttack.version = old + "-edited"
        try:
            after = s.run_id(cell)
        finally:
            LossAttack.version = old
    assert before != after

