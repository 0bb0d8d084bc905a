"""Tests for the model cache (bench._cache) and ``privbench cache ls|du|gc``."""

import json
import os
import time

import pytest
import torch
from click.testing import CliRunner

from bench._cache import ModelCache, parse_age, spec_key
from bench.cli import cli


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
    with pytest.warns(RuntimeWarning, match=rf"model cache entry {weights}"):  # by its digest, before parsing
        assert cache.load(key, _module) is None
    assert weights.with_name(weights.name + ".corrupt").exists()
    assert cache.load(key, _module) is None  # a clean miss now: the trainer retrains and saves again


def _entry(cache, key):
    weights, meta = cache._paths(key)
    return weights, meta


def test_another_models_entry_copied_into_a_key_is_refused_and_moved_aside(tmp_path):
    import shutil

    cache, keys = _fill(tmp_path, 2)
    (w0, m0), (w1, m1) = _entry(cache, keys[0]), _entry(cache, keys[1])
    shutil.copy(w1, w0)  # seed 1's weights under seed 0's key, seed 0's metadata kept
    with pytest.warns(RuntimeWarning, match=rf"{w0} does not match its key: its weights are not the ones saved with it"):
        assert cache.load(keys[0], lambda: torch.nn.Linear(4, 2)) is None
    assert not w0.exists() and w0.with_name(w0.name + ".corrupt").exists()
    cache.save(keys[0], torch.nn.Linear(4, 2), {"spec": _spec(0), "train_seconds": 1.5})  # retrained
    shutil.copy(w1, w0)
    shutil.copy(m1, m0)  # the whole entry of seed 1
    with pytest.warns(RuntimeWarning, match="does not match its key: its spec hashes to"):
        assert cache.load(keys[0], lambda: torch.nn.Linear(4, 2)) is None
    assert cache.load(keys[1], lambda: torch.nn.Linear(4, 2)) is not None  # the original is untouched
    with pytest.raises(ValueError, match="its spec hashes to"):
        cache.save(keys[0], torch.nn.Linear(4, 2), {"spec": _spec(1)})


def test_an_edited_or_unsigned_entry_is_refused(tmp_path):
    cache, keys = _fill(tmp_path, 1)
    w, m = _entry(cache, keys[0])
    meta = json.loads(m.read_text())
    m.write_text(json.dumps({**meta, "train_seconds": 0.01}))  # a cheaper charge for the shadow
    with pytest.warns(RuntimeWarning, match="metadata was edited after it was saved"):
        assert cache.load(keys[0], lambda: torch.nn.Linear(4, 2)) is None
    cache.save(keys[0], torch.nn.Linear(4, 2), {"spec": _spec(0), "train_seconds": 1.5})
    m.write_text(json.dumps({k: v for k, v in json.loads(m.read_text()).items() if k != "integrity"}))
    with pytest.warns(RuntimeWarning, match="no integrity digests"):
        assert cache.load(keys[0], lambda: torch.nn.Linear(4, 2)) is None
    assert cache.misses == 2 and cache.hits == 0


@pytest.mark.slow
def test_a_target_copied_from_seed_1_is_retrained_not_loaded(tmp_path):
    import shutil

    import numpy as np

    from bench.testing import make_session

    s = make_session(cache_dir=tmp_path / "cache")
    track, data, split = s.track("synthetic-blobs")
    factory = s.factory(type("C", (), {"track": "synthetic-blobs"})(), s.registry.defense("none"))
    _, meta0, _ = factory.get("target", split.members, 0)
    _, meta1, _ = factory.get("target", split.members, 1)
    w0, m0 = _entry(s.cache, meta0["key"])
    w1, m1 = _entry(s.cache, meta1["key"])
    shutil.copy(w1, w0)
    shutil.copy(m1, m0)
    with pytest.warns(RuntimeWarning, match="does not match its key"):
        module, meta, cached = factory.get("target", split.members, 0)
    assert not cached and meta["spec"]["seed"] == 0 and meta["key"] == meta0["key"]
    assert np.isfinite(meta["train_seconds"])
    s.close()


def test_spec_key_is_canonical():
    assert spec_key({"a": 1, "b": [1, 2]}) == spec_key({"b": [1, 2], "a": 1})
    assert spec_key({"a": 1}) != spec_key({"a": 2})


def _spec(i):
    return {"track": {"name": "synthetic-blobs"}, "role": "shadow" if i else "target", "defense": {"name": "none"}, "seed": i, "n_units": 10}


def _fill(root, n=3):
    cache = ModelCache(root)
    keys = [spec_key(_spec(i)) for i in range(n)]
    for i, key in enumerate(keys):
        cache.save(key, torch.nn.Linear(4, 2), {"spec": _spec(i), "train_seconds": 1.5})
    return cache, keys


def test_ls_du_list_every_entry(tmp_path):
    _fill(tmp_path)
    r = CliRunner().invoke(cli, ["cache", "--cache-dir", str(tmp_path), "ls", "--json"])
    assert r.exit_code == 0, r.output
    entries = json.loads(r.stdout)
    assert sorted(e["spec"]["seed"] for e in entries) == [0, 1, 2]
    r = CliRunner().invoke(cli, ["cache", "--cache-dir", str(tmp_path), "ls"])
    assert r.exit_code == 0 and "synthetic-blobs" in r.output and "shadow" in r.output
    r = CliRunner().invoke(cli, ["cache", "--cache-dir", str(tmp_path), "du", "--json"])
    u = json.loads(r.stdout)
    assert u["entries"] == 3 and u["bytes"] > 0
    assert {(g["role"], g["entries"]) for g in u["groups"]} == {("shadow", 2), ("target", 1)}


def test_gc_removes_debris_and_unused_but_not_fresh_writes(tmp_path):
    cache, keys = _fill(tmp_path)
    d = tmp_path / "models" / keys[0][:2]
    old = time.time() - 7200
    (d / ".x.safetensors.123.tmp").write_bytes(b"half")  # an interrupted write, two hours old
    os.utime(d / ".x.safetensors.123.tmp", (old, old))
    (d / ".y.json.456.tmp").write_bytes(b"writing")  # a writer still running
    (d / "dead.safetensors.corrupt").write_bytes(b"bad")
    orphan = d / ("ff" * 32 + ".safetensors")
    orphan.write_bytes(b"no meta")
    os.utime(orphan, (old, old))
    # entry 01 was last used 40 days ago; entry 02 is loaded now (touches it)
    meta01 = tmp_path / "models" / keys[1][:2] / (keys[1] + ".json")
    os.utime(meta01, (time.time() - 40 * 86400,) * 2)
    assert cache.load(keys[2], lambda: torch.nn.Linear(4, 2)) is not None

    dry = CliRunner().invoke(cli, ["cache", "--cache-dir", str(tmp_path), "gc", "--dry-run", "--unused-for", "30d"])
    assert dry.exit_code == 0 and "would remove" in dry.output
    assert (d / "dead.safetensors.corrupt").exists()
    r = CliRunner().invoke(cli, ["cache", "--cache-dir", str(tmp_path), "gc", "--unused-for", "30d"])
    assert r.exit_code == 0, r.output
    left = sorted(p.name for p in (tmp_path / "models").glob("*/*"))
    assert ".y.json.456.tmp" in left  # young temp file kept
    assert not any(n.endswith(".corrupt") or n == orphan.name or n == ".x.safetensors.123.tmp" for n in left)
    assert not meta01.exists() and not meta01.with_suffix(".safetensors").exists()
    assert sorted(e["spec"]["seed"] for e in cache.entries()) == [0, 2]


def test_parse_age():
    assert parse_age("30d") == 30 * 86400 and parse_age("2h") == 7200 and parse_age("1.5") == 1.5 * 86400
    with pytest.raises(ValueError):
        parse_age("soon")
