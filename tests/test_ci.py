"""CI does exactly what the README says: its set-up and test commands, verbatim."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands():
    lines = ROOT.joinpath("README.md").read_text().splitlines()
    start = lines.index("```bash") + 1
    return [l for l in lines[start : start + 3]]


def test_ci_runs_the_readme_setup_and_test_commands():
    setup, test, main = _readme_commands()
    ci = ROOT.joinpath(".ci/run").read_text().splitlines()
    assert setup in ci
    assert test in ci
    assert "pytest" in test and main.endswith("privbench run")
