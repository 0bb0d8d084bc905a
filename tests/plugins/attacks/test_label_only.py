import numpy as np
import pytest

from bench.metrics import auc
from bench.testing import make_context, make_session, run_cell
from plugins.attacks.label_only import hsj_distance


class Spy:
    """Stands in for the target oracle: forwards labels, records every call."""

    def __init__(self, oracle):
        self.oracle = oracle
        self.calls: list[tuple[str, int]] = []

    def predict_labels(self, x):
        self.calls.append(("predict_labels", len(x)))
        return self.oracle.predict_labels(x)

    def predict_scores(self, x):  # pragma: no cover - must never be called
        self.calls.append(("predict_scores", len(x)))
        raise AssertionError("a label-only attack asked for scores")


@pytest.fixture(scope="module")
def session():
    return make_session()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["label-aug", "label-hsj"])
def test_label_only_attacks_never_ask_for_scores(session, name):
    ctx, is_member = make_context(name, track="synthetic-blobs", session=session)
    spy = Spy(ctx.target)
    ctx.target = spy
    scores = session.registry.attack(name).score(ctx)
    assert spy.calls and {c[0] for c in spy.calls} == {"predict_labels"}
    assert auc(scores, is_member) > 0.5
    assert ctx.threshold is not None
    # Through the harness, the oracle enforces the threat model: the cell is ok.
    assert run_cell(name, track="synthetic-blobs", session=session)["status"] == "ok"


@pytest.mark.slow
def test_hsj_search_stops_at_its_query_budget(session):
    for max_queries in (20, 45):
        ctx, _ = make_context("label-hsj", track="synthetic-blobs", session=session, max_queries=max_queries, calibration_points=0)
        spy = Spy(ctx.target)
        ctx.target = spy
        attack = session.registry.attack("label-hsj", max_queries=max_queries, calibration_points=0)
        attack.score(ctx)
        total = sum(n for _, n in spy.calls)
        n = len(ctx.candidates)
        assert total <= max_queries * n
        assert attack.queries_per_candidate <= max_queries
        assert total == attack.queries_per_candidate * n
        # It spends most of what it is given (a round does not fit in the remainder).
        assert attack.queries_per_candidate > max_queries - (16 + 5 + 8)


def test_hsj_finds_the_distance_to_a_linear_boundary():
    rng = np.random.default_rng(0)
    w = np.array([1.0, 2.0, -1.0, 0.5])
    w /= np.linalg.norm(w)

    def labels(x):
        return (x.reshape(len(x), -1) @ w > 0).astype(int)

    x = rng.normal(size=(50, 1, 2, 2)).astype(np.float32)
    y = labels(x)
    pool = type("Pool", (), {"x": rng.normal(size=(200, 1, 2, 2)).astype(np.float32), "y": None})()
    pool.y = labels(pool.x)
    params = {"binary_steps": 12, "grad_queries": 32}
    dist, used = hsj_distance(labels, x, y, pool, 200, params, rng)
    true = np.abs(x.reshape(50, -1) @ w)
    assert used <= 200
    assert np.median(np.abs(dist - true) / true) < 0.1
