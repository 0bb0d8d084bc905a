"""bench/_cli_leaderboard.py: commands that read or write leaderboards/ refuse a missing one instead of making it."""

from click.testing import CliRunner

from bench.cli import cli


def test_leaderboard_build_outside_the_repository_refuses_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a folder with no leaderboards/, as outside the repository
    for args in (["leaderboard", "build"], ["leaderboard", "build", "--check"], ["leaderboard"]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 1, (args, res.output)
        assert "no leaderboards folder at" in res.output and "--root PATH" in res.output
    assert not (tmp_path / "leaderboards").exists()


def test_leaderboard_table_of_no_records_says_what_to_give(tmp_path):
    (tmp_path / "results.jsonl").write_text("")
    res = CliRunner().invoke(cli, ["leaderboard", str(tmp_path)])
    assert res.exit_code == 1 and "no records in" in res.output and "results.jsonl files or run folders" in res.output
