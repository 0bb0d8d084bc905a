"""The one atomic-write helper and the one JSONL reader."""

import pytest

from bench._io import atomic_write, atomic_write_text, read_jsonl


def test_atomic_write_replaces_whole_files_and_leaves_no_debris(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"

    def broken(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_text() == "two", "a failed write leaves the old file untouched"
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.txt"], "and no temporary file"


def test_read_jsonl_yields_objects_and_reports_bad_lines(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"a": 1}\n\n[1, 2]\n{"b": 2}\n{"torn": \n')
    bad = []
    got = list(read_jsonl(path, lambda i, why: bad.append((i, why))))
    assert got == [(1, {"a": 1}), (4, {"b": 2})]
    assert [i for i, _ in bad] == [3, 5] and "not an object" in bad[0][1] and "not JSON" in bad[1][1]
