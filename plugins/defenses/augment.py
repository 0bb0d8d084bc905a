"""``augment``: random training-data augmentation (shifts; add mirror flips on tracks where they make sense).

The augmentations are added to whatever the track's recipe already uses.
"""

from bench import Defense, hookimpl

KNOWN = ("mirror", "shift")


class Augment(Defense):
    name = "augment"
    version = "1"
    changes_training = True
    batchable = True  # a recipe change only: shadow models may train stacked
    params = {"kinds": ["shift"]}

    def adapt_recipe(self, recipe):
        kinds = [self.params["kinds"]] if isinstance(self.params["kinds"], str) else list(self.params["kinds"])
        unknown = sorted(set(kinds) - set(KNOWN))
        if unknown:
            raise ValueError(f"augment: unknown augmentation(s) {unknown}; known: {', '.join(KNOWN)}")
        return recipe.replace(augment=tuple(dict.fromkeys([*recipe.augment, *kinds])))


@hookimpl
def register_defenses(register):
    register(Augment)
