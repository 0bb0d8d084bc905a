"""Hold-out splits for defenses (bench._holdout): seeded, disjoint, exhaustive, and loud when nothing is left."""

import numpy as np
import pytest

from bench import Dataset, hold_out, random_parts


def _data(n=50):
    return Dataset(x=np.arange(n) * 10, y=np.arange(n) % 3)


def test_hold_out_is_a_seeded_partition_in_data_order():
    held, rest = hold_out(_data(), 0.2, seed=4, salt=0xE5)
    assert len(held) == 10 and len(rest) == 40
    assert sorted(np.concatenate([held.x, rest.x]).tolist()) == list(range(0, 500, 10))
    assert (np.diff(held.x) > 0).all() and (np.diff(rest.x) > 0).all()  # each part keeps data order
    again, _ = hold_out(_data(), 0.2, seed=4, salt=0xE5)
    other_seed, _ = hold_out(_data(), 0.2, seed=5, salt=0xE5)
    other_salt, _ = hold_out(_data(), 0.2, seed=4, salt=0xAD)
    assert np.array_equal(held.x, again.x)
    assert not np.array_equal(held.x, other_seed.x) and not np.array_equal(held.x, other_salt.x)


def test_hold_out_keeps_at_least_one_row_and_refuses_an_empty_rest():
    held, rest = hold_out(_data(10), 0.01, seed=0, salt=1)
    assert len(held) == 1 and len(rest) == 9
    with pytest.raises(ValueError, match="dmp: holding out 1.0 of 10 rows leaves nothing to train on"):
        hold_out(_data(10), 1.0, seed=0, salt=1, who="dmp")


def test_random_parts_match_the_stacking_split():
    data = _data(11)
    parts = random_parts(data, [4, 4, 3], seed=7, salt=0x57)
    perm = np.random.default_rng([7, 0x57]).permutation(11)
    expected = [np.sort(p) * 10 for p in np.array_split(perm, 3)]
    assert [p.x.tolist() for p in parts] == [e.tolist() for e in expected]
    with pytest.raises(ValueError, match="do not partition 11 rows"):
        random_parts(data, [4, 4], seed=7, salt=0x57)


def test_docstring_example():
    import doctest

    import bench._holdout

    result = doctest.testmod(bench._holdout)
    assert result.attempted > 0 and result.failed == 0
