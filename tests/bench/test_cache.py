import numpy as np
import pytest
import torch

from bench._cache import ModelCache, spec_key


def _module(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 3))


def test_roundtrip_and_counters(tmp_path):
    cache = ModelCache(tmp_path)
    key = spec_key({"a": 1})
    assert cache.load(key, _module) is None and cache.misses == 1
    m = _module(1)
    cache.save(key, m, {"train_seconds": 1.5})
    loaded, meta = cache.load(key, _module)
    assert cache.hits == 1 and meta["train_seconds"] == 1.5 and meta["key"] == key
    for a, b in zip(m.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    assert [e["key"] for e in cache.entries()] == [key]
    assert not list(tmp_path.rglob("*.tmp"))  # no temporary files left behind


def test_corrupt_entry_is_named_moved_aside_and_missed(tmp_path):
    cache = ModelCache(tmp_path)
    key = spec_key({"b": 2})
    cache.save(key, _module(), {"train_seconds": 1.0})
    weights = next(tmp_path.rglob("*.safetensors"))
    weights.write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning, match=rf"corrupt model cache entry {weights}"):
        assert cache.load(key, _module) is None
    assert weights.with_name(weights.name + ".corrupt").exists()
    assert cache.load(key, _module) is None  # a clean miss now: the trainer retrains and saves again


def test_spec_key_is_canonical():
    assert spec_key({"a": 1, "b": [1, 2]}) == spec_key({"b": [1, 2], "a": 1})
    assert spec_key({"a": 1}) != spec_key({"a": 2})
