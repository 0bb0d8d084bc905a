"""One-off migration of per-cell leaderboard entries (format 1) into submission files (format 2).

``python -m bench._migrate leaderboards`` turns every ``<track>/<tier>/*.json`` entry into a line of a
submission: one submission per (track, tier, title, paper, code), its cells' records and ROC points kept as
they were published (their metrics were validated by the ``submit`` of their time). The header records the
migration (``migrated_from``), the earliest ``submitted_at`` of its entries and the plugins of the installed
harness. Inline ``verification`` blocks and ``tolerance`` are not carried over: only verification files count now.
The old files are removed once every submission is written.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from ._submission import Header, write_submission

__all__ = ["migrate", "MIGRATED_FROM"]

MIGRATED_FROM = "format 1 (one JSON entry per cell)"


def _plugins(records: list[dict[str, Any]], registry: Any) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for rec in records:
        for kind, name in (("tracks", rec["track"]["name"]), ("attacks", rec["attack"]["name"]), ("defenses", rec["defense"]["name"])):
            info = registry.get(kind, name).plugin
            out[info.distribution or f"{info.source}:{info.name}"] = info.version
    return out


def migrate(root: str | os.PathLike[str], registry: Any = None) -> list[Path]:
    """Convert the format-1 entries under ``root``; returns the submission files written."""
    from ._plugins import load_plugins
    from .publish import harness_provenance

    if registry is None:
        _, registry = load_plugins(())
    old = sorted(Path(root).glob("*/*/*__seed*__*.json"))
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for path in old:
        data = json.loads(path.read_text())
        if data.get("entry_version") != 1 or not isinstance(data.get("record"), dict):
            raise ValueError(f"{path} is not a format-1 entry")
        sub = data.get("submission") or {}
        key = (path.parent.parent.name, path.parent.name, sub.get("title"), sub.get("paper"), sub.get("code"))
        groups.setdefault(key, []).append(data)
    written = []
    for (track, tier, title, paper, code), entries in sorted(groups.items(), key=lambda kv: json.dumps(kv[0], default=str)):
        records = [e["record"] for e in entries]
        dates = sorted(str(e["submission"].get("submitted_at")) for e in entries if (e.get("submission") or {}).get("submitted_at"))
        header = Header(track, tier, title, paper, code, dates[0] if dates else None, (), _plugins(records, registry),
                        harness_provenance(), MIGRATED_FROM)
        lines = [{"record": e["record"], "roc": e.get("roc")} for e in entries]
        written.append(write_submission(root, header, lines)[1])
    for path in old:
        path.unlink()
    return written


if __name__ == "__main__":  # pragma: no cover - the one-off command
    for p in migrate(sys.argv[1] if len(sys.argv) > 1 else "leaderboards"):
        print(f"wrote {p}")
