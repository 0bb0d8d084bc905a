"""The ner track: generated corpus, split hygiene, CoNLL-2003 loader (local fixture), spaCy pipelines in the cache."""

import numpy as np
import pytest

from bench import Dataset
from plugins.tracks.ner import CONLL_TAGS, NerTrack, generate, iob_to_spans, public_words


@pytest.fixture(scope="module")
def track_data():
    track = NerTrack()
    data = track.load()
    return track, data, track.split(data)


def test_corpus_is_deterministic_and_annotated():
    a, b = generate(30, 20, 10, seed=3), generate(30, 20, 10, seed=3)
    assert a == b
    assert generate(30, 20, 10, seed=4)["text"] != a["text"]
    secrets = [s for s, k in zip(a["secret"], a["kind"]) if k == "secret"]
    assert len(set(secrets)) == 30 and all(" " not in s for s in secrets)
    for text, ents, secret, label, kind in zip(*(a[k] for k in ("text", "entities", "secret", "label", "kind"))):
        assert ents and all(text[s:e].strip() == text[s:e] and text[s:e] for s, e, _ in ents)
        if kind == "secret":
            assert ents[0][2] == label and text[ents[0][0] : ents[0][1]] == secret


def test_nonmember_secrets_never_reach_training_text(track_data):
    track, data, split = track_data
    rows = track.training_rows(data, split.members)
    training_text = " ".join(data.text[int(i)] for i in rows)
    assert all(data.secret[int(u)] in training_text for u in split.members)
    assert not any(data.secret[int(u)] in training_text for u in split.nonmembers)
    assert set(np.asarray(data.kind)[rows]) == {"secret", "background"}  # never held-out text


def test_insertions_repeat_member_sentences(track_data):
    track, data, split = track_data
    twice = NerTrack()
    twice.configure(insertions=2)
    rows1, rows2 = track.training_rows(data, split.members[:5]), twice.training_rows(data, split.members[:5])
    assert len(rows2) - len(rows1) == 5 and twice.version != track.version


def test_candidates_carry_the_inserted_entity_and_no_membership(track_data):
    track, data, split = track_data
    c = track.candidates(data, split.candidates[:12])
    assert set(c.fields) == {"text", "secret", "label", "start", "end"}
    for t, s, a, b in zip(c.text, c.secret, c.start, c.end):
        assert t[a:b] == s


def test_public_vocabulary_holds_no_secret(track_data):
    _, data, _ = track_data
    words = set(public_words())
    assert {"password", "Paris", "Acme"} <= words
    assert not words & {s for s in data.secret if s}


@pytest.mark.parametrize("scheme", ["iob2", "iob1"])
def test_iob_to_spans(scheme):
    tokens = ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "Peter", "Blackburn"]
    tags = ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "B-PER", "I-PER"]
    if scheme == "iob1":
        tags = ["I-ORG", "O", "I-MISC", "O", "O", "O", "I-MISC", "O", "I-PER", "I-PER"]
    text, ents = iob_to_spans(tokens, tags)
    assert [(text[a:b], label) for a, b, label in ents] == [("EU", "ORG"), ("German", "MISC"), ("British", "MISC"), ("Peter Blackburn", "PERSON")]


def _write_conll_fixture(root):
    """A tiny CoNLL-2003 copy in the hub's parquet layout and schema (ClassLabel tags)."""
    import datasets

    feats = datasets.Features({
        "id": datasets.Value("string"),
        "tokens": datasets.Sequence(datasets.Value("string")),
        "pos_tags": datasets.Sequence(datasets.Value("int32")),
        "chunk_tags": datasets.Sequence(datasets.Value("int32")),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=list(CONLL_TAGS))),
    })
    rows = [(["Peter", "Blackburn", "visited", "Brussels", "."], [1, 2, 0, 5, 0]), (["Acme", "Corp", "hired", "Ann", "."], [3, 4, 0, 1, 0])]
    for split, n in (("train", 6), ("test", 4)):
        d = {"id": [], "tokens": [], "pos_tags": [], "chunk_tags": [], "ner_tags": []}
        for i in range(n):
            toks, tags = rows[i % 2]
            for k, v in zip(d, (str(i), toks, [0] * len(toks), [0] * len(toks), tags)):
                d[k].append(v)
        (root / "data").mkdir(exist_ok=True)
        datasets.Dataset.from_dict(d, features=feats).to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))


def test_conll_background_from_a_local_copy(tmp_path):
    _write_conll_fixture(tmp_path)
    track = NerTrack()
    track.data_dir = str(tmp_path)
    track.configure(background="conll2003")
    data = track.load()
    kinds = np.asarray(data.kind)
    bg = [data.text[i] for i in np.flatnonzero(kinds == "background")]
    assert len(bg) == 6 and bg[0] == "Peter Blackburn visited Brussels ."
    first = data.entities[int(np.flatnonzero(kinds == "background")[0])]
    assert [(bg[0][a:b], lab) for a, b, lab in first] == [("Peter Blackburn", "PERSON"), ("Brussels", "LOC")]
    assert (kinds == "heldout").sum() == 4 and track.num_units(data) == sum(NerTrack.split_sizes.values())


def test_conll_loader_names_a_missing_column(tmp_path):
    import datasets

    (tmp_path / "data").mkdir()
    datasets.Dataset.from_dict({"words": [["a"]]}).to_parquet(str(tmp_path / "data" / "train-00000-of-00001.parquet"))
    track = NerTrack()
    track.data_dir = str(tmp_path)
    track.configure(background="conll2003")
    with pytest.raises(ValueError, match="no column 'tokens'"):
        track.load()


def _tiny_pipeline(frozen):
    from plugins.tracks._ner_model import NerTrainer

    rows = generate(6, 20, 0, seed=5)
    data = Dataset(**rows)
    recipe = NerTrack.recipe.replace(epochs=2)
    trained = NerTrainer(recipe, seed=0, public_words=public_words()).fit(data, frozen_vocab=frozen)
    secrets = [s for s in rows["secret"] if s]
    return trained.module, secrets


@pytest.mark.slow
def test_cached_pipeline_keeps_its_vocabulary_and_frozen_vocab_keeps_none(tmp_path):
    from bench._cache import ModelCache
    from plugins.tracks._ner_model import SpacyPipeline

    module, secrets = _tiny_pipeline(frozen=False)
    assert all(s in module.nlp.vocab for s in secrets)
    cache = ModelCache(tmp_path)
    cache.save("k" * 64, module, {"train_seconds": 1.0})
    loaded, _ = cache.load("k" * 64, lambda: SpacyPipeline(NerTrack.recipe))
    assert all(s in loaded.nlp.vocab for s in secrets)
    text = f"my password is {secrets[0]} ."
    assert [e.text for e in loaded.nlp(text).ents] == [e.text for e in module.nlp(text).ents]

    frozen, secrets = _tiny_pipeline(frozen=True)
    assert not any(s in frozen.nlp.vocab or s in frozen.nlp.vocab.strings for s in secrets)
    assert "password" in frozen.nlp.vocab  # the public vocabulary, frozen before training


@pytest.mark.slow
def test_a_pickled_pipeline_keeps_its_vocabulary():
    """Shadow pipelines reach an attack's worker through torch.save: the lexemes (the timing signal) survive."""
    import io

    import torch

    module, secrets = _tiny_pipeline(frozen=False)
    buf = io.BytesIO()
    torch.save(module, buf)
    loaded = torch.load(io.BytesIO(buf.getvalue()), weights_only=False)
    assert all(s in loaded.nlp.vocab for s in secrets)
    text = f"my password is {secrets[0]} ."
    assert [e.text for e in loaded.nlp(text).ents] == [e.text for e in module.nlp(text).ents]
