"""Occurrence capping keeps at most max_occurrences pairs per identity (faces) or per caption (captions)."""

import numpy as np

from bench import Dataset, Task
from plugins.defenses.dedup import Dedup, capped_rows


class Recorder:
    def fit(self, data):
        self.data = data
        return data


def test_caps_identities():
    ident = np.array([0, 0, 0, 1, 2, 2, 0])
    data = Dataset(image=np.arange(7)[:, None], identity=ident, caption=[f"a photo of p{i}" for i in ident])
    t = Recorder()
    d = Dedup(max_occurrences=2)
    d.train(t, data)
    assert t.data.identity.tolist() == [0, 0, 1, 2, 2] and t.data.image[:, 0].tolist() == [0, 1, 3, 4, 5]
    assert d.report(None) == {"pairs_kept": 5, "pairs_dropped": 2}
    assert Task.IDENTITY_INFERENCE in Dedup.tasks and Task.IMAGE_TEXT in Dedup.tasks


def test_dedups_captions_without_identities():
    data = Dataset(image=np.arange(4)[:, None], caption=["a dog", "a cat", "a dog", "a dog"])
    t = Recorder()
    Dedup(max_occurrences=1).train(t, data)
    assert t.data.caption == ["a dog", "a cat"]
    assert capped_rows(["x", "y", "x"], 0) == []


def test_capping_lowers_trained_occurrences_on_faces():
    from plugins.tracks.faces import SyntheticFaces

    track = SyntheticFaces()
    data = track.load()
    split = track.split(data)
    rows = track.training_rows(data, split.members)
    t = Recorder()
    Dedup(max_occurrences=2).train(t, data[rows])
    counts = np.bincount(np.asarray(t.data.identity))
    assert counts.max() == 2 and set(np.asarray(t.data.identity).tolist()) == set(np.asarray(data.identity)[rows].tolist())
