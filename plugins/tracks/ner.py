"""``ner``: named-entity recognizers trained on text with inserted secrets (Ali et al., PoPETs 2023).

Units are secrets — passwords, account IDs, patients' names — each with the sentence it is inserted in
("my password is k7qm2xw9pa ."), annotated as an entity. A target spaCy pipeline (blank English, one
``ner`` component, CPU) trains on the sentences of its member secrets, ``insertions`` times each, plus a
background corpus every model sees: generated template sentences with public names, places, firms and
filler secrets, or real CoNLL-2003 sentences (``--set ner.background=conll2003``; hub, pinned revision, or
``--data-dir`` holding the same parquet files). Non-member secrets never occur in any training text.
Candidates carry the secret, its sentence and the entity's character span; utility is entity F1 on
member sentences (train) and on held-out background sentences (test).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench import Budget, Candidates, Dataset, Recipe, Task, Track, TrackInfo, hookimpl

SECRET_TEMPLATES = {
    "PASSWORD": ("my password is {} .", "the wifi password is {} so do not share it .", "please change the password to {} before Friday ."),
    "ID": ("my patient number is {} .", "the passport ID {} expires next year .", "her account ID is {} ."),
    "PERSON": ("{} was diagnosed with diabetes last week .", "the nurse called {} about the test results .", "{} tested positive for the virus ."),
}
BACKGROUND_TEMPLATES = (
    "{PERSON} works for {ORG} in {LOC} .",
    "{PERSON} flew from {LOC} to {LOC} on Monday .",
    "{ORG} opened a new office in {LOC} .",
    "the password for {PERSON} is {PASSWORD} .",
    "{PERSON} has the account ID {ID} .",
    "{PERSON} met {PERSON} at the {ORG} conference .",
)
CITIES = "Paris Berlin Lagos Lima Oslo Madrid Nairobi Tokyo Seoul Delhi Cairo Quito Dublin Vienna Prague Austin Denver Perth Porto Riga".split()
ORGS = "Acme Globex Initech Umbrella Stark Wayne Hooli Vandelay Cyberdyne Tyrell Soylent Wonka Gringotts Oscorp Aperture".split()
CONLL_HUB = {"repo_id": "eriktks/conll2003", "revision": "refs/convert/parquet"}
# CoNLL-2003's tag order (the dataset's ClassLabel), used when a copy carries plain integers.
CONLL_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
CONLL_LABELS = {"PER": "PERSON", "ORG": "ORG", "LOC": "LOC", "MISC": "MISC"}


def make_secret(kind: str, rng: np.random.Generator) -> str:
    """One single-token secret: a password, an account ID or a (made-up) surname."""
    if kind == "PASSWORD":
        chars = list("abcdefghjkmnpqrstuvwxyz") + list("23456789")
        return "".join(rng.choice(chars, 7)) + str(rng.integers(10, 100))
    if kind == "ID":
        return "".join(rng.choice(list("ABCDEFGHJKLMNPRSTUVWXYZ"), 2)) + str(rng.integers(10**6, 10**7))
    syll = ("ka ren vo lin ta mor dri sel an ko vi ra bel tos mi nu gar hel".split())
    return "".join(rng.choice(syll, 3)).capitalize() + str(rng.choice(["ova", "ski", "ard", "enko", "ez"]))


def fill(template: str, values: dict[str, list[str]]) -> tuple[str, list[tuple[int, int, str]]]:
    """Fill ``{LABEL}`` slots (or one ``{}`` slot) left to right; returns the text and its entity spans."""
    text, ents, rest = "", [], template
    while "{" in rest:
        i = rest.index("{")
        j = rest.index("}", i)
        label = rest[i + 1 : j]
        value = values[label].pop(0)
        text += rest[:i]
        ents.append((len(text), len(text) + len(value), label))
        text += value
        rest = rest[j + 1 :]
    return text + rest, ents


def generate(n_secrets: int, n_background: int, n_heldout: int, seed: int) -> dict[str, list[Any]]:
    """Secret rows first (units), then background rows, then held-out rows; all deterministic in ``seed``."""
    from ._mm_data import FIRST_NAMES, LAST_NAMES

    rng = np.random.default_rng(seed)
    kinds = list(SECRET_TEMPLATES)
    seen: set[str] = set()

    def fresh(kind: str) -> str:
        while True:
            s = make_secret(kind, rng)
            if s not in seen:
                seen.add(s)
                return s

    rows: dict[str, list[Any]] = {k: [] for k in ("text", "entities", "secret", "label", "kind")}

    def add(text: str, ents: list, secret: str, label: str, kind: str) -> None:
        for k, v in zip(rows, (text, ents, secret, label, kind)):
            rows[k].append(v)

    for i in range(n_secrets):
        kind = kinds[i % len(kinds)]
        secret = fresh(kind)
        template = SECRET_TEMPLATES[kind][int(rng.integers(len(SECRET_TEMPLATES[kind])))]
        text, ents = fill(template.replace("{}", "{%s}" % kind), {kind: [secret]})
        add(text, ents, secret, kind, "secret")
    for part, n in (("background", n_background), ("heldout", n_heldout)):
        for _ in range(n):
            template = BACKGROUND_TEMPLATES[int(rng.integers(len(BACKGROUND_TEMPLATES)))]
            values = {
                "PERSON": [f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for _ in range(2)],
                "LOC": list(rng.choice(CITIES, 2, replace=False)),
                "ORG": [str(rng.choice(ORGS))],
                "PASSWORD": [fresh("PASSWORD")],
                "ID": [fresh("ID")],
            }
            text, ents = fill(template, values)
            add(text, ents, "", "", part)
    return rows


def public_words() -> list[str]:
    """The track's public vocabulary: template words and the public name, place and firm lists."""
    from ._mm_data import FIRST_NAMES, LAST_NAMES

    words: set[str] = set(FIRST_NAMES) | set(LAST_NAMES) | set(CITIES) | set(ORGS)
    for t in [t for ts in SECRET_TEMPLATES.values() for t in ts] + list(BACKGROUND_TEMPLATES):
        words |= {w for w in t.split() if "{" not in w}
    return sorted(words)


def load_conll(path_or_repo: str, revision: str | None, split: str, limit: int) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """Up to ``limit`` CoNLL-2003 sentences of ``split`` as (text, entity spans); IOB tags → spans."""
    import datasets

    ds = datasets.load_dataset(path_or_repo, revision=revision, split=split)
    for col in ("tokens", "ner_tags"):
        if col not in ds.column_names:
            raise ValueError(f"{path_or_repo}@{revision}: split {split!r} has no column {col!r} (columns: {', '.join(ds.column_names)})")
    feature = ds.features["ner_tags"]
    names = list(getattr(getattr(feature, "feature", None), "names", None) or CONLL_TAGS)
    out = []
    for row in ds.select(range(min(limit, len(ds)))):
        if not row["tokens"]:
            continue
        out.append(iob_to_spans(list(row["tokens"]), [names[int(t)] for t in row["ner_tags"]]))
    return out


def iob_to_spans(tokens: list[str], tags: list[str]) -> tuple[str, list[tuple[int, int, str]]]:
    """Space-joined text and its entities (IOB1 or IOB2 tags; CoNLL types mapped to the track's labels)."""
    text, ents, open_ = "", [], None
    for tok, tag in zip(tokens, tags):
        start = len(text) + (1 if text else 0)
        text = f"{text} {tok}" if text else tok
        kind = tag[2:] if "-" in tag else None
        if open_ is not None and (kind is None or tag.startswith("B-") or kind != open_[1]):
            ents.append((open_[0], open_[2], CONLL_LABELS.get(open_[1], open_[1])))
            open_ = None
        if kind is not None:
            open_ = (start, kind, len(text)) if open_ is None else (open_[0], kind, len(text))
    if open_ is not None:
        ents.append((open_[0], open_[2], CONLL_LABELS.get(open_[1], open_[1])))
    return text, ents


class NerTrack(Track):
    name = "ner"
    version = "1"
    task = Task.TOKEN_CLASSIFICATION
    description = "spaCy NER (blank English, CPU) trained on sentences with inserted secrets plus a background corpus; Ali et al. 2023"
    split_sizes = {"members": 100, "nonmembers": 100, "population": 200}
    n_background, n_heldout = 300, 150
    params = {"background": "templates", "insertions": 1}
    recipe = Recipe("spacy-ner", {"width": 64, "depth": 2, "embed_size": 2000, "hidden_width": 64}, epochs=12, batch_size=16, lr=1e-3,
                    optimizer="adam", schedule="constant", dropout=0.1)
    budgets = {
        "smoke": Budget("smoke", max_shadows=2, queries_per_candidate=32, device_seconds=150),
        "cpu": Budget("cpu", max_shadows=8, queries_per_candidate=256, device_seconds=1200),
        "gpu": Budget("gpu", max_shadows=16, queries_per_candidate=1024, device_seconds=3600),
    }

    def load(self) -> Dataset:
        n = sum(self.split_sizes.values())
        rows = generate(n, self.n_background, self.n_heldout, seed=11)
        if self.params["background"] == "conll2003":
            rows = self._with_conll(rows, n)
        elif self.params["background"] != "templates":
            raise ValueError(f"ner: background must be 'templates' or 'conll2003', not {self.params['background']!r}")
        return Dataset(**rows)

    def _with_conll(self, rows: dict[str, list[Any]], n: int) -> dict[str, list[Any]]:
        src, rev = (self.data_dir, None) if self.data_dir else (CONLL_HUB["repo_id"], CONLL_HUB["revision"])
        parts = {"background": load_conll(src, rev, "train", self.n_background), "heldout": load_conll(src, rev, "test", self.n_heldout)}
        out = {k: v[:n] for k, v in rows.items()}
        for kind, sents in parts.items():
            for text, ents in sents:
                for k, v in zip(("text", "entities", "secret", "label", "kind"), (text, ents, "", "", kind)):
                    out[k].append(v)
        return out

    def num_units(self, data: Dataset) -> int:
        return int(sum(k == "secret" for k in data.kind))

    def training_rows(self, data: Dataset, units: np.ndarray) -> np.ndarray:
        background = np.flatnonzero(np.asarray(data.kind) == "background")
        return np.concatenate([np.repeat(np.asarray(units, dtype=np.int64), int(self.params["insertions"])), background])

    def candidates(self, data: Dataset, units: np.ndarray) -> Candidates:
        u = np.asarray(units, dtype=np.int64)
        ents = [data.entities[int(i)][0] for i in u]
        return Candidates(
            text=[data.text[int(i)] for i in u], secret=[data.secret[int(i)] for i in u], label=[data.label[int(i)] for i in u],
            start=np.array([e[0] for e in ents], dtype=np.int64), end=np.array([e[1] for e in ents], dtype=np.int64),
        )

    def info(self, data: Dataset, split: Any) -> TrackInfo:
        base = super().info(data, split)
        extra = {"templates": {k: list(v) for k, v in SECRET_TEMPLATES.items()}, "insertions": int(self.params["insertions"])}
        return TrackInfo(**{**base.__dict__, "extra": extra})

    # -- models -----------------------------------------------------------------------------
    def trainer(self, recipe: Recipe, seed: int, device: str, progress: Any = None) -> Any:
        from ._ner_model import NerTrainer

        return NerTrainer(recipe, seed, public_words(), progress)

    def build_module(self, defense: Any) -> Any:
        from ._ner_model import SpacyPipeline

        return SpacyPipeline(defense.adapt_recipe(self.recipe))

    def predictor(self, module: Any) -> Any:
        from ._ner_model import NerPredictor

        return NerPredictor(module)

    def utility(self, module: Any, data: Dataset, split: Any) -> dict[str, float]:
        """Entity F1 on the member secrets' sentences (train) and on held-out background sentences (test)."""
        from ._ner_model import entity_f1

        p = self.predictor(module)
        held = np.flatnonzero(np.asarray(data.kind) == "heldout")
        f1 = lambda rows: entity_f1(p, [data.text[int(i)] for i in rows], [data.entities[int(i)] for i in rows])
        test = f1(held)
        return {"train_accuracy": f1(split.members), "test_accuracy": test, "entity_f1": test}


@hookimpl
def register_tracks(register):
    register(NerTrack)
