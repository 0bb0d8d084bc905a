"""bench/_cli_run.py: the exit status of a finished run (the command-level cases are in test_cli.py)."""

from bench._cli_run import exit_status
from bench.testing import make_record


def test_exit_status_of_finished_runs():
    ok, failed, over = make_record("a"), make_record("b", status="failed"), make_record("c", status="over_budget")
    assert exit_status([ok, over], strict=False) == (0, "")  # over budget is a result, ranked as such
    assert exit_status([ok, over], strict=True)[0] == 1
    assert exit_status([ok, failed], strict=False)[0] == 1
    assert exit_status([failed, failed], strict=False)[0] == 3
