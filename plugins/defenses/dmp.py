"""``dmp``: Distillation for Membership Privacy (Shejwalkar & Houmansadr, AAAI 2021).

The paper's two models: an unprotected teacher θ_up trained on the private training data D_tr — *every member*,
so the members a DMP-protected model is scored on are exactly the teacher's training set — and the released
student θ_p, trained only on an unlabelled reference set X_ref labelled with the teacher's softened predictions
softmax(θ_up(x)/T) (the paper's knowledge transfer), so it never fits the private labels directly. X_ref is
population data the harness draws beside the training set (``reference_fraction`` × its size,
``trainer.reference``), disjoint from the members. The paper keeps the reference points whose teacher
predictions have the lowest entropy: ``keep_fraction`` of them (default 1.0 keeps all of them, i.e. the
selection is off by default, as in version 1). The student learns the soft labels at the same temperature
(softmax(θ_p(x)/T), the official ``train_pub``) and is released at T = 1. Version 2 trained it at T = 1 against
the teacher's softmax(·/T), so it learned logits about T times smaller and served much softer outputs (digits: median
top-1 0.59 against 0.998 undefended). Version 1 split the members in half (teacher-only, and student inputs) and was
scored on all of them as members.
"""

from bench import Defense, FitHooks, TrainedModel, hookimpl, reference_count, require_reference


class DMP(Defense):
    name = "dmp"
    version = "3"  # 3: the student learns the soft labels at temperature T; 2: teacher on every member, student on population reference data
    changes_training = True
    params = {"reference_fraction": 0.5, "temperature": 4.0, "keep_fraction": 1.0}

    def reference_size(self, train_size):
        return reference_count(self.params["reference_fraction"], train_size, who="dmp")

    def train(self, trainer, data):
        import time

        import numpy as np

        from bench.training import predict_logits

        start = time.perf_counter()
        reference = require_reference(trainer, "dmp")
        teacher = trainer.reseeded(trainer.seed + 7919).fit(data).module
        soft = _softmax(predict_logits(teacher, reference.x) / float(self.params["temperature"]))
        keep = _lowest_entropy(soft, float(self.params["keep_fraction"]))
        # The student sees reference inputs and the teacher's soft labels only (fit uses ``targets``, not y), and
        # learns them at the same temperature: KL(softmax(θ_up(x)/T) ‖ softmax(θ_p(x)/T)), as the official train_pub.
        student = trainer.fit(reference[keep], targets=soft[keep].astype(np.float32), hooks=_AtTemperature(float(self.params["temperature"])))
        teacher_acc = float((soft.argmax(1) == reference.y).mean())
        extras = {"n_private": len(data), "n_reference": int(len(keep)), "teacher_reference_accuracy": teacher_acc}
        return TrainedModel(student.module, time.perf_counter() - start, extras)


class _AtTemperature(FitHooks):
    """The student's loss on soft labels at temperature T: −Σ q · log softmax(z / T) (KL up to a constant)."""

    def __init__(self, temperature):
        self.t = temperature

    def training_loss(self, step, outputs, loss):
        import torch

        return -(step.targets * torch.log_softmax(outputs / self.t, dim=1)).sum(dim=1).mean()


def _softmax(z):
    import numpy as np

    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def _lowest_entropy(probs, fraction):
    """Indices (in data order) of the ``fraction`` of rows whose predictions have the lowest entropy."""
    import numpy as np

    if not 0 < fraction <= 1:
        raise ValueError(f"dmp: keep_fraction must be in (0, 1], not {fraction}")
    entropy = -(probs * np.log(np.maximum(probs, 1e-12))).sum(axis=1)
    n = max(1, int(round(fraction * len(probs))))
    return np.sort(np.argsort(entropy, kind="stable")[:n])


@hookimpl
def register_defenses(register):
    register(DMP)
