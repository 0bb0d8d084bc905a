"""``privbench audit``: data audits list flagged split examples, model audits print metrics, bad names are explained."""

import json

import pytest
from click.testing import CliRunner

from bench.cli import cli


def invoke(*args, tmp_path=None):
    extra = ["--cache-dir", str(tmp_path)] if tmp_path is not None else []
    return CliRunner().invoke(cli, ["audit", *args, *extra])


def test_a_membership_attack_is_not_an_audit(tmp_path):
    result = invoke("loss", "--track", "digits", tmp_path=tmp_path)
    assert result.exit_code != 0 and "is not an audit" in result.output


def test_unknown_audit_is_named(tmp_path):
    result = invoke("nope", "--track", "digits", tmp_path=tmp_path)
    assert result.exit_code != 0 and "nope" in result.output


def test_q16_on_a_track_of_another_shape_says_what_to_pass(tmp_path):
    result = invoke("q16", "--track", "synthetic-captions", tmp_path=tmp_path)
    assert result.exit_code != 0 and "labelled=PATH.npz" in result.output


@pytest.mark.slow
def test_q16_audit_lists_the_planted_examples_of_the_split(tmp_path):
    result = invoke("q16", "--track", "text-to-image", "--json", tmp_path=tmp_path)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["planted"]["recall"] >= 0.9 and out["planted"]["false_flag_rate"] <= 0.05
    assert out["flagged"] and {"part", "unit", "score", "caption"} <= set(out["flagged"][0])


@pytest.mark.slow
def test_eat_audit_runs_on_an_identity_track(tmp_path):
    result = invoke("eat", "--track", "synthetic-faces", "--set", "synthetic-faces.association=planted", "--json", tmp_path=tmp_path)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["metrics"]["eat_p_value"] < 0.01 and out["split_sha256"]
