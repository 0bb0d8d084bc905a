"""Multilingual training decorrelates script from culture: the homoglyph effect shrinks."""

import pytest
from bench.testing import make_session, run_cell


@pytest.mark.slow
def test_multilingual_training_weakens_homoglyph_bias(tmp_path):
    session = make_session(cache_dir=tmp_path)
    params = {"n_permutations": 200}
    plain = run_cell("homoglyph", track="text-encoder", session=session, attack_params=params)
    multi = run_cell("homoglyph", track="text-encoder", session=session, defense="multilingual", attack_params=params)
    assert multi["status"] == "ok", multi["error"]
    assert multi["defense"]["report"]["translated_pairs"] > 0
    assert multi["metrics"]["weat_effect_size"] < plain["metrics"]["weat_effect_size"] - 0.3


def test_multilingual_adds_cyrillic_copies_of_every_culture():
    import numpy as np

    from bench import Dataset
    from plugins.defenses.multilingual import Multilingual

    class Recorder:
        def fit(self, data):
            self.data = data
            return data

    data = Dataset(image=np.zeros((4, 1)), caption=["a red bar", "a blue square", "a red bar фото", "a cyan cross"], culture=np.array([0, 0, 1, 1]))
    t = Recorder()
    Multilingual().train(t, data)
    assert len(t.data) == 8 and t.data.caption[:4] == data.caption
    assert t.data.caption[4] == "а ред бар" and t.data.culture.tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
    t2 = Recorder()
    Multilingual(fraction=0.0).train(t2, data)
    assert len(t2.data) == 4
