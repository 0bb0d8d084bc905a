"""bench/_cli_list.py: ``privbench list`` shows options, threat models and budget limits without --json."""

import json

from click.testing import CliRunner

from bench.cli import cli


def _row(output, name):
    """The lines of ``name``'s entry in a listing (its first line and the continuation lines below it)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split(" ")[0] == name)
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:1].strip()), len(lines))
    return "\n".join(lines[start:end])


def test_list_tracks_shows_budget_limits_and_options():
    res = CliRunner().invoke(cli, ["list", "tracks"])
    assert res.exit_code == 0, res.output
    assert "budgets: shadows / queries per candidate / device-s" in res.output
    digits = _row(res.stdout, "digits")
    assert "smoke: 4 / 64 / 120 s" in digits and "cpu: 16 / 256 / 900 s" in digits
    assert 'recipe="cnn"' in _row(res.stdout, "cifar10")  # what --set cifar10.recipe=... changes
    tracks = {d["name"]: d for d in json.loads(CliRunner().invoke(cli, ["list", "tracks", "--json"]).stdout)}
    assert tracks["digits"]["limits"]["smoke"] == {"max_shadows": 4, "queries_per_candidate": 64, "device_seconds": 120, "targets": 2}
    assert tracks["cifar10"]["params"] == {"recipe": "cnn"} and tracks["digits"]["budgets"]  # the tier names stay


def test_list_attacks_shows_threat_model_and_parameters_without_json():
    res = CliRunner().invoke(cli, ["list", "attacks"])
    assert res.exit_code == 0, res.output
    assert "threat model" in res.stdout.splitlines()[0] and "options" in res.stdout.splitlines()[0]
    lira = _row(res.stdout, "lira")
    assert "scores" in lira and "n_shadows=null" in lira and "online=true" in lira and "n_queries=2" in lira
    assert "whitebox" in _row(res.stdout, "gradnorm")
    eat = _row(res.stdout, "eat")
    assert max(len(line) for line in eat.splitlines()) < 140 and "…" in eat  # long values are cut in the table


def test_list_defenses_shows_parameters():
    res = CliRunner().invoke(cli, ["list", "defenses"])
    assert "epsilon=1.0" in _row(res.stdout, "dpsgd") and "weight_decay=0.005" in _row(res.stdout, "l2")
