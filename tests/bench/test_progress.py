"""bench/_progress.py: every bar names the cell it works for (track/defense/attack/seed)."""

from bench._plan import Cell
from bench._progress import Progress
from bench.testing import make_record


def test_bars_name_the_running_cell():
    progress = Progress(True)
    cells = progress.cells(2)
    progress.start(Cell("digits", "dpsgd", "lira", 1, "smoke"))
    assert "running digits/dpsgd/lira/seed1" in str(cells._bar)
    train = progress.bar("train target")
    assert train._bar.desc == "digits/dpsgd/lira/seed1 train target"
    train.close()
    cells.finished(make_record("lira", "dpsgd", 1, track="digits"))
    assert cells._bar.n == 1 and "digits/dpsgd/lira/seed1: ok" in str(cells._bar)
    cells.close()


def test_disabled_progress_makes_no_bars():
    progress = Progress(False)
    assert progress.cells(3) is None and progress.bar("train target") is None
