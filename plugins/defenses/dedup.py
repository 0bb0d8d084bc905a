"""``dedup``: deduplication / occurrence capping of image–text training pairs (faces and captions tracks).

Training-data hygiene against identity inference and memorisation: at most ``max_occurrences`` training
pairs per group are kept — per identity where the data has identities (faces: IDIA's success grows with
how often a person appears), otherwise per caption text (captions: exact-duplicate captions collapse).
The model is otherwise trained as usual; shadows are trained the same way (the defense is public).
"""

from bench import Defense, Task, hookimpl


def capped_rows(keys, max_occurrences):
    """Indices of the rows kept: the first ``max_occurrences`` of each key, in data order."""
    seen = {}
    keep = []
    for i, k in enumerate(keys):
        k = k.item() if hasattr(k, "item") else k
        if seen.get(k, 0) < max_occurrences:
            keep.append(i)
            seen[k] = seen.get(k, 0) + 1
    return keep


class Dedup(Defense):
    name = "dedup"
    version = "1"
    changes_training = True
    tasks = (Task.IDENTITY_INFERENCE, Task.IMAGE_TEXT)
    params = {"max_occurrences": 2}

    def train(self, trainer, data):
        import numpy as np

        keys = data.identity if "identity" in data.fields else data.caption
        keep = np.asarray(capped_rows(list(keys), int(self.params["max_occurrences"])), dtype=np.int64)
        self._counts = {"pairs_kept": int(len(keep)), "pairs_dropped": int(len(data) - len(keep))}
        return trainer.fit(data[keep])

    def report(self, trained):
        return dict(getattr(self, "_counts", {}))


@hookimpl
def register_defenses(register):
    register(Dedup)
