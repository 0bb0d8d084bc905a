"""EAT on synthetic-faces: finds a planted group–word association, not an absent one."""

import pytest

from bench.testing import make_context, make_session

pytestmark = pytest.mark.slow


def eat_on(association):
    session = make_session(params={"synthetic-faces": {"association": association}})
    ctx, _ = make_context("eat", track="synthetic-faces", session=session)
    return session.registry.attack("eat").score(ctx)


def test_planted_association_is_found():
    m = eat_on("planted")
    assert m["eat_p_value"] < 0.01 and m["eat_effect_size"] > 0.4, m
    assert m["n_x"] >= 50 and m["n_y"] >= 50


def test_absent_association_is_not_found():
    m = eat_on("absent")
    assert m["eat_p_value"] > 0.05, m


def test_missing_groups_are_named():
    session = make_session()
    ctx, _ = make_context("eat", track="synthetic-faces", session=session)
    with pytest.raises(ValueError, match="no field 'group'"):
        session.registry.attack("eat").score(ctx)
