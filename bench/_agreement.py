"""When a reproduction agrees with a published cell: the entry's own intervals, never a number written in it.

Agreement, per metric (AUC, TPR@0.1%FPR, TPR@1%FPR, test accuracy): the published value's 95% interval and the
reproduction's overlap. A reproduction on a fresh split estimates the same quantity from another sample, so two
honest intervals should overlap but for bad luck (1 in 200 per metric, were the intervals exact: see below for what
they leave out); an edited value lands outside.

The published interval is one the harness can vouch for, whatever the file says:

- a TPR or the test accuracy: Clopper–Pearson on the published value at the reproduction's sample size (members,
  resp. the distinct held-out examples, at most the pool on a pool design: the same track gives the same sizes, so an
  edited ``n_members`` widens nothing);
- the AUC: the entry's bootstrap interval, but reaching no further below (above) the published value than the
  reproduction's interval reaches below (above) its own (same sample sizes, comparable widths), so a widened interval
  cannot absorb any reproduction.

The reproduction's interval is then widened, where its targets disagree more than the binomial count allows, to
at least ± √2 t(0.975, T − 1) × the standard error of the mean over its T targets (sd of its ``per_target`` values /
√T; √2 for the difference of two runs): a cell's decisions are clustered by target, so Clopper–Pearson on the pooled
counts is too narrow. Only the reproduction's spread counts (an entry's ``per_target`` is the submitter's); it is
capped at 3 binomial half-widths, each side reaches no further than the reproduction's targets did, and it is used
only for an entry within what they reached: the spread is the submitter's doing (the attack's scores, the defense's
models). Version 1 widened both intervals symmetrically: an attack that returned random scores on 1 of 8 targets of
its verification (TPR@1%FPR 0.10 on the others) got a forged 0.125 to agree. What stays out is the variance shared by
all targets of one run (one pool draw, the randomness of an attack's own trained model): on the digits cpu board
republished from 2deae5f (official, seed 0 against seed 1 of each of its 240 cells, both ways) 40 of 480 honest pairs
still "differ" (TPR@1%FPR 25, TPR@0.1%FPR 11, AUC 6; 33 with the symmetric widening; test accuracy 224 before it was
counted on the pool's distinct examples), so a "differs" is a reason to look, not proof of an edit.
"""

from __future__ import annotations

import math
from typing import Any

from ._record import Record, finite_number

__all__ = ["AGREEMENT_METRICS", "agreement", "accepted_verification", "same_spec", "target_se"]

# The widening is at most CAP x the reproduction's binomial half-width. On the digits cpu republish (144 cells, seed 0
# against seed 1) no honest pair needs more: capped at 3, the false "differs" are those of the uncapped rule; at 2,
# 4 more of 288 ordered pairs.
CAP = 3.0
AGREEMENT_METRICS = ("auc", "tpr@0.1%fpr", "tpr@1%fpr", "test_accuracy")


def _value(rec: Record, key: str) -> float | None:
    v = rec.utility.test_accuracy if key == "test_accuracy" else rec.metric(key)
    return float(v) if finite_number(v) else None


def _pair(value: Any) -> tuple[float, float] | None:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (lo, hi) if lo <= hi else None


def _rate_interval(value: float, n: int) -> tuple[float, float]:
    from .metrics import clopper_pearson

    return clopper_pearson(int(round(value * n)), n)


def _held_out(reproduced: Record) -> float | None:
    """The test accuracy's sample size: the distinct held-out examples the reproduction's targets were scored on. On a
    pool design each of T targets is scored on its half of one pool of 2N, so the T × N pooled non-members hold at most
    2N distinct examples: counted T × N, the interval was about √(T/2) too narrow (digits cpu, an honest official
    re-run of none/loss: 0.963 against a published 0.945 [0.938, 0.952])."""
    n = reproduced.metric("n_nonmembers")
    design = reproduced.design or {}
    pool = design.get("pool") if design.get("kind") == "lira-pool" else None
    if n and isinstance(pool, int) and pool > 0:
        return min(n, pool)
    return n


def _target_values(reproduced: Record, key: str) -> list[float]:
    return [float(t[key]) for t in reproduced.per_target or () if finite_number(t.get(key))]


def target_se(reproduced: Record, key: str) -> float:
    """Standard error of the mean of ``key`` over the reproduction's targets (0 with fewer than two)."""
    values = _target_values(reproduced, key)
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return (sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values)) ** 0.5


def _t975(reproduced: Record, key: str) -> float:
    n = len(_target_values(reproduced, key))
    if n < 2:
        return 0.0
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1))


def _target_range(reproduced: Record, key: str, ci: tuple[float, float]) -> tuple[float, float]:
    """What the reproduction's targets reached: from its lowest to its highest, each widened by one target's sampling
    interval (``ci``, the pooled one, is √T narrower)."""
    values = _target_values(reproduced, key)
    if len(values) < 2:
        return -math.inf, math.inf
    n = reproduced.metric("n_members")
    if key == "auc" or not n:
        half = (ci[1] - ci[0]) / 2 * math.sqrt(len(values))
        return min(values) - half, max(values) + half
    each = max(1, int(n) // len(values))
    return _rate_interval(min(values), each)[0], _rate_interval(max(values), each)[1]


def _intervals(published: Record, reproduced: Record, key: str) -> tuple[tuple[float, float], tuple[float, float]] | None:
    old, new = _value(published, key), _value(reproduced, key)
    if old is None or new is None:
        return None
    if key == "auc":
        ci = _pair(reproduced.metrics.get("auc_ci")) or (new, new)
        lo, hi = _pair(published.metrics.get("auc_ci")) or (old, old)
        pair = (max(lo, old - (new - ci[0])), min(hi, old + (ci[1] - new))), ci
    else:
        n = _held_out(reproduced) if key == "test_accuracy" else reproduced.metric("n_members")
        if not n:
            return None
        pair = _rate_interval(old, int(n)), _rate_interval(new, int(n))
    # at most CAP x the binomial half-width: the spread is the submitter's doing (the attack's scores, the defense's
    # models), and a plugin that protects or fails some targets on purpose must not buy an entry any claim it likes;
    # nor may an entry beyond what the reproduction's targets reached use it
    # √2: the widening covers the spread of a difference of two runs, and only the reproduction's interval widens
    half = min(math.sqrt(2) * _t975(reproduced, key) * target_se(reproduced, key), CAP * (pair[1][1] - pair[1][0]) / 2)
    lo, hi = _target_range(reproduced, key, pair[1])
    if not lo <= old <= hi:  # beyond what its targets reached: the widening is not the entry's to use
        return pair
    # each side no further than the reproduction's targets reached: a plugin that sabotages one target of the
    # verification spreads its targets downwards only, and must not widen the reproduction upwards to a forged value
    values = _target_values(reproduced, key)
    up, down = (max(0.0, min(half, max(values) - new)), max(0.0, min(half, new - min(values)))) if values else (0.0, 0.0)
    return pair[0], (min(pair[1][0], new - down), max(pair[1][1], new + up))


def agreement(published: Record, reproduced: Record) -> dict[str, Any]:
    """``{"agree": bool, "metrics": {key: {published, published_interval, reproduced, reproduced_interval, agree}}}``."""
    out: dict[str, Any] = {}
    for key in AGREEMENT_METRICS:
        pair = _intervals(published, reproduced, key)
        if pair is None:
            out[key] = {"published": _value(published, key), "reproduced": _value(reproduced, key), "agree": False}
            continue
        (a, b), (c, d) = pair
        out[key] = {"published": _value(published, key), "published_interval": [a, b],
                    "reproduced": _value(reproduced, key), "reproduced_interval": [c, d], "agree": bool(max(a, c) <= min(b, d))}
    return {"agree": bool(reproduced.ok and all(m["agree"] for m in out.values())), "metrics": out}


def same_spec(published: Record, reproduced: Record) -> str | None:
    """None if the reproduction ran the published cell (track, tier, plugins and resolved params), else what differs.

    The plugin too: an entry may name another plugin's attack under an installed one's name (the submitter disabled
    the installed one); the reproduction then ran the installed plugin, not the submitter's code."""
    def spec(r: Record) -> dict[str, Any]:
        return {"track": (r.track.name, r.track.version), "tier": r.budget.tier, "seed": r.seed,
                "attack": (r.attack.name, r.attack.plugin, r.attack.version, dict(r.attack.params)),
                "defense": (r.defense.name, r.defense.plugin, r.defense.version, dict(r.defense.params))}

    a, b = spec(published), spec(reproduced)
    diff = [k for k in a if a[k] != b[k]]
    if published.attack.threat_model not in (None, reproduced.attack.threat_model):  # the board it is ranked on
        diff.append("attack's threat model")
    return f"the reproduction's {', '.join(diff)} differ from the entry's" if diff else None


def accepted_verification(published: Record, data: dict[str, Any]) -> str | None:
    """None if a verification file vouches for ``published``, else why not.

    It must hold an ``ok`` official reproduction (split seed drawn at run time, a split other than the entry's, the
    attack sandboxed) of the same cell, and agree with the entry by :func:`agreement`, recomputed here from the two records (a stored
    ``agree`` flag counts for nothing)."""
    try:
        reproduced = Record.from_dict(data["record"], "a verification")
    except (KeyError, TypeError, ValueError) as exc:
        return f"no readable reproduced record ({exc})"
    if data.get("run_id") != published.run_id:
        return "it verifies another cell"
    if not (reproduced.ok and reproduced.official and isinstance(reproduced.track.split_seed, int)):
        return "not an ok official run (split drawn at run time, cold cache)"
    box = reproduced.isolation or {}
    if not box.get("sandboxed") or box.get("private_tmp") is False:  # unsandboxed, the attack can read the drawn seed
        return "the reproduction's attack did not run sandboxed (verify --sandbox off, or no sandbox on that machine)"
    if reproduced.track.split_sha256 == published.track.split_sha256:
        return "it re-used the entry's split instead of a fresh one"
    differs = same_spec(published, reproduced)
    if differs:
        return differs
    return None if agreement(published, reproduced)["agree"] else "the reproduction does not agree within the intervals"
