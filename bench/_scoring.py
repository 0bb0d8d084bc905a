"""How the harness runs an attack's ``score`` in a thread, checks what comes back, and turns scores into metrics.

:func:`metrics_from_arrays` is the one function that derives a cell's metrics from its per-candidate arrays (what
``scores/<run_id>.npz`` holds): ``privbench leaderboard submit`` recomputes every published number through it.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Mapping

import numpy as np

from ._api import Attack, BudgetExceeded, ThreatModelViolation

__all__ = ["score_in_thread", "check_scores", "check_metrics", "metrics_from_arrays"]


def score_in_thread(attack: Attack, ctx: Any, ledger: Any, limit_seconds: float, grace: float) -> tuple[str, str | None, Any]:
    """Run ``attack.score(ctx)`` in a harness thread (unit tests, plugin development); a hang is abandoned after
    the budget plus ``grace``. Returns (status, error, output)."""
    ctx.isolation = {"mode": "thread", "sandbox": None, "sandboxed": False}
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["out"] = attack.score(ctx)
        except BaseException as exc:  # reported in the record, never raised into the grid
            box["exc"] = exc
            box["tb"] = traceback.format_exc(limit=-4)

    thread = threading.Thread(target=work, name=f"attack-{attack.name}", daemon=True)
    thread.start()
    wait = limit_seconds * 1.1 + grace
    thread.join(wait)
    if thread.is_alive():
        ledger.stop("timed out")  # any later query by the abandoned thread raises
        return "timeout", f"attack {attack.name!r} did not return within {wait:.0f} s (budget {limit_seconds:g} device-seconds); abandoned", None
    exc = box.get("exc")
    if exc is None:
        return "ok", None, box.get("out")
    if isinstance(exc, BudgetExceeded):
        return "over_budget", str(exc), None
    if isinstance(exc, ThreatModelViolation):
        return "failed", f"threat-model violation: {exc}", None
    return "failed", f"attack {attack.name!r} raised {type(exc).__name__}: {exc}\n{box.get('tb', '')}".rstrip(), None


def check_scores(name: str, output: Any, n: int) -> np.ndarray:
    try:
        scores = np.asarray(output, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"attack {name!r} returned {type(output).__name__}, not an array of {n} numbers") from None
    if scores.shape != (n,):
        raise ValueError(f"attack {name!r} returned scores of shape {scores.shape}, expected ({n},): one per candidate")
    bad = ~np.isfinite(scores)
    if bad.any():
        raise ValueError(f"attack {name!r} returned {int(bad.sum())} non-finite scores (NaN/inf) of {n}, e.g. at candidate {int(np.argmax(bad))}")
    return scores


def check_metrics(name: str, output: Any) -> dict[str, float]:
    if not isinstance(output, Mapping) or not output:
        raise ValueError(f"attack {name!r} on an integrity track must return a non-empty dict of metrics, got {type(output).__name__}")
    out = {}
    for k, v in output.items():
        if _harness_metric(str(k)):
            raise ValueError(f"attack {name!r} returned metric {k!r}, a name of the harness's own (membership or utility) metrics, which only"
                             " the harness computes; name an integrity metric after what it measures")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"attack {name!r} returned metric {k!r} = {v!r}, not a number") from None
        if not np.isfinite(f):
            raise ValueError(f"attack {name!r} returned a non-finite metric {k!r} = {f}")
        out[str(k)] = f
    return out


def _harness_metric(key: str) -> bool:
    """Metric names the harness computes itself (membership rates and intervals, utility): views rank attacks by them."""
    from ._metric_specs import METRICS, UTILITY

    base = key[: -len("_ci")] if key.endswith("_ci") else key
    return base in METRICS or base in UTILITY or base.startswith(("tpr", "fpr"))


def metrics_from_arrays(arrays: Mapping[str, Any], *, seed: int, threshold: float | None = None, n_boot: int = 200) -> dict[str, Any]:
    """A membership cell's metrics from its per-candidate arrays: ``scores`` against ``is_member``.

    ``is_member`` must be the harness's own ground truth (the split, never a submitter's file). ``seed`` seeds the
    AUC bootstrap (the cell's seed, as the runner does). ``threshold`` is the attack's shadow-calibrated operating
    point (``arrays["threshold"]`` when the arrays carry it): with one, ``balanced_accuracy`` and ``fpr_nonmembers``
    are computed, without one they are absent. Pool-design arrays (with ``target``, and the scenario sets' scores)
    get every metric the runner computed: pooled ROC metrics, the harness's operating points and ``fpr_<set>``.
    """
    from .metrics import membership_metrics

    if "target" in arrays:  # LiRA's pool design: pooled over targets, the harness's operating points
        from ._pool_cell import evaluation_metrics, runs_from_arrays

        return evaluation_metrics(runs_from_arrays(arrays), seed)[0]
    scores = np.asarray(arrays["scores"], dtype=np.float64)  # membership_metrics refuses NaN/inf and a length mismatch
    truth = np.asarray(arrays["is_member"], dtype=bool)
    if threshold is None and arrays.get("threshold") is not None:
        threshold = float(np.asarray(arrays["threshold"]))
    out = membership_metrics(scores, truth, threshold=threshold, seed=seed, n_boot=n_boot)
    if threshold is None:
        out.pop("balanced_accuracy")
    else:
        out["fpr_nonmembers"] = float(np.mean(scores[~truth] >= threshold))
    return out
