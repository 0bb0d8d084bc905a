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
    with pytest.warns(RuntimeWarning, match=rf"corrupt model cache entry {weights}"):
        assert cache.load(key, _module) is None
    assert weights.with_name(weights.name + ".corrupt").exists()
    assert cache.load(key, _module) is None  # a clean miss now: the trainer retrains and saves again


def test_spec_key_is_canonical():
    assert spec_key({"a": 1, "b": [1, 2]}) == spec_key({"b": [1, 2], "a": 1})
    assert spec_key({"a": 1}) != spec_key({"a": 2})


def _fill(root, n=3):
    cache = ModelCache(root)
    for i in range(n):
        m = torch.nn.Linear(4, 2)
        spec = {"track": {"name": "synthetic-blobs"}, "role": "shadow" if i else "target", "defense": {"name": "none"}, "seed": i, "n_units": 10}
        cache.save(f"{i:02d}" + "ab" * 31, m, {"spec": spec, "train_seconds": 1.5})
    return cache


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
    cache = _fill(tmp_path)
    d = tmp_path / "models" / "00"
    old = time.time() - 7200
    (d / ".x.safetensors.123.tmp").write_bytes(b"half")  # an interrupted write, two hours old
    os.utime(d / ".x.safetensors.123.tmp", (old, old))
    (d / ".y.json.456.tmp").write_bytes(b"writing")  # a writer still running
    (d / "dead.safetensors.corrupt").write_bytes(b"bad")
    orphan = d / ("ff" * 32 + ".safetensors")
    orphan.write_bytes(b"no meta")
    os.utime(orphan, (old, old))
    # entry 01 was last used 40 days ago; entry 02 is loaded now (touches it)
    meta01 = tmp_path / "models" / "01" / ("01" + "ab" * 31 + ".json")
    os.utime(meta01, (time.time() - 40 * 86400,) * 2)
    assert cache.load("02" + "ab" * 31, lambda: torch.nn.Linear(4, 2)) is not None

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
