"""Training-time defenses reach the multimodal trainer: L2 through adapt_recipe, epoch hooks (early stopping) through fit."""

import numpy as np

from bench import Dataset, Task
from bench.testing import make_session


def test_l2_and_epoch_hooks_apply_to_the_multimodal_trainer():
    from plugins.tracks._mm_models import MultimodalTrainer

    registry = make_session().registry
    track = registry.track("synthetic-faces")
    l2 = registry.defense("l2", weight_decay=0.05)
    assert Task.IDENTITY_INFERENCE in l2.tasks and Task.IMAGE_TEXT in l2.tasks
    recipe = l2.adapt_recipe(track.recipe).replace(epochs=2)
    trainer = MultimodalTrainer(recipe, lambda: track.build_module(l2), seed=0)
    model = trainer.build_model()
    assert trainer.optimizer(model).param_groups[0]["weight_decay"] == 0.05
    rng = np.random.default_rng(0)
    data = Dataset(image=rng.normal(size=(8, 3, 16, 16)).astype(np.float32), caption=[f"a photo of p{i % 4}" for i in range(8)])
    seen = []
    trainer.fit(data, on_epoch=lambda epoch, m: seen.append(epoch))
    assert seen == [0, 1]


def test_defense_tasks_are_declared():
    registry = make_session().registry
    assert registry.defense("confusables").tasks == (Task.INTEGRITY, Task.IDENTITY_INFERENCE, Task.IMAGE_TEXT)
    assert registry.defense("multilingual").tasks == (Task.INTEGRITY,)
    assert set(registry.defense("dedup").tasks) == {Task.IDENTITY_INFERENCE, Task.IMAGE_TEXT}
