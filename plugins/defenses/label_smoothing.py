"""``label-smoothing``: train on smoothed targets, (1 − s)·onehot + s/K, which caps the confidence a model learns."""

from bench import Defense, hookimpl


class LabelSmoothing(Defense):
    name = "label-smoothing"
    version = "1"
    changes_training = True
    batchable = True  # a recipe change only: shadow models may train stacked
    params = {"smoothing": 0.1}

    def adapt_recipe(self, recipe):
        return recipe.replace(label_smoothing=float(self.params["smoothing"]))


@hookimpl
def register_defenses(register):
    register(LabelSmoothing)
