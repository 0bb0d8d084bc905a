"""Multimodal tracks are listed with their tasks; face splits are over identities with held-out query images."""

import json

import numpy as np
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
