"""spaCy NER pipelines for the ``ner`` track: build, train, store in the model cache, serve.

Imported lazily by ``plugins.tracks.ner`` (it imports spaCy and torch). A target is a blank English
pipeline with one ``ner`` component (spaCy's transition-based parser over a hash-embedding CNN), trained
on CPU by ``nlp.update`` with thinc's Adam. Its vocabulary is what spaCy leaves in it after training:
every word of the training text is a lexeme (and a tokenizer cache entry) — the state Ali et al.'s timing
side channel reads. The served pipeline answers each request inside ``nlp.memory_zone()`` (spaCy's
mode for services), so a query never adds to that vocabulary: what is timed is the trained state.
"""

from __future__ import annotations

import contextlib
import random
import time
from typing import Any, Iterable

import numpy as np

from bench import Predictor, ThreatModel

__all__ = ["SpacyPipeline", "NerTrainer", "NerPredictor", "entity_f1", "build_pipeline"]

LABELS = ("PERSON", "LOC", "ORG", "MISC", "PASSWORD", "ID")
INIT_TEXT = "Alice Smith lives in Paris ."  # fixed, public: lets spaCy infer layer shapes before training


def _ner_config(arch: dict[str, Any]) -> dict[str, Any]:
    """spaCy's default NER model (TransitionBasedParser.v2 over HashEmbedCNN.v2), sized by the recipe."""
    return {
        "model": {
            "@architectures": "spacy.TransitionBasedParser.v2",
            "state_type": "ner",
            "extra_state_tokens": False,
            "hidden_width": int(arch.get("hidden_width", 64)),
            "maxout_pieces": 2,
            "use_upper": True,
            "tok2vec": {
                "@architectures": "spacy.HashEmbedCNN.v2",
                "pretrained_vectors": None,
                "width": int(arch.get("width", 64)),
                "depth": int(arch.get("depth", 2)),
                "embed_size": int(arch.get("embed_size", 2000)),
                "window_size": 1,
                "maxout_pieces": 3,
                "subword_features": True,
            },
        }
    }


def build_pipeline(recipe: Any, labels: Iterable[str] = ()) -> Any:
    """A blank-English pipeline with the recipe's NER component: with ``labels`` to train, without to load into."""
    import spacy

    nlp = spacy.blank("en")
    ner = nlp.add_pipe("ner", config=_ner_config(dict(recipe.arch_params)))
    for label in labels:
        ner.add_label(label)
    return nlp


class SpacyPipeline:
    """A spaCy pipeline dressed as a module for the model cache (``state_dict`` of uint8/int64 tensors).

    The state holds the pipeline's bytes and the lexemes its vocabulary held, so that a pipeline loaded
    from the cache is in the state training left it in (spaCy's own serialization keeps the strings but
    not the lexemes, nor the tokenizer's cache, which the timing side channel depends on).
    """

    def __init__(self, recipe: Any, nlp: Any = None):
        self.recipe = recipe
        self.nlp = nlp if nlp is not None else build_pipeline(recipe)

    def state_dict(self) -> dict[str, Any]:
        import torch

        raw = bytearray(self.nlp.to_bytes())
        orths = np.array([lex.orth for lex in self.nlp.vocab], dtype=np.uint64).view(np.int64)
        return {"pipeline": torch.frombuffer(raw, dtype=torch.uint8).clone(), "lexemes": torch.from_numpy(orths.copy())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.nlp.from_bytes(bytes(state["pipeline"].numpy().tobytes()))
        strings = self.nlp.vocab.strings
        words = [strings[int(o)] for o in state["lexemes"].numpy().view(np.uint64)]
        restore_vocabulary(self.nlp, words)

    def __getstate__(self) -> dict[str, Any]:
        # Pickling (torch.save of a module, e.g. shadows sent to an attack's worker) goes through the state dict:
        # spaCy's own pickle drops the lexemes, and with them the timing side channel.
        return {"recipe": self.recipe, "state": self.state_dict()}

    def __setstate__(self, saved: dict[str, Any]) -> None:
        self.recipe = saved["recipe"]
        self.nlp = build_pipeline(self.recipe)
        self.load_state_dict(saved["state"])

    def eval(self) -> "SpacyPipeline":
        return self

    def to(self, device: Any) -> "SpacyPipeline":
        return self

    def parameters(self) -> Iterable[Any]:
        return iter(())


def restore_vocabulary(nlp: Any, words: Iterable[str]) -> None:
    """Make ``words`` lexemes and tokenizer cache entries, as processing them once would."""
    words = [w for w in words if w and not w.isspace()]
    for w in words:
        nlp.vocab[w]
    for i in range(0, len(words), 500):
        nlp.make_doc(" ".join(words[i : i + 500]))


class NerTrainer:
    """Trains a pipeline on rows with ``text`` and ``entities`` ([(start, end, label)] character spans).

    ``public_words``: the track's public vocabulary (template words); ``fit(frozen_vocab=True)`` gives the
    pipeline exactly that vocabulary and trains inside a memory zone, so no training word stays in it.
    """

    def __init__(self, recipe: Any, seed: int, public_words: Iterable[str] = (), progress: Any = None):
        self.recipe = recipe
        self.seed = int(seed)
        self.public_words = list(public_words)
        self.progress = progress

    def fit(self, data: Any, *, frozen_vocab: bool = False) -> Any:
        import spacy
        from spacy.training import Example
        from thinc.api import Adam

        from bench.training import TrainedModel

        start = time.perf_counter()
        spacy.util.fix_random_seed(self.seed)
        rng = random.Random(self.seed)
        r = self.recipe
        nlp = build_pipeline(r, LABELS)
        if frozen_vocab:
            restore_vocabulary(nlp, self.public_words)
        optimizer = Adam(learn_rate=float(r.lr), L2=float(r.weight_decay), L2_is_weight_decay=True, grad_clip=1.0)
        init = Example.from_dict(nlp.make_doc(INIT_TEXT), {"entities": [(0, 11, "PERSON"), (21, 26, "LOC")]})
        nlp.initialize(lambda: [init], sgd=optimizer)
        zone = nlp.memory_zone() if frozen_vocab else contextlib.nullcontext()
        with zone:
            examples = [Example.from_dict(nlp.make_doc(t), {"entities": [tuple(e) for e in ents]}) for t, ents in zip(data.text, data.entities)]
            for epoch in range(int(r.epochs)):
                rng.shuffle(examples)
                for batch in spacy.util.minibatch(examples, size=int(r.batch_size)):
                    nlp.update(batch, sgd=optimizer, drop=float(r.dropout))
                if self.progress:
                    self.progress(epoch + 1, int(r.epochs))
            examples = None  # docs of the zone must not outlive it
        extras = {"lexemes": sum(1 for _ in nlp.vocab), "frozen_vocab": bool(frozen_vocab)}  # len(vocab) also counts freed entries
        return TrainedModel(SpacyPipeline(r, nlp), time.perf_counter() - start, extras)


class NerPredictor(Predictor):
    """The NER service: entities (LABEL), the model's confidence in given entities (SCORES), timed answers."""

    QUERIES = {"predict_entities": ThreatModel.LABEL, "entity_confidence": ThreatModel.SCORES}
    TIMED = "predict_entities"

    def __init__(self, module: SpacyPipeline, beam_width: int = 16):
        self.nlp = module.nlp
        self.beam_width = int(beam_width)

    def predict_entities(self, texts: list[str]) -> list[list[tuple[int, int, str]]]:
        """Per text, its entities as (start, end, label) character spans."""
        out = []
        with self.nlp.memory_zone():
            for doc in self.nlp.pipe(list(texts)):
                out.append([(e.start_char, e.end_char, e.label_) for e in doc.ents])
        return out

    def entity_confidence(self, texts: list[str], spans: list[tuple[int, int, str]]) -> np.ndarray:
        """Probability mass of the beam's parses (spaCy's ``beam_parse``/``scored_ents``) that tag each span."""
        ner = self.nlp.get_pipe("ner")
        out = np.zeros(len(texts))
        with self.nlp.memory_zone():
            for i, (text, (a, b, label)) in enumerate(zip(texts, spans)):
                doc = self.nlp.make_doc(text)
                span = doc.char_span(int(a), int(b), alignment_mode="expand")
                beams = ner.beam_parse([doc], beam_width=self.beam_width)
                scores = ner.scored_ents(beams)[0]
                out[i] = float(scores.get((span.start, span.end, label), 0.0)) if span is not None else 0.0
        return out


def entity_f1(predictor: NerPredictor, texts: list[str], entities: list[list[tuple[int, int, str]]]) -> float:
    """Micro-averaged entity F1 (exact span and label), the CoNLL measure."""
    pred = predictor.predict_entities(texts)
    tp = sum(len({tuple(e) for e in p} & {tuple(e) for e in g}) for p, g in zip(pred, entities))
    n_pred, n_gold = sum(len(p) for p in pred), sum(len(g) for g in entities)
    return float(2 * tp / (n_pred + n_gold)) if n_pred + n_gold else 1.0
