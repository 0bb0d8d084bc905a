"""Multimodal tracks are listed with their tasks; face splits are over identities with held-out query images."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import cli


def test_list_tracks_shows_multimodal_tasks():
    out = CliRunner().invoke(cli, ["list", "tracks", "--json"])
    tasks = {t["name"]: t["task"] for t in json.loads(out.output)}
    assert tasks["faces"] == tasks["synthetic-faces"] == "identity-inference"
    assert tasks["captions"] == tasks["synthetic-captions"] == "image-text"
    assert tasks["text-encoder"] == "integrity"


def test_synthetic_faces_units_are_identities():
    from plugins.tracks.faces import SyntheticFaces

    t = SyntheticFaces()
    data = t.load()
    split = t.split(data)
    rows = t.training_rows(data, split.members)
    ident, view = np.asarray(data.identity), np.asarray(data.view)
    trained = set(ident[rows].tolist())
    assert set(split.members.tolist()) <= trained and not trained & set(split.nonmembers.tolist())
    assert (view[rows] < t.train_views).all()  # query images are never trained on
    for u in split.members[:10]:
        assert (ident[rows] == u).sum() == t.occurrences(int(u))
    c = t.candidates(data, split.candidates[:3])
    assert c.images.shape == (3, 8, 3, 16, 16) and len(c.name) == 3


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
