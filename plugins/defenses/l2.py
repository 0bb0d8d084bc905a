"""``l2``: weight decay (L2 regularization) during training."""

from bench import Defense, Task, hookimpl


class L2(Defense):
    name = "l2"
    version = "1"
    changes_training = True
    batchable = True  # a recipe change only: shadow models may train stacked
    tasks = tuple(Task)  # every trainer honours the recipe's weight decay
    params = {"weight_decay": 5e-3}

    def adapt_recipe(self, recipe):
        return recipe.replace(weight_decay=float(self.params["weight_decay"]))


@hookimpl
def register_defenses(register):
    register(L2)
