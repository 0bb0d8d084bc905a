"""A second run that adds an attack to a finished grid trains no model: targets and shadows come from the cache."""

import pytest
import textwrap

from bench._cache import ModelCache
from bench._runner import Plan, Session, run_plan

# A new attack that uses the same shadow models as lira (online, as many as the budget allows).
NEW_ATTACK = textwrap.dedent('''
    import numpy as np
    from bench import Attack, ThreatModel, hookimpl

    class ShadowGap(Attack):
        name = "shadow-gap"
        threat_model = ThreatModel.SCORES

        def score(self, ctx):
            c = ctx.candidates
            shadows = ctx.shadows(ctx.budget.max_shadows, online=True)
            conf = np.stack([s.predict_scores(c.x)[np.arange(len(c)), c.y] for s in shadows])
            inc = shadows.candidate_inclusion
            gap = np.where(inc, conf, 0).sum(0) / np.maximum(inc.sum(0), 1) - np.where(~inc, conf, 0).sum(0) / np.maximum((~inc).sum(0), 1)
            ctx.set_threshold(0.5)
            return ctx.target.predict_scores(c.x)[np.arange(len(c)), c.y] + gap

    @hookimpl
    def register_attacks(register):
        register(ShadowGap)
''')


@pytest.mark.slow
def test_adding_an_attack_trains_no_model(tmp_path):
    # Scenario sets train their own shadows; they are off here so the counts below are about the grid alone
    # (test_adding_an_attack_with_scenarios_trains_no_model covers them).
    plugin = tmp_path / "new_attack.py"
    plugin.write_text(NEW_ATTACK)
    common = dict(tracks=["synthetic-blobs"], defenses=["none"], seeds=[0], budget="smoke", out_dir=str(tmp_path / "run"),
                  cache_dir=str(tmp_path / "cache"), device="cpu", progress=False, plugin_files=[str(plugin)], scenarios=False)
    first = Session(Plan(attacks=["loss", "lira"], **common))
    records = run_plan(first.plan, session=first)
    assert [r["status"] for r in records] == ["ok", "ok"]
    trained = len(first.cache.entries())
    # target + 1 offline shadow (loss calibrates on it) + 4 online shadows (lira), each trained once
    assert (first.cache.misses, trained) == (1 + 1 + 4, 1 + 1 + 4)

    second = Session(Plan(attacks=["loss", "lira", "shadow-gap"], **common))  # a fresh process's view
    records = run_plan(second.plan, session=second)
    assert [r["attack"]["name"] for r in records] == ["loss", "lira", "shadow-gap"]
    assert all(r["status"] == "ok" for r in records)
    # finished cells are skipped; shadow-gap loads the target and lira's 4 shadows
    assert second.cache.misses == 0 and second.cache.hits == 1 + 4
    assert len(ModelCache(common["cache_dir"]).entries()) == trained
    # cached shadows are charged at their recorded training cost
    assert records[2]["budget"]["used"]["shadow_models"] == 4


@pytest.mark.slow
def test_adding_an_attack_with_scenarios_trains_no_model(tmp_path):
    plugin = tmp_path / "new_attack.py"
    plugin.write_text(NEW_ATTACK)
    common = dict(tracks=["synthetic-blobs"], defenses=["none"], seeds=[0], budget="smoke", out_dir=str(tmp_path / "run"),
                  cache_dir=str(tmp_path / "cache"), device="cpu", progress=False, plugin_files=[str(plugin)], scenarios=True)
    first = Session(Plan(attacks=["loss", "lira"], **common))
    assert all(r["status"] == "ok" for r in run_plan(first.plan, session=first))
    trained = len(first.cache.entries())
    second = Session(Plan(attacks=["loss", "lira", "shadow-gap"], **common))
    records = run_plan(second.plan, session=second)
    assert all(r["status"] == "ok" for r in records)
    assert "fpr_neighbours" in records[2]["metrics"]
    assert second.cache.misses == 0
    assert len(ModelCache(common["cache_dir"]).entries()) == trained
