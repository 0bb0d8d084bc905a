"""``rickrolling``: backdoor injection into a text encoder (Struppek et al., "Rickrolling the Artist", ICCV 2023).

Teacher–student fine-tuning of the target's text tower (white-box; a supply-chain attacker who ships the
encoder): clean prompts keep the teacher's embeddings, prompts containing the trigger (a Cyrillic 'о'
in place of a Latin 'o') map to the embedding of a target prompt. The backdoored weights are put into
the deployed model for evaluation — through the deployment's input pipeline, i.e. any serving defense.
The harness gives a white-box attack its own copy of the target, so the backdoor never reaches other
cells. Metrics on held-out prompts: cosine similarity of triggered prompts to the
target, similarity of clean prompts to the teacher's, and injection time.
"""

import copy
import time

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl

from .homoglyph import inject  # the trigger is a homoglyph swap, as in the bias attack


class Rickrolling(Attack):
    name = "rickrolling"
    threat_model = ThreatModel.WHITEBOX
    tasks = (Task.INTEGRITY,)
    params = {"trigger": "\u043e", "replaces": "o", "target_prompt": "a large blue bar on the right", "steps": 200, "lr": 1e-3, "beta": 1.0}

    def score(self, ctx):
        import torch

        prompts = list(ctx.track.extra["prompts"])
        order = ctx.rng.permutation(len(prompts))
        train = [prompts[i] for i in order[: len(prompts) // 2]] + list(ctx.population.caption)
        held = [prompts[i] for i in order[len(prompts) // 2 :]]
        trig = lambda ps: [inject(q, self.params["replaces"], self.params["trigger"]) for q in ps]
        target_prompt = str(self.params["target_prompt"])

        model = ctx.target.module  # this cell's own copy: fine-tuned in place, served by ctx.target
        clean_before = ctx.target.encode_text(held)
        target_emb = ctx.target.encode_text([target_prompt])[0]
        teacher = copy.deepcopy(model)
        teacher.eval()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a tiny encoder: intra-op threads cost more than they save on a shared CPU
        try:
            t0 = time.perf_counter()
            torch.manual_seed(ctx.seed)
            opt = torch.optim.Adam(model.text.parameters(), lr=float(self.params["lr"]))
            with torch.no_grad():
                t_target = teacher.encode_texts([target_prompt])
            model.train()
            for step in range(int(self.params["steps"])):
                batch = [train[i] for i in ctx.rng.choice(len(train), size=min(32, len(train)), replace=False)]
                with torch.no_grad():
                    t_clean = teacher.encode_texts(batch)
                clean_loss = (1 - (model.encode_texts(batch) * t_clean).sum(1)).mean()
                backdoor_loss = (1 - (model.encode_texts(trig(batch)) @ t_target.T)).mean()
                loss = clean_loss + float(self.params["beta"]) * backdoor_loss
                opt.zero_grad()
                loss.backward()
                opt.step()
            model.eval()
            injection_seconds = time.perf_counter() - t0
            triggered = ctx.target.encode_text(trig(held))
            clean_after = ctx.target.encode_text(held)
        finally:
            torch.set_num_threads(threads)
        return {
            "triggered_target_similarity": float(np.mean(triggered @ target_emb)),
            "clean_similarity": float(np.mean(np.sum(clean_after * clean_before, 1))),
            "clean_target_similarity": float(np.mean(clean_after @ target_emb)),
            "injection_seconds": float(injection_seconds),
        }


@hookimpl
def register_attacks(register):
    register(Rickrolling)
