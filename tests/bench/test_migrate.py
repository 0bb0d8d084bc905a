"""The one-off migration of per-cell entries (format 1) into submission files keeps every record and the tables."""

import json
from pathlib import Path

import pytest

from bench._entry import Entry, Submitter, load_entries
from bench._migrate import MIGRATED_FROM, migrate
from bench._submission import SubmissionError, read_submission
from bench.site import entry_records, render_readme, rows_from_records

REPO = Path(__file__).resolve().parents[2]


def _format1(root: Path, src: Path, n: int = 12) -> list[dict]:
    """Format-1 entries (one JSON per cell, as published before) made from the first cells of the committed digits board."""
    cells = [json.loads(x) for x in src.read_text().splitlines()[1 : n + 1]]
    out = []
    for i, cell in enumerate(cells):
        rec = cell["record"]
        title = "A" if i % 3 else "B"
        entry = {"entry_version": 1, "entry_id": rec["run_id"], "record": rec, "roc": cell["roc"], "tolerance": {"auc": 1.0},
                 "submission": {"title": title, "paper": None, "code": None, "submitted_at": f"2026-01-0{1 + i % 2}T00:00:00Z"},
                 "verification": {"device": "cpu", "hardware": "inline, self-declared"} if i == 0 else None}
        name = f"{rec['defense']['name']}__{rec['attack']['name']}__seed{rec['seed']}__{rec['run_id'][:12]}.json"
        path = root / "digits" / "cpu" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entry))
        out.append(entry)
    return out


def test_migration_keeps_records_links_and_tables_and_drops_inline_verifications(tmp_path, old_digits_board):
    root = tmp_path / "lb"
    old = _format1(root, old_digits_board)
    with pytest.raises(SubmissionError, match="python -m bench._migrate"):
        load_entries(root)
    from bench._record import Record

    before = render_readme(rows_from_records(
        (Record.from_dict(e["record"]), Entry(Record.from_dict(e["record"]), Submitter(**e["submission"]), e["roc"])) for e in old))
    written = migrate(root)
    assert len(written) == 2 and not list(root.glob("*/*/*.json")), "one submission per title; the per-cell files are gone"
    for path in written:
        sub = read_submission(path)
        assert sub.intact and sub.header.migrated_from == MIGRATED_FROM and sub.header.submitted_at == "2026-01-01T00:00:00Z"
    entries = load_entries(root)
    assert sorted(e.record.run_id for _, e in entries) == sorted(e["record"]["run_id"] for e in old)
    assert not any(e.verified for _, e in entries), "an inline verification block is not a verification"
    assert render_readme(rows_from_records(entry_records(root, check=False))) == before
