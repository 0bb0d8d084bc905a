"""What every track promises: deterministic, disjoint, hashed splits; listed with its task; a default run ends ok."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from bench import Split
from bench._plugins import load_plugins
from bench.cli import cli

_, REGISTRY = load_plugins()


@pytest.mark.parametrize("name, n_candidates", [("digits", 1000), ("synthetic-blobs", 400)])
def test_split_is_deterministic_disjoint_and_hashed(name, n_candidates):
    track = REGISTRY.track(name)
    data = track.load()
    a, b = track.split(data), track.split(track.load())
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    assert len(a.candidates) == n_candidates and a.is_member().sum() == n_candidates // 2
    assert not set(a.population) & set(a.candidates)
    assert not np.array_equal(a.candidates, np.sort(a.candidates))  # shuffled: order reveals nothing


def test_split_rejects_overlap():
    with pytest.raises(ValueError, match="unit 3 is in both members and population"):
        Split(np.array([1, 3]), np.array([2]), np.array([3, 4]), np.array([1, 2, 3]))


def test_list_tracks_shows_multimodal_tasks():
    out = CliRunner().invoke(cli, ["list", "tracks", "--json"])
    tasks = {t["name"]: t["task"] for t in json.loads(out.output)}
    assert tasks["faces"] == tasks["synthetic-faces"] == "identity-inference"
    assert tasks["captions"] == tasks["synthetic-captions"] == "image-text"
    assert tasks["text-encoder"] == "integrity"


@pytest.mark.slow
@pytest.mark.parametrize("track, n_attacks", [("synthetic-faces", 1), ("synthetic-captions", 3)])
def test_default_run_with_scenarios_ends_all_ok(tmp_path, session_cache, track, n_attacks):
    # `privbench run --track T --budget smoke` runs with scenarios on: image-only scenario sets must not break these tracks.
    from bench._runner import Plan, run_plan
    from bench.testing import make_session

    session = make_session(cache_dir=session_cache)
    attacks = sorted(d["name"] for d in session.registry.describe("attacks") if session.registry.track(track).task.value in d["tasks"])
    plan = Plan(tracks=[track], attacks=attacks, defenses=["none"], seeds=[0], out_dir=str(tmp_path), device="cpu", progress=False,
                cache_dir=str(session_cache), scenarios=True)
    records = run_plan(plan, session=session)
    assert len(records) == n_attacks and {r["status"] for r in records} == {"ok"}, [r["error"] for r in records]
