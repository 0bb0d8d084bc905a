"""``dropout``: dropout before the classifier head during training (ML-Leaks' first defense)."""

from bench import Defense, hookimpl


class Dropout(Defense):
    name = "dropout"
    version = "1"
    changes_training = True
    batchable = True  # a recipe change only: shadow models may train stacked
    params = {"p": 0.5}

    def adapt_recipe(self, recipe):
        return recipe.replace(dropout=float(self.params["p"]))


@hookimpl
def register_defenses(register):
    register(Dropout)
