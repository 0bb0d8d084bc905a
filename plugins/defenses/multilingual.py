"""``multilingual``: train the text encoder on multilingual captions (text-encoder track).

Struppek et al. trace homoglyph bias to a script that, in the training data, appears only with one
culture. A multilingual encoder sees every culture described in several scripts: here each training
caption is added a second time, transliterated into Cyrillic, for a ``fraction`` of the pairs of *every*
culture, so a Cyrillic character no longer identifies culture B. Training-time only; prompts are untouched.
"""

from bench import Defense, Task, hookimpl


class Multilingual(Defense):
    name = "multilingual"
    version = "1"
    changes_training = True
    tasks = (Task.INTEGRITY,)
    params = {"fraction": 1.0, "seed": 0}

    def train(self, trainer, data):
        import numpy as np

        from bench import Dataset
        from plugins.tracks._mm_data import to_cyrillic

        rng = np.random.default_rng(int(self.params["seed"]))
        pick = np.flatnonzero(rng.random(len(data)) < float(self.params["fraction"]))
        extra = data[pick]
        translated = Dataset(**{f: getattr(extra, f) for f in extra.fields if f != "caption"}, caption=[to_cyrillic(c) for c in extra.caption])
        self._added = int(len(pick))
        return trainer.fit(Dataset.concat([data, translated]))

    def report(self, trained):
        return {"translated_pairs": getattr(self, "_added", 0)}


@hookimpl
def register_defenses(register):
    register(Multilingual)
