"""The benchmark runner: a grid of (track, defense, attack, seed) cells, each scored by the harness.

Targets are trained once per (track, defense, seed) and shared by the attacks of that group. Every
cell ends as a record — ``ok``, ``failed``, ``timeout`` or ``over_budget`` — and the grid goes on.
The plan and cell identity live in ``bench._plan``, one cell's work in ``bench._session``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ._plan import Cell, Plan, check_params, expand_grid, run_id
from ._record import Record
from ._records import ResultsWriter, orphan_record
from ._session import Session

__all__ = ["Cell", "Plan", "Session", "CellRunner", "run_plan", "expand_grid", "run_id"]


class CellRunner:
    """A picklable job for executors: builds a Session lazily in whatever process runs it."""

    def __init__(self, plan: Plan, session: Session | None = None):
        self.plan = plan
        self._session = session

    def __getstate__(self) -> dict[str, Any]:
        return {"plan": self.plan, "_session": None}

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session(self.plan)
        return self._session

    def on_device(self, device: str | None) -> "CellRunner":
        """The same job for a worker process pinned to ``device`` (None: the plan's); no progress bars there."""
        import dataclasses

        return CellRunner(dataclasses.replace(self.plan, device=device or self.plan.device, progress=False))

    def failed(self, cell: Cell, error: str) -> Record:
        """The record of a cell an executor could not run (e.g. its worker died more often than retried)."""
        return orphan_record(cell, error)

    def __call__(self, cell: Cell) -> tuple[Record, dict[str, np.ndarray] | None]:
        try:
            return self.session.run_cell(cell)
        except Exception as exc:  # a track that fails to load, say: recorded, not fatal
            return orphan_record(cell, f"{type(exc).__name__}: {exc}"), None


def run_plan(
    plan: Plan,
    *,
    session: Session | None = None,
    executor: Any = None,
    on_record: Callable[[Record], None] | None = None,
) -> list[Record]:
    """Run (or resume) a plan; returns the records of its cells, newly run or found finished."""
    session = session or Session(plan)
    problems = check_params(plan, session.registry)
    if problems:  # before anything trains (the CLI says the same with exit status 2)
        raise ValueError("; ".join(problems))
    if executor is None:  # the local executor scores in this session's workers
        session.start_workers()
    writer = ResultsWriter(plan.out_dir)
    done = writer.done()
    cells = expand_grid(plan)
    ids: list[str | None] = []
    todo = []
    for cell in cells:
        try:
            rid = session.run_id(cell)
        except Exception:
            rid = None  # the track fails to load: the cell runs and records why
        ids.append(rid)
        prev = done.get(rid) if rid else None
        if prev is not None and not (plan.retry_failed and prev.status == "failed"):
            continue
        todo.append(cell)
    session.manager.call("run_started", plan=plan)
    executor = executor or session.registry.get("executors", "local").obj()
    bar = session.progress.cells(len(todo)) if plan.progress and todo else None  # names the cell running
    unplanned: list[Record] = []  # records whose run id could not be computed up front (a track that fails to load)
    for record, arrays in executor.map(CellRunner(plan, session), todo):
        if arrays is not None:
            record = record.replace(scores_file=writer.save_scores(record.run_id, arrays))
        writer.append(record)
        done[record.run_id] = record
        if record.run_id not in ids:
            unplanned.append(record)
        session.manager.call("record_written", record=record)
        if on_record:
            on_record(record)
        if bar is not None:
            bar.finished(record)
    if bar is not None:
        bar.close()
    return [done[rid] for rid in ids if rid in done] + unplanned
