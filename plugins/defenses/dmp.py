"""``dmp``: Distillation for Membership Privacy (Shejwalkar & Houmansadr, AAAI 2021).

A teacher is trained on the private part of the data; the released student is trained only on a reference
set, labelled with the teacher's softened predictions (temperature ``temperature``), so it never fits the
private labels directly. The defender has no data outside the recipe's training set, so the reference set is
``1 − private_fraction`` of it (its labels are discarded); the reference inputs the teacher is least sure about
are not filtered here (the paper's low-entropy selection is skipped for simplicity).
"""

from bench import Dataset, Defense, TrainedModel, hold_out, hookimpl


class DMP(Defense):
    name = "dmp"
    version = "1"
    changes_training = True
    params = {"private_fraction": 0.5, "temperature": 4.0}

    def train(self, trainer, data):
        import time

        import numpy as np

        from bench.training import predict_logits

        start = time.perf_counter()
        private, reference = hold_out(data, float(self.params["private_fraction"]), seed=trainer.seed, salt=0xD3, who="dmp")
        teacher = trainer.reseeded(trainer.seed + 7919).fit(private).module
        z = predict_logits(teacher, reference.x) / float(self.params["temperature"])
        z -= z.max(axis=1, keepdims=True)
        soft = np.exp(z)
        soft /= soft.sum(axis=1, keepdims=True)
        # The student sees reference inputs and soft labels only (y kept for the Dataset's shape; fit uses `targets`).
        student = trainer.fit(Dataset(x=reference.x, y=reference.y), targets=soft.astype(np.float32))
        teacher_acc = float((soft.argmax(1) == reference.y).mean())
        return TrainedModel(student.module, time.perf_counter() - start, {"n_private": len(private), "n_reference": len(reference), "teacher_reference_accuracy": teacher_acc})


@hookimpl
def register_defenses(register):
    register(DMP)
