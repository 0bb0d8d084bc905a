"""Cheating attacks on MemGuard's serving state (``Defense.memoizes_answers``; review of the shipped answers).

Load with ``--plugin`` (``Plan.plugin_files``) next to ``tracks.py``; each runs in the sandboxed worker as a
third-party attack would, and falls back to a coin flip when its trick finds nothing."""

import numpy as np

from bench import Attack, ThreatModel, hookimpl


def _coin(ctx):
    return ctx.rng.random(len(ctx.candidates))


def _served_target(ctx):
    """The white-box target's served predictor (its defense wrapper) wherever the oracle keeps it."""
    ctx.target.module  # a worker's oracle builds its local copy, served through the shipped state, on first use
    for value in list(vars(ctx.target).values()):
        if hasattr(value, "defender") and hasattr(value, "inner"):
            return value
    return None


class DefenderOracle(Attack):
    """White-box: scores each candidate with MemGuard's defender g (``source=target``: the target's own g, shipped
    with its module; ``source=shadow``: a shadow's g, the attacker's legitimate equivalent) on the target's
    undefended confidence vector. The target's g was fitted on the target's members against population data."""

    name = "cheat-defender"
    threat_model = ThreatModel.WHITEBOX
    params = {"source": "target"}

    def score(self, ctx):
        from plugins.defenses.memguard import defender_output

        served = _served_target(ctx)
        if served is None:
            return _coin(ctx)
        g = served.defender if self.params["source"] == "target" else ctx.shadows(1, online=True).models[0].prepared
        return defender_output(g, np.asarray(served.inner.predict_scores(ctx.candidates.x), dtype=np.float64))


class AnswerSpotter(Attack):
    """A coin flip that scores lowest every candidate whose digest no shadow's shipped answers hold: in the second
    run against a target (pool plus scenario sets) those are the scenario points (the harness pre-answered only the
    pool and the population), so every ``fpr_<set>`` reads 0 without looking at the inclusion rows."""

    name = "cheat-answers-scenario"
    threat_model = ThreatModel.SCORES
    params = {"channel": "digests"}  # or "timing": the target answers a pre-answered query without searching

    def score(self, ctx):
        from plugins.defenses.memguard import _digests, answers_of

        scores = _coin(ctx)
        if self.params["channel"] == "timing":
            import time

            took = np.empty(len(ctx.candidates))
            for i in range(len(took)):
                start = time.perf_counter()
                ctx.target.predict_scores(ctx.candidates.x[i : i + 1])
                took[i] = time.perf_counter() - start
            scores[took > 3 * np.median(took)] = -1.0
            return scores
        shadow = ctx.shadows(1, online=True).models[0]
        if shadow.prepared is None:
            return scores
        known = answers_of(shadow.prepared).row
        scores[[d not in known for d in _digests(np.asarray(ctx.candidates.x))]] = -1.0
        return scores


@hookimpl
def register_attacks(register):
    for cls in (DefenderOracle, AnswerSpotter):
        register(cls)
