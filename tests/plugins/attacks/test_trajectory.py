import numpy as np
import pytest

from bench.metrics import auc
from bench.testing import make_context, make_session


@pytest.fixture(scope="module")
def session():
    return make_session()


@pytest.mark.slow
@pytest.mark.parametrize("epochs", [3, 20])
def test_trajectory_length_is_fixed_by_the_parameter(session, epochs):
    ctx, is_member = make_context("trajectory", track="synthetic-blobs", session=session, distill_epochs=epochs)
    scores = session.registry.attack("trajectory", distill_epochs=epochs).score(ctx)
    traj = ctx.exports["trajectory"]
    # One loss per distillation epoch, then the target's own loss: nothing chosen from the target's truth.
    assert traj.shape == (len(ctx.candidates), epochs + 1)
    assert np.isfinite(traj).all() and (traj >= 0).all()
    assert ctx.budget.used["shadow_models"] == 1
    assert np.isfinite(scores).all()
    if epochs == 20:
        assert auc(scores, is_member) > 0.55


def test_a_trajectory_is_the_students_loss_per_distillation_epoch_then_the_teachers(fake_context):
    import types

    from bench import Candidates
    from bench.signals import cross_entropy
    from plugins.attacks.trajectory import TrajectoryMIA

    rng = np.random.default_rng(0)
    d = Candidates(x=rng.normal(size=(32, 1, 2, 2)).astype(np.float32), y=rng.integers(0, 3, 32))
    points = Candidates(x=rng.normal(size=(5, 1, 2, 2)).astype(np.float32), y=np.array([0, 1, 2, 0, 1]))
    teacher_d, teacher_points = rng.dirichlet(np.ones(3), 32), rng.dirichlet(np.ones(3), 5)
    track = types.SimpleNamespace(input_shape=(1, 2, 2), num_classes=3)
    traj = TrajectoryMIA(distill_epochs=3).trajectories(teacher_d, d, points, teacher_points, fake_context(points, None, track=track))
    assert traj.shape == (5, 4) and (traj > 0).all()
    np.testing.assert_allclose(traj[:, -1], cross_entropy(teacher_points, points.y))


def test_in_the_pool_design_the_distillation_set_comes_from_the_population_never_the_candidates(monkeypatch):
    """Version 1 took D (the students' distillation data) from the shadow's OUT pool points; in LiRA's pool design that
    pool is the target's candidates, so a quarter of them, half the target's members, were distilled on and scored."""
    import types

    import plugins.attacks._shared as shared
    from bench._api import Candidates
    from bench._context import Shadows
    from plugins.attacks.trajectory import TrajectoryMIA

    n = 40
    cands = Candidates(x=np.arange(n, dtype=float)[:, None], y=np.zeros(n, dtype=int))
    population = Candidates(x=np.arange(n, 3 * n, dtype=float)[:, None], y=np.zeros(2 * n, dtype=int))
    keep = (np.arange(n) % 2 == 0)[None]
    shadow = types.SimpleNamespace(predict_scores=lambda x: np.tile([0.9, 0.1], (len(x), 1)))
    ctx = types.SimpleNamespace(candidates=cands, population=population, rng=np.random.default_rng(0), seed=0,
                                shadows=lambda k, online=False: Shadows([shadow], keep, cands, n), target=shadow,
                                export=lambda *a: None, set_threshold=lambda t: None)
    seen = []

    def trajectories(self, teacher_probs_d, d, points, teacher_probs_points, ctx):
        seen.append(np.asarray(d.x)[:, 0])
        return np.ones((len(points), 3))

    monkeypatch.setattr(TrajectoryMIA, "trajectories", trajectories)
    monkeypatch.setattr(shared, "fit_attack_model", lambda *a, **k: None)
    monkeypatch.setattr(shared, "member_probability", lambda model, feats: np.zeros(len(feats)))
    TrajectoryMIA().score(ctx)
    assert len(seen) == 2 and all(len(d) == n // 4 and (d >= n).all() for d in seen)  # population rows only
