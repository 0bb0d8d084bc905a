"""Progress bars (tqdm, on stderr) for the runner; silent when a plan turns progress off.

Every bar names what it works for: the cells bar the cell running (track/defense/attack/seed) or, where cells
run in worker processes, the last one finished; a training bar the cell whose models it trains.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Progress", "EpochBar", "CellsBar"]


class Progress:
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.current = ""  # the label of the cell this process runs (``Cell.label()``)
        self._cells: CellsBar | None = None

    def start(self, cell: Any) -> None:
        """A cell starts in this process: the cells bar and the training bars that follow name it."""
        self.current = cell.label()
        if self._cells is not None:
            self._cells.running(self.current)

    def cells(self, total: int) -> "CellsBar | None":
        """The bar of the grid's cells (None when progress is off)."""
        if not self.enabled:
            return None
        from tqdm.auto import tqdm

        self._cells = CellsBar(tqdm(total=total, desc="cells", unit="cell", dynamic_ncols=True))
        return self._cells

    def bar(self, desc: str, total: int | None = None) -> Any:
        """A training bar (``desc``: what it trains, e.g. ``train target``), labelled with the running cell."""
        if not self.enabled:
            return None
        from tqdm.auto import tqdm

        label = f"{self.current} {desc}" if self.current else desc
        return EpochBar(tqdm(total=total, desc=label, leave=False, unit="epoch", dynamic_ncols=True))


class CellsBar:
    """The cells bar: ``cells 3/14 | running digits/dpsgd/lira/seed0`` (or the last finished cell and its status)."""

    def __init__(self, bar: Any):
        self._bar = bar

    def running(self, label: str) -> None:
        self._bar.set_postfix_str(f"running {label}")

    def finished(self, record: Any) -> None:
        self._bar.set_postfix_str(f"{record.label()}: {record.status}", refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


class EpochBar:
    """Adapts a tqdm bar to the trainer's ``progress(done, total)`` callback."""

    def __init__(self, bar: Any):
        self._bar = bar

    def __call__(self, done: int, total: int) -> None:
        self._bar.total = total
        self._bar.n = done
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()
