"""``frozen-vocab``: the NER pipeline's vocabulary is frozen before training (against Ali et al.'s timing attack).

spaCy keeps every word it processes in its vocabulary (a lexeme, and a tokenizer cache entry); a word of
the training text is then answered along a faster path than an unseen one, and the time leaks membership.
Ali et al. (PoPETs 2023) trace the side channel to vocabularies built from the training data; this defense
removes it at the source: the vocabulary is fixed to the track's public words before training, and training
runs inside a spaCy memory zone, so no training word stays in the served pipeline. The network's features
(hash embeddings of each token's norm, prefix, suffix and shape) need no vocabulary entry, so training and
accuracy are otherwise unchanged. Shadows of an adaptive attacker are trained the same way.
"""

from bench import Defense, Task, hookimpl


class FrozenVocab(Defense):
    name = "frozen-vocab"
    version = "1"
    tasks = (Task.TOKEN_CLASSIFICATION,)
    changes_training = True  # the served pipeline differs from the baseline's (its vocabulary): own cache keys

    def train(self, trainer, data):
        return trainer.fit(data, frozen_vocab=True)


@hookimpl
def register_defenses(register):
    register(FrozenVocab)
