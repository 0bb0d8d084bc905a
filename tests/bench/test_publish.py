"""Tests for bench.publish and `privbench leaderboard submit/build`: the harness recomputes every number, one file per
submission, nothing published is ever rewritten.

Most tests submit a run folder made here without training: digits' real split, random scores, and a record whose
numbers the harness computes from them (what a run writes). One slow test submits a real run.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench import Record
from bench.cli import cli
from bench.publish import load_entries, submit
from bench.site import check_readme, entry_records, render_readme, rows_from_records

REPO = Path(__file__).resolve().parents[2]


def _write_run(out: Path, seeds=(0, 1), attack_params=None, official=False) -> Path:
    """A run folder of loss-vs-none cells on digits/smoke, as the runner writes it, without training; ``attack_params``
    as given with ``--set`` (the run id hashes them), ``official`` relabels it official on the track's public split."""
    from bench._plan import Cell, run_id
    from bench._plugins import load_plugins
    from bench._records import provenance
    from bench._scoring import metrics_from_arrays

    registry = load_plugins(())[1]
    track = registry.track("digits")
    split = track.split(track.load())
    truth = split.is_member()
    attack = registry.get("attacks", "loss")
    (out / "scores").mkdir(parents=True)
    lines = []
    for seed in seeds:
        scores = np.random.default_rng(seed).normal(truth * 0.3, 1.0)
        rid = run_id(Cell("digits", "none", "loss", seed, "smoke", {}, dict(attack_params or {})), track.version, split.sha256)
        np.savez(out / "scores" / f"{rid}.npz", scores=scores, is_member=truth, candidate_units=split.candidates)
        rec = {
            "schema_version": 2, "run_id": rid, "seed": seed, "status": "ok", "created_at": "2026-11-25T00:00:00Z",
            "track": {"name": "digits", "version": track.version, "split_sha256": split.sha256, "task": "classification"},
            "attack": {"name": "loss", "params": {**dict(attack.obj.params), **(attack_params or {})}, "plugin": attack.plugin.name, "version": attack.obj.version},
            "defense": {"name": "none", "params": {}, "plugin": "none", "version": "1"},
            "budget": {"tier": "smoke", "limits": track.budgets["smoke"].limits(), "used": {"queries": 1000, "shadow_models": 1, "device_seconds": 2.0}},
            "metrics": metrics_from_arrays({"scores": scores, "is_member": truth}, seed=seed),
            "utility": {"train_accuracy": 1.0, "test_accuracy": 0.93}, "provenance": provenance("cpu").to_dict(),
            "scores_file": f"scores/{rid}.npz",
        }
        if official:
            rec.update(official=True, isolation={"sandboxed": True})
            rec["track"]["split_seed"] = track.split_seed
        lines.append(json.dumps(rec))
    (out / "results.jsonl").write_text("\n".join(lines) + "\n")
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return _write_run(tmp_path_factory.mktemp("run"))


def _records(run_dir):
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines() if line.strip()]


def _variant(run_dir, tmp_path, change, scores=None):
    """A copy of the run folder whose first record is changed by ``change(record)`` (and its scores by ``scores``)."""
    out = tmp_path / "variant"
    shutil.copytree(run_dir, out)
    recs = _records(run_dir)
    change(recs[0])
    if scores is not None:
        path = out / recs[0]["scores_file"]
        with np.load(path) as z:
            arrays = dict(z)
        scores(arrays)
        np.savez(path, **arrays)
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return out / "results.jsonl"


def _refused(results, root, expect):
    sub = submit([results], root)
    messages = [str(p) for p in sub.problems]
    assert any(expect in m for m in messages), messages
    assert sub.written == [] and not Path(root).exists(), "a refused submission must write nothing"
    return messages


def _submit_cli(results, root, *args):
    return CliRunner().invoke(cli, ["leaderboard", "submit", str(results), "--root", str(root), *args])


def test_a_submission_is_one_file_named_by_its_id_and_lands_in_the_tables(run_dir, tmp_path):
    root = tmp_path / "lb"
    res = _submit_cli(run_dir / "results.jsonl", root, "--title", "Loss baseline", "--paper", "https://example.org/p",
                      "--code", "https://example.org/c")
    assert res.exit_code == 0, res.output
    files = list(root.rglob("*.jsonl"))
    assert len(files) == 1 and files[0].parent == root / "digits" / "smoke" and f"wrote submission {files[0].stem}" in res.output
    header = json.loads(files[0].read_text().splitlines()[0])
    assert header["submission_id"] == files[0].stem and header["title"] == "Loss baseline" and header["plugins"]["privbench"]
    assert header["harness"]["privbench_version"] and header["supersedes"] == []
    entries = load_entries(root)
    assert len(entries) == 2 and {e.submission_id for _, e in entries} == {files[0].stem}
    for (_, e), rec in zip(entries, _records(run_dir)):
        assert e.title == "Loss baseline" and e.paper == "https://example.org/p" and not e.verified
        assert e.record.metrics["auc"] == pytest.approx(rec["metrics"]["auc"], abs=1e-12)
        assert e.roc["fpr"][-1] == 1.0 and e.roc["tpr"] == sorted(e.roc["tpr"])
    assert CliRunner().invoke(cli, ["leaderboard", "build", "--root", str(root), "--check"]).exit_code != 0  # stale until built
    res = CliRunner().invoke(cli, ["leaderboard", "build", "--root", str(root), "--out", str(tmp_path / "site")])
    assert res.exit_code == 0, res.output
    readme = (root / "README.md").read_text()
    assert "## digits — `smoke` budget" in readme and "| 1 | 1–1 | loss" in readme and "[paper](https://example.org/p)" in readme
    assert CliRunner().invoke(cli, ["leaderboard", "build", "--root", str(root), "--check"]).exit_code == 0
    # a published file edited by hand no longer hashes to its name: the build names it instead of showing it
    files[0].write_text(files[0].read_text().replace('"auc": 0.', '"auc": 0.9', 1))
    res = CliRunner().invoke(cli, ["leaderboard", "build", "--root", str(root), "--check"])
    assert res.exit_code != 0 and f"{files[0]}: this file was edited after it was submitted" in res.output


def test_a_submission_whose_folder_header_and_cells_disagree_on_the_board_is_refused(tmp_path):
    # The boards read a file's track and tier from its header and cells, --supersedes from its folder: a look-alike
    # filed under digits/gpu with a digits/cpu header was kept on the cpu board when a part tried to supersede it
    # (review of the republish in parts); a cell of another board inside a file would sit outside its supersedes.
    from bench._submission import Header, SubmissionError, iter_submissions, write_submission
    from bench.testing import make_record

    cell = {"record": make_record("loss", track="digits").to_dict(), "roc": None}
    root = tmp_path / "lb"
    _, path = write_submission(root, Header("digits", "cpu", "x"), [cell])
    assert [p for p, _ in iter_submissions(root)] == [path]
    moved = root / "digits" / "gpu" / path.name
    moved.parent.mkdir()
    path.rename(moved)
    with pytest.raises(SubmissionError, match="folder, header and cells name different"):
        iter_submissions(root)
    moved.unlink()
    other = {"record": make_record("loss", track="fashion-mnist").to_dict(), "roc": None}
    write_submission(root, Header("digits", "cpu", "x"), [cell, other])
    with pytest.raises(SubmissionError, match=r"\('fashion-mnist', 'cpu'\)"):
        iter_submissions(root)


def test_the_same_cells_under_two_titles_are_two_submissions_each_with_its_links(run_dir, tmp_path):
    root = tmp_path / "lb"
    first = submit([run_dir], root, title="Ours", paper="https://a.org/paper")
    second = submit([run_dir], root, title="Someone else", code="https://b.org/code")
    assert first.problems == second.problems == [] and first.ids != second.ids
    before = first.written[0].read_bytes()
    assert sorted(p.name for p in (root / "digits" / "smoke").iterdir()) == sorted(f"{i}.jsonl" for i in first.ids + second.ids)
    by_title = {e.title: e for _, e in load_entries(root)}
    assert by_title["Ours"].paper == "https://a.org/paper" and by_title["Ours"].code is None
    assert by_title["Someone else"].code == "https://b.org/code" and by_title["Someone else"].paper is None
    readme = render_readme(rows_from_records(entry_records(root)))
    assert "Ours ([paper](https://a.org/paper))" in readme and "Someone else ([code](https://b.org/code))" in readme
    again = submit([run_dir], root, title="Ours", paper="https://a.org/paper")  # identical: refused, nothing rewritten
    assert again.written == [] and "already published" in str(again.problems[0])
    assert first.written[0].read_bytes() == before


def test_another_submission_under_the_same_title_is_its_own_row(run_dir, tmp_path):
    """A title is free text: a submission titled like another (the first-party baselines, say, by a defense's author
    with scores forged to make the baseline attacks look weak against it) must not have its cells averaged into the
    other's rows, beside its verified seeds. One row per (submission, attack, defense, parameters). (The first-party
    title itself is for booked parts only: test_only_a_booked_part_may_carry_the_first_party_title_...)"""
    root, title = tmp_path / "lb", "Acme baselines"
    ours = submit([run_dir], root, title=title)
    seed0 = tmp_path / "seed0"
    shutil.copytree(run_dir, seed0)
    (seed0 / "results.jsonl").write_text(json.dumps(_records(run_dir)[0]) + "\n")
    theirs = submit([seed0], root, title=title, code="https://example.org/theirs")
    assert ours.problems == theirs.problems == [] and ours.ids != theirs.ids
    rows = rows_from_records(entry_records(root))
    assert sorted(r["seeds"] for r in rows) == [[0], [0, 1]]


def test_superseding_is_explicit_and_keeps_the_old_file(run_dir, tmp_path):
    root = tmp_path / "lb"
    old = submit([run_dir], root, title="ours")
    assert submit([run_dir], root, title="ours", supersedes=["0123456789abcdef"]).problems[0].message.startswith("no submission")
    new = submit([run_dir], root, title="ours", code="https://a.org/v2", supersedes=old.ids)
    assert new.problems == [] and old.written[0].exists()
    assert json.loads(new.written[0].read_text().splitlines()[0])["supersedes"] == old.ids
    assert {e.code for _, e in load_entries(root)} == {"https://a.org/v2"}
    assert {e.code for _, e in load_entries(root, superseded=True)} == {None, "https://a.org/v2"}


def test_a_submission_cannot_push_another_submitters_out_of_the_rankings(run_dir, tmp_path):
    """A title is all a submission file says of who submitted it: superseding works under one's own title only."""
    from bench._submission import Header, write_submission

    root = tmp_path / "lb"
    baseline = submit([run_dir], root, title="privbench first-party baselines")
    refused = submit([run_dir], root, title="my defense", supersedes=baseline.ids)
    assert refused.written == [] and "a submission only replaces one under its own title" in str(refused.problems)
    # a hand-built file naming it (past submit) is ignored by the boards as well
    before = [e.record.run_id for _, e in load_entries(root) if e.title == "privbench first-party baselines"]
    write_submission(root, Header("digits", "smoke", "my defense", supersedes=tuple(baseline.ids), plugins={"privbench": "0.1.0"}), _one_cell("digits", "smoke"))
    ours = [e.record.run_id for _, e in load_entries(root) if e.title == "privbench first-party baselines"]
    assert before and ours == before


def test_a_supersedes_counts_within_one_title_track_tier_and_plugin_set_and_a_bad_header_is_refused(tmp_path):
    """The boards (``replaced_ids``) honour a supersedes only between submissions of one (non-empty) title, track,
    tier and set of plugin distributions; a malformed ``supersedes`` or a NaN in a cell is a SubmissionError naming
    the file, not a crash of every build."""
    from bench._entry import replaced_ids
    from bench._submission import Header, SubmissionError, read_submission, write_submission

    root, ours = tmp_path / "lb", {"privbench": "0.1.0"}
    def sub(track, title, old=(), plugins=ours, tier="cpu"):
        return write_submission(root, Header(track, tier, title, supersedes=tuple(old), plugins=plugins), _one_cell(track, tier))[0]

    base, fm, untitled = sub("digits", "base"), sub("fashion-mnist", "base"), sub("digits", None)
    honoured = sub("digits", "base", [base])
    ignored = [sub("digits", "other", [base]), sub("digits", "base", [fm]), sub("digits", None, [untitled]),
               sub("digits", "base", [base], {**ours, "evil": "1"}), sub("digits", "base", [base], tier="smoke")]
    subs = [read_submission(p) for p in root.glob("*/*/*.jsonl")]
    assert replaced_ids(subs) == {base} and honoured not in replaced_ids(subs) and len(ignored) == 5
    bad = root / "digits" / "cpu" / ("0" * 16 + ".jsonl")
    for head in ({"supersedes": [["x"]]}, {"supersedes": "abc"}):
        bad.write_text(json.dumps({"kind": "privbench-submission", "format": 2, "track": "digits", "tier": "cpu",
                                   "submission_id": "0" * 16, **head}) + "\n")
        with pytest.raises(SubmissionError, match="'supersedes' must be a list of submission ids"):
            read_submission(bad)
    from bench.testing import make_record

    cell = {"record": make_record("loss", metrics={"auc": float("nan")}).to_dict()}
    bad.write_text(json.dumps({"kind": "privbench-submission", "format": 2, "track": "digits", "tier": "cpu",
                               "submission_id": "0" * 16}) + "\n" + json.dumps(cell) + "\n")
    with pytest.raises(SubmissionError, match=str(bad)):
        read_submission(bad)


def test_a_name_that_leaves_the_root_is_refused_with_a_message(run_dir, tmp_path):
    results = _variant(run_dir, tmp_path, lambda r: r["defense"].update(name="../../escaped"))
    _refused(results, tmp_path / "lb", "defense name '../../escaped' is not a plain name")
    assert not list(tmp_path.rglob("escaped*"))


def test_an_edited_tpr_is_refused(run_dir, tmp_path):
    results = _variant(run_dir, tmp_path, lambda r: r["metrics"].update({"tpr@0.1%fpr": 0.99}))
    _refused(results, tmp_path / "lb", "metric 'tpr@0.1%fpr' is 0.99 in the record, the harness computes")


def test_scores_whose_is_member_disagrees_with_the_split_are_refused(run_dir, tmp_path):
    def perfect(arrays):  # scores equal to a made-up membership, and that membership in the file
        fake = np.zeros_like(arrays["is_member"])
        fake[: fake.size // 2] = True
        arrays.update(is_member=fake, scores=fake.astype(float))

    results = _variant(run_dir, tmp_path, lambda r: None, scores=perfect)
    _refused(results, tmp_path / "lb", "is_member disagrees with track 'digits''s split")


@pytest.mark.parametrize("change, expect", [
    (lambda r: r["budget"].update(tier="cpu"), "budget limits"),
    (lambda r: r["budget"].update(tier="huge"), "budget tier 'huge' is unknown to track 'digits'"),
])
def test_a_relabelled_budget_tier_is_refused(run_dir, tmp_path, change, expect):
    messages = _refused(_variant(run_dir, tmp_path, change), tmp_path / "lb", expect)
    assert any("run id" in m for m in messages), "the tier is part of the cell's identity"


def test_nan_metrics_are_refused_before_anything_is_written(run_dir, tmp_path):
    results = _variant(run_dir, tmp_path, lambda r: r["metrics"].update(auc=float("nan")))
    _refused(results, tmp_path / "lb", "metric 'auc' is not a finite number")


def test_queries_beyond_the_tier_are_refused_even_without_the_counts(run_dir, tmp_path):
    def inflate(r):
        r["budget"]["used"]["queries"] = 1e7
        del r["metrics"]["n_members"], r["metrics"]["n_nonmembers"]

    _refused(_variant(run_dir, tmp_path, inflate), tmp_path / "lb", "budget not respected: used 1e+07 queries")


@pytest.mark.parametrize("change, expect", [
    (lambda r: r["provenance"].update(device="quantum-tpu"), "provenance device 'quantum-tpu'"),
    (lambda r: r["provenance"].update(privbench_version="99.0"), "newer than this harness"),
    (lambda r: r["provenance"].pop("torch"), "provenance incomplete: missing torch"),
    (lambda r: r["attack"].update(version="999"), "attack 'loss' is version"),
    (lambda r: r["attack"].update(threat_model="label"), "attack 'loss' has threat model 'scores' here, the record says 'label'"),
    (lambda r: r.update(run_id="f" * 64), "run id ffffffffffff… is not the hash of this cell's spec"),
    (lambda r: r["track"].update(split_sha256="0" * 64), "split sha256 000000000000… does not match track 'digits'"),
    (lambda r: r.update(status="failed", error="boom\ntrace"), "status is 'failed', only 'ok' cells are published (boom)"),
])
def test_forged_or_broken_records_are_refused(run_dir, tmp_path, change, expect):
    messages = _refused(_variant(run_dir, tmp_path, change), tmp_path / "lb", expect)
    assert all("seed0" in m for m in messages), "the problem names the record it is about"


def test_a_record_stating_no_threat_model_is_published_with_the_installed_attacks(run_dir, tmp_path):
    """A record that states none (an older run, or one whose threat model was deleted from results.jsonl) passes the
    threat-model check; published as it is, its board would be whatever the builder's plugins say, and "unknown" where
    the attack's plugin is not installed (a --plugin file, a third-party distribution): one board ranking attacks of
    any access together. The harness writes the installed attack's, as it writes the metrics."""
    sub = submit([run_dir], tmp_path / "lb")  # the fixture's records state no threat model
    assert sub.problems == [] and {e.record.attack.threat_model for _, e in load_entries(tmp_path / "lb")} == {"scores"}
    assert {r["threat_model"] for r in rows_from_records(entry_records(tmp_path / "lb"))} == {"scores"}  # no catalog at all


def test_only_http_links_are_accepted(run_dir, tmp_path):
    sub = submit([run_dir], tmp_path / "lb", title="x", paper="javascript:alert(1)")
    assert sub.written == [] and "paper link 'javascript:alert(1)' is not an http(s) URL" in str(sub.problems)


def test_cli_refusal_exits_nonzero_and_skip_invalid_publishes_the_rest(run_dir, tmp_path):
    results = _variant(run_dir, tmp_path, lambda r: r["track"].update(split_sha256="f" * 64))
    res = _submit_cli(results, tmp_path / "lb")
    assert res.exit_code == 1 and "refused: results.jsonl:1 (digits/none/loss/seed0): split sha256" in res.output
    assert "nothing was written" in res.output
    res = _submit_cli(results, tmp_path / "lb", "--skip-invalid")
    assert res.exit_code == 1 and len(load_entries(tmp_path / "lb")) == 1


def test_v1_results_are_read_and_published_as_v2(run_dir, tmp_path):
    def as_v1(r):  # what privbench wrote before records were typed
        r["schema_version"] = 1
        r.pop("created_at")

    sub = submit([_variant(run_dir, tmp_path, as_v1)], tmp_path / "lb")
    assert sub.problems == [] and len(sub.written) == 1
    assert {e.record.schema_version for _, e in load_entries(tmp_path / "lb")} == {2}


def test_a_retried_cell_is_submitted_from_its_latest_line(run_dir, tmp_path):
    out = tmp_path / "retried"
    shutil.copytree(run_dir, out)
    recs = _records(run_dir)
    failed = {**recs[0], "status": "failed", "error": "flaky", "metrics": {}}
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [failed, *recs]))
    sub = submit([out / "results.jsonl"], tmp_path / "lb")
    assert sub.problems == [] and len(load_entries(tmp_path / "lb")) == 2


def test_committed_leaderboards_are_intact_and_up_to_date():
    """What CI runs: `privbench leaderboard build --check` on the committed leaderboards/."""
    root = REPO / "leaderboards"
    entries = load_entries(root)
    assert {e.record.track.name for _, e in entries} >= {"digits", "fashion-mnist"} and all(e.submission_id for _, e in entries)
    # every part of the republish (booked in republish.json) is on the boards whole, none cut short, none superseded
    # but by a booked part of a later republish (whose first part replaces the board)
    for track, sid in current_parts(root):
        (path,) = (root / track / "cpu").glob(f"{sid}.jsonl")
        assert sum(e.submission_id == sid for _, e in entries) == len(path.read_text().splitlines()) - 1 > 0, sid
    res = CliRunner().invoke(cli, ["leaderboard", "build", "--check", "--root", str(root)])
    assert res.exit_code == 0, res.output


def test_roc_points_are_a_log_spaced_envelope_of_the_exact_curve():
    from bench.metrics import roc, tpr_at_fpr
    from bench.publish import roc_points

    rng = np.random.default_rng(0)
    y = np.arange(2000) < 1000
    s = rng.normal(y * 1.0, 1.0)
    pts = roc_points(s, y)
    fpr, tpr, _ = roc(s, y)
    assert len(pts["fpr"]) <= 45 and pts["fpr"][0] == 0.001 and pts["fpr"][-1] == 1.0  # starts at 1/n_nonmembers
    for f, t in zip(pts["fpr"], pts["tpr"]):
        assert abs(t - tpr_at_fpr(fpr, tpr, f)) < 1e-6


@pytest.mark.slow
def test_a_real_runs_records_are_published_with_the_harness_metrics(tmp_path):
    from bench._runner import run_plan
    from bench.testing import make_session

    session = make_session(tracks=["digits"], attacks=["loss"], defenses=["none"], seeds=[0], budget="smoke",
                           out_dir=str(tmp_path / "run"), scenarios=True)
    (record,) = run_plan(session.plan, session=session)
    assert record.design["targets"] == 2 and record.identity is not None  # LiRA's pool design, identity stated
    sub = submit([tmp_path / "run"], tmp_path / "lb")
    assert sub.problems == [], sub.problems
    (_, entry), = load_entries(tmp_path / "lb")
    # every metric, the harness's operating points and scenario FPRs included, is recomputed from the scores
    for key in ("auc", "auc_ci", "tpr@0.1%fpr", "tpr@1%fpr", "advantage", "fpr@5%cal", "tpr@1%cal", "fpr_neighbours", "epsilon_lb"):
        assert entry.record.metrics[key] == pytest.approx(record.metrics[key], abs=1e-9), key
    assert entry.record.per_target == record.per_target
    assert isinstance(Record.from_dict(json.loads(sub.written[0].read_text().splitlines()[1])["record"]), Record)

    results = tmp_path / "run" / "results.jsonl"
    original = results.read_text()
    forged = json.loads(original)
    forged["metrics"]["fpr@5%cal"] = 0.0001  # a calibrated rate edited by hand
    results.write_text(json.dumps(forged) + "\n")
    sub = submit([tmp_path / "run"], tmp_path / "lb2")
    assert any("fpr@5%cal" in p.message for p in sub.problems), sub.problems
    results.write_text(original)
    scores = tmp_path / "run" / record.scores_file
    with np.load(scores) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["is_member"] = ~arrays["is_member"]  # a submitter's own truth is never used, and a wrong one is refused
    np.savez(scores, **arrays)
    sub = submit([tmp_path / "run"], tmp_path / "lb3")
    assert any("is_member disagrees" in p.message for p in sub.problems), sub.problems


def _twin_run(run_dir, tmp_path, accuracy):
    """The run folder plus a 'confidence' cell on seed 0's models (same scores), reporting ``accuracy``."""
    import copy

    from bench._plan import Cell, run_id
    from bench._plugins import load_plugins

    out = tmp_path / f"twin-{accuracy}"
    shutil.copytree(run_dir, out)
    recs = _records(run_dir)
    twin = copy.deepcopy(recs[0])
    attack = load_plugins(())[1].get("attacks", "confidence")
    twin["attack"] = {"name": "confidence", "params": dict(attack.obj.params), "plugin": attack.plugin.name, "version": attack.obj.version}
    twin["run_id"] = run_id(Cell("digits", "none", "confidence", 0, "smoke"), recs[0]["track"]["version"], recs[0]["track"]["split_sha256"])
    shutil.copy(out / recs[0]["scores_file"], out / "scores" / f"{twin['run_id']}.npz")
    twin["scores_file"] = f"scores/{twin['run_id']}.npz"
    twin["utility"]["test_accuracy"] = accuracy
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*recs, twin]))
    return out / "results.jsonl"


def test_cells_on_the_same_models_must_report_the_same_test_accuracy(run_dir, tmp_path):
    # The scores cannot recompute test accuracy (verify retrains and does), but it is the models', not the attack's:
    # one cell's edited accuracy disagrees with its neighbours' on the same models.
    assert submit([_twin_run(run_dir, tmp_path, 0.93)], tmp_path / "ok").problems == []
    _refused(_twin_run(run_dir, tmp_path, 0.99), tmp_path / "lb", "reports 0.93 for the same models")
    _refused(_variant(run_dir, tmp_path, lambda r: r["utility"].update(test_accuracy=1.5)), tmp_path / "lb2", "not a fraction between 0 and 1")


def test_publish_sh_supersedes_only_the_first_party_submission_and_goes_on_past_a_refused_cell(tmp_path):
    """scripts/publish.sh, with a stub `privbench` that logs its calls and refuses a cell at submit (exit 1, what a
    failed or over-budget cell of the run gives without --skip-invalid). It must supersede the current first-party
    submission only: not another submitter's under the same title (a title is free text: anyone's, its plugins say
    whose cells they are), never one a later submission already supersedes, and only ids read as submissions (a
    header's id goes onto a command line). A refused cell must not stop the republish of the rest."""
    import os
    import subprocess
    import sys

    from bench._submission import Header, write_submission

    root, title = tmp_path / "lb", "privbench first-party baselines"
    old, _ = write_submission(root, Header("digits", "cpu", title, plugins={"privbench": "0.1.0"}), _one_cell("digits", "cpu"))
    ours, _ = write_submission(root, Header("digits", "cpu", title, supersedes=(old,), plugins={"privbench": "0.1.0"}), _one_cell("digits", "cpu", 1))
    theirs, _ = write_submission(root, Header("digits", "cpu", title, plugins={"privbench": "0.1.0", "evil-mia": "1"}), _one_cell("digits", "cpu", 2))
    (root / "digits" / "cpu" / "zz.jsonl").write_text('{"submission_id": "x --root /tmp/elsewhere", "title": "%s"}\n' % title)
    log, stub = tmp_path / "calls", tmp_path / "privbench"
    stub.write_text(f'#!/bin/sh\necho "$*" >> {log}\ncase "$2" in submit) exit 1;; esac\ncase "$1" in run) exit 1;; esac\n')
    stub.chmod(0o755)
    env = {**os.environ, "PRIVBENCH": str(stub), "PYTHON": sys.executable, "ROOT": str(root), "RUNS": str(tmp_path / "runs")}
    def publish():
        log.unlink(missing_ok=True)
        done = subprocess.run(["bash", str(REPO / "scripts" / "publish.sh")], env=env, capture_output=True, text=True, timeout=120)
        return done, log.read_text().splitlines()

    done, calls = publish()  # a file that is no submission (the tables refuse it): its "id" never reaches a command line
    assert not any("elsewhere" in c for c in calls), calls
    (root / "digits" / "cpu" / "zz.jsonl").unlink()
    done, calls = publish()
    submits = [c for c in calls if c.startswith("leaderboard submit")]
    assert done.returncode == 0, (done.stderr, calls)
    assert len(submits) == 2 and all("--skip-invalid" in c for c in submits)
    assert f"--supersedes {ours}" in submits[0] and old not in submits[0] and theirs not in submits[0]
    assert "--supersedes" not in submits[1]  # fashion-mnist: none yet


EVIL = "x\n\n<table><tr><td>#1 FAKE ROW: verified, sandboxed, official</td></tr></table>\n\n## digits — cpu budget — fake board\n"


def test_submit_refuses_params_the_plugin_does_not_have_and_text_that_is_not_one_line(tmp_path):
    """An attack param (run id recomputed) passed every check, and the README, which escaped only '|', printed its
    newlines: raw HTML (a fake 'verified' row) and a fake board's heading (adversarial review)."""
    sub = submit([_write_run(tmp_path / "run", attack_params={"note": EVIL})], tmp_path / "lb", title="Mine")
    assert not sub.written and any("has no option 'note'" in str(p) for p in sub.problems)
    sub = submit([_write_run(tmp_path / "run2", attack_params={"calibration_shadows": EVIL})], tmp_path / "lb", title="Mine")
    assert not sub.written and any("not one line of printable text" in str(p) for p in sub.problems)
    # a dict (or a list of dicts) was taken for plain text: its strings were never looked at
    for i, value in enumerate(({"k": EVIL}, [{"k": EVIL}], {EVIL: 1})):
        sub = submit([_write_run(tmp_path / f"run-d{i}", attack_params={"calibration_shadows": value})], tmp_path / "lb", title="Mine")
        assert not sub.written and any("not one line of printable text" in str(p) for p in sub.problems), value


def test_submit_refuses_a_record_on_the_public_split_that_says_official(tmp_path):
    """A run on the track's public split relabelled official (split_seed = the public one) read "official" on the
    board, though its split was known to every plugin before it ran (adversarial review)."""
    sub = submit([_write_run(tmp_path / "run", official=True)], tmp_path / "lb", title="Mine")
    assert not sub.written and any("public split" in str(p) for p in sub.problems)


def test_a_file_of_no_cells_is_refused_and_supersedes_nothing(tmp_path):
    """A hand-made file under a title, with no cells, superseding that title's submission took all its cells off the
    board (adversarial review: a booked first-party part of 320 cells)."""
    from bench._submission import Header, SubmissionError, write_submission
    from bench.testing import make_record

    root = tmp_path / "lb"
    rec = make_record("loss", "none", 0, track="digits", tier="cpu", metrics={"auc": 0.6, "auc_ci": [0.5, 0.7]}, utility={"test_accuracy": 0.9})
    sid, _ = write_submission(root, Header("digits", "cpu", "Ours"), [{"record": rec.to_dict(), "roc": None}])
    write_submission(root, Header("digits", "cpu", "Ours", supersedes=(sid,)), [])
    with pytest.raises(SubmissionError, match="at least one cell"):
        load_entries(root)


def _one_cell(track, tier, seed=0):
    """One cell line of ``track``/``tier`` (a submission holds at least one)."""
    from bench.testing import make_record

    rec = make_record("loss", "none", seed, track=track, tier=tier, metrics={"auc": 0.6, "auc_ci": [0.5, 0.7]}, utility={"test_accuracy": 0.9})
    return [{"record": rec.to_dict(), "roc": None}]


def current_parts(root):
    """(track, id) of every booked part of leaderboards/republish.json that no other booked part supersedes."""
    from bench._submission import read_submission

    book = json.loads((Path(root) / "republish.json").read_text())
    booked = [(t, sid) for tracks in book.values() for t, e in tracks.items() for sid in e["parts"]]
    gone = {old for t, sid in booked for old in read_submission(Path(root) / t / "cpu" / f"{sid}.jsonl").header.supersedes}
    return [(t, sid) for t, sid in booked if sid not in gone]


def _forge(root, change=None, cells=1, title=None, book=True):
    """A hand-written copy of the first cells of the live first-party digits part, ``change(record dict, header dict)``
    applied to its first cell, its id recomputed (an unkeyed hash anyone can compute) and filed in ``root``; ``book``:
    listed in ``root``'s republish.json as a first-party part, as the live one is (so the other checks are the test)."""
    from bench._submission import BOOK, Header, write_submission

    (_, sid), *_ = [p for p in current_parts(REPO / "leaderboards") if p[0] == "digits"]
    head, *lines = [json.loads(x) for x in (REPO / "leaderboards" / "digits" / "cpu" / f"{sid}.jsonl").read_text().splitlines()]
    lines = lines[:cells]
    head.update(supersedes=[], title=title or head["title"])
    if change is not None:
        change(lines[0]["record"], head)
    sid, path = write_submission(root, Header.from_dict(head, "forged"), lines)
    if book:
        book_path = root / BOOK
        data = json.loads(book_path.read_text()) if book_path.exists() else {}
        data.setdefault("0" * 40, {}).setdefault("digits", {"parts": []})["parts"].append(sid)
        book_path.write_text(json.dumps(data))
    return path


def _build(root, *args):
    return CliRunner().invoke(cli, ["leaderboard", "build", "--root", str(root), *args])


def _refused_on_build(root, path, expect):
    res = _build(root, "--out", str(root.parent / "site"))
    assert res.exit_code == 0, res.output  # the board is built without the file
    assert f"refused: {path}: " in res.output and expect in res.output, res.output
    assert _build(root, "--check").exit_code == 1
    assert entry_records(root) == [] and "No entries yet" in (root / "README.md").read_text()


def _public_official(rec, head):
    from bench._plugins import load_plugins

    rec["track"]["split_seed"] = load_plugins(())[1].track("digits").split_seed


@pytest.mark.parametrize("change, expect", [
    (lambda r, h: r["attack"].update(threat_model="label"), "has threat model 'scores' here, the record says 'label'"),
    (lambda r, h: r["attack"]["params"].update(note="<b>verified</b>"), "has no option 'note'"),
    (lambda r, h: r["attack"]["params"].update(calibration_shadows={"x": "a\n## fake board"}), "not one line of printable text"),
    (lambda r, h: r["budget"]["used"].update(queries=1e9), "budget not respected: used 1e+09 queries"),
    (_public_official, "is the track's public split"),
    (lambda r, h: r["provenance"].update(git_commit="0" * 40), "is not a commit of privbench's history"),
    (lambda r, h: h["harness"].update(git_commit="1" * 40), "header's harness git_commit 111111111111 is not a commit"),
    (lambda r, h: r.update(seed=5), "does not match track 'digits''s split"),
    (lambda r, h: r["defense"]["params"].update(alpha=2.0), "run identity's defense params/version differ"),
    (lambda r, h: r.update(run_id="0" * 64), "is not the hash of this cell's spec"),
    (lambda r, h: r["design"].update(models=3), "design has 3 models"),
    # a 400-digit pool or count passed every check and stopped the README build (adversarial review)
    (lambda r, h: r["design"].update(pool=10**400), "design has a pool of 1000"),
    (lambda r, h: r["metrics"].update(n_members=10**400), "a count is a whole number"),
    (lambda r, h: r["metrics"].update(n_nonmembers=3999), "the design's targets hold 4000"),
    (lambda r, h: r.update(seed="0"), "'seed' is '0', not int"),  # beside a seed 1: sorting them stopped every build
    (lambda r, h: r.update(isolation=["sandboxed"]), "'isolation' is ['sandboxed']"),
    # re-attack 48: an interval without its value stopped every build; a v1 record of a number as its track crashed
    # the reader; test accuracy 1e308 ranked #1 as "inf%"; 10,000 strings in one option cost hours of run-id hashing
    (lambda r, h: (r["metrics"].pop("auc"), r["metrics"].update(auc_ci=["x", "y"])), "an interval is [low, high]"),
    (lambda r, h: r.update(schema_version=1, track=5), "'track' must be an object"),
    (lambda r, h: r["utility"].update(test_accuracy=1e308), "not a fraction between 0 and 1"),
    (lambda r, h: r["budget"]["used"].update(queries=-1e300), "usage is never negative"),
    (lambda r, h: r["attack"]["params"].update(calibration_shadows=["x"] * 2000), "over the 2,048 a board prints"),
    (lambda r, h: r["attack"].update(name="no-such-attack"), "no-such-attack"),
    (lambda r, h: r["budget"].update(limits={**r["budget"]["limits"], "max_shadows": 10**6}), "a relabelled tier?"),
])
def test_a_hand_written_submission_file_is_checked_by_build_like_submit_checks_it(tmp_path, change, expect):
    """A forger copied a first-party cell, edited it, recomputed the id and filed it: `build` ranked it #1 as
    "self-reported, sandboxed, official" and `build --check` passed (adversarial review). Every check of `submit` that
    needs no scores file is re-run on each published file: the file is left off the boards, named, and --check fails."""
    root = tmp_path / "lb"
    _refused_on_build(root, _forge(root, change), expect)


@pytest.mark.parametrize("title", [
    "privbench first-party baselines".replace("a", "\u0430") + "\u200b",  # Cyrillic а, zero width
    "privbench first-party baseIines",  # capital I (a re-attack: #1 and #2 on the digits board, build --check green)
    "privbench\u2065 first-party baselines",  # unassigned, renders as nothing
    "\u1d18\u0280\u026a\u1d20\u0299\u1d07\u0274\u1d04\u029c \ua730\u026a\u0280\ua731\u1d1b-\u1d18\u1d00\u0280\u1d1b\u028f \u0299\u1d00\ua731\u1d07\u029f\u026a\u0274\u1d07\ua731",  # small caps
    "pr1vbench f1rst party basel1nes", "privbench first-party baselines v2", "Privbench  First Party Baselines!",
    "pr\u2373vbench f\u2373rst-party base\u2223\u2373nes",  # APL iota, DIVIDES: symbols TR39 maps to letters (re-attack 45)
    "privbench first-par&zwnj;ty baselines",  # printable ASCII, shown by GitHub's markdown as ours (re-attack 47)
    "privbench first-party baselines (official)", "Official privbench first-party baselines"])  # added words
def test_titles_that_read_as_ours_are_reserved(title):
    from bench._submission import reads_as_first_party

    assert reads_as_first_party(title)


@pytest.mark.parametrize("title", ["ML Privacy Meter baselines", "privbench community runs", "LiRA reproduction (Carlini et al. 2022)",
                                   "Équipe privée: baselines", "first-party"])
def test_other_titles_are_not(title):
    from bench._submission import reads_as_first_party

    assert not reads_as_first_party(title)


def test_only_a_booked_part_may_carry_the_first_party_title_or_the_design_before_targets_stopped_being_shadows(tmp_path):
    """A hand-written copy titled like our parts, listing our part in `supersedes`, replaced the whole digits board
    (re-attack of 8046dd7..90cdb08); a new file could also carry the old pool design. The title and the old design
    are for the parts the maintainers booked in republish.json; the same copy under its own title builds."""
    from bench._submission import FIRST_PARTY_TITLE

    root = tmp_path / "lb"
    live = [sid for track, sid in current_parts(REPO / "leaderboards") if track == "digits"]
    forged = _forge(root, lambda r, h: h.update(supersedes=live), book=False)
    res = _build(root, "--out", str(tmp_path / "site"))
    assert f"refused: {forged}: " in res.output and "privbench's own first-party title" in res.output, res.output
    assert _build(root, "--check").exit_code == 1
    forged.unlink()
    look_alike = _forge(root, title=FIRST_PARTY_TITLE.replace("l", "I"), book=False)  # capital I: ASCII, past TR39's map
    assert "privbench's own first-party title" in _build(root, "--out", str(tmp_path / "site")).output
    look_alike.unlink()
    own = _forge(root, title="Someone else", book=False)
    design = json.loads(own.read_text().splitlines()[1])["record"]["design"]
    res = _build(root, "--out", str(tmp_path / "site"))
    if design["models"] == 16 + 1:  # the live part still holds the old design: not this file's to show
        assert f"refused: {own}: " in res.output and "design has 17 models" in res.output, res.output
    else:
        assert res.exit_code == 0 and "refused" not in res.output, res.output
        assert {e.submission_id for _, e in entry_records(root)} == {own.stem}


def _write_raw(root, head, cells):
    """A hand-written file that no Header ever checked: the id computed as anyone can, the lines as given."""
    from bench._submission import submission_id

    sid = submission_id(head, cells)
    path = root / head["track"] / head["tier"] / f"{sid}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in [{**head, "submission_id": sid}, *cells]))
    return path


@pytest.mark.parametrize("field, value, expect", [
    # shows as "privbench first-party baselines" (the overrides swap two letter pairs back) while every comparison
    # read "pirvbench ... basleines": ranked #1 as ours, --check green (adversarial review)
    ("title", "p\u202eir\u202cvbench first-party bas\u202ele\u202cines", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("title", "privbench first\u200b-party baselines", "U+200B"),
    ("title", "x" * 10**6, "over the 200 a board prints"),  # repeated in every row: a 22 MB page from 20 cells
    ("paper", "https://example.org/" + "a" * 600, "over the 500"),
    ("plugins", {"evil\u2066mia": "1.0"}, "U+2066")])
def test_header_text_a_board_cannot_print_as_it_is_is_refused(tmp_path, field, value, expect):
    root = tmp_path / "lb"
    path = _forge(root, title="Someone else", book=False)
    head, cell = [json.loads(x) for x in path.read_text().splitlines()]
    path.unlink()
    head.pop("submission_id")
    head[field] = value
    _refused_on_build(root, _write_raw(root, head, [cell]), expect)
    from bench._submission import text_problems

    if field in ("title", "paper"):  # and submit refuses it before anything is written
        assert any(expect in m for m in text_problems(**{field: value}))


def test_a_cell_of_unknown_options_skips_the_run_id_search_and_a_bad_file_is_checked_only_so_far(tmp_path, monkeypatch):
    """Without an identity the run-id check tries up to 65,536 override sets (2 s a cell); a hand-written file of
    12,600 such cells cost a build hours before it was refused (adversarial review)."""
    import bench.publish as publish
    from bench._plugins import load_plugins
    from bench._submission import read_submission

    def slow(*args):
        raise AssertionError("the run-id search ran for a cell refused anyway")

    monkeypatch.setattr(publish, "run_id_problems", slow)
    root = tmp_path / "lb"
    path = _forge(root, lambda r, h: r["attack"]["params"].update(**{f"made_up_{i}": i for i in range(16)}), cells=1, book=False,
                  title="Someone else")
    sub = read_submission(path)
    problems = publish.published_problems(sub, publish._Tracks(load_plugins(())[1]))
    assert any("has no option 'made_up_0'" in m for m in problems), problems
    head, cell = [json.loads(x) for x in path.read_text().splitlines()]
    head.pop("submission_id")
    many = []
    for seed in range(40):  # 40 cells, each with its own problems: the check stops after the first MAX_PROBLEMS
        c = json.loads(json.dumps(cell))
        c["record"]["seed"] = 1000 + seed  # a seed of no design: one problem (the split) a cell
        c["record"]["attack"]["params"] = {k: v for k, v in c["record"]["attack"]["params"].items() if not k.startswith("made_up")}
        many.append(c)
    problems = publish.published_problems(read_submission(_write_raw(root, {**head, "title": "Many"}, many)), publish._Tracks(load_plugins(())[1]))
    assert publish.MAX_PROBLEMS <= len(problems) < publish.MAX_PROBLEMS + 10 and "were not checked" in problems[-1], problems


def test_a_files_run_id_searches_share_one_allowance(monkeypatch):
    """A record without an identity has its run id searched over override sets: a file of cells each found at the
    65,536th set passed and cost a build hours (re-attack 47). The file's cells share one allowance."""
    from bench._publish_checks import run_id_problems
    from bench.testing import make_record

    rec = make_record({"name": "loss", "params": {f"p{i}": i for i in range(6)}}, "none", run_id="f" * 64)
    allowance = [40]
    first = run_id_problems(rec, "1", "0" * 64, allowance)
    assert first and "is not the hash" in first[0] and allowance == [0]  # 2^6 = 64 sets, 40 allowed
    assert "all this file had left" in run_id_problems(rec, "1", "0" * 64, allowance)[0] and allowance == [0]


def test_a_submission_of_more_cells_than_a_board_holds_is_refused(tmp_path, monkeypatch):
    import bench._submission as submission

    root = tmp_path / "lb"
    path = _forge(root, cells=3, title="Someone else", book=False)
    monkeypatch.setattr(submission, "MAX_CELLS", 2)
    _refused_on_build(root, path, "3 cells, over the 2 one submission may hold")


def test_a_title_is_printed_in_the_readme_as_its_characters_not_as_markdown_would_read_them():
    from bench.site import _md_text

    assert _md_text("privbench first-par&zwnj;ty baselines") == "privbench first-par\\&zwnj;ty baselines"
    # GitHub renders $…$ as math after the escapes are gone (a zero-width \vphantom hid a word); a span is its literal $
    assert _md_text("privbench $\\vphantom{q}$ x") == "privbench <span>$</span>\\\\vphantom\\{q\\}<span>$</span> x"


def test_an_honest_copy_builds_and_one_bad_file_does_not_stop_the_build(tmp_path):
    """The checks pass a first-party file as it is; a file that is not JSON, one of no cells and one holding a cell
    twice are each reported and left off, and the honest board is still built (one such file made every build raise)."""
    root = tmp_path / "lb"
    honest = _forge(root, cells=2)
    assert _build(root, "--out", str(tmp_path / "site")).exit_code == 0 and _build(root, "--check").exit_code == 0
    twice = _forge(root, lambda r, h: h.update(title="Twice"), cells=1)
    lines = twice.read_text().splitlines()
    twice.unlink()
    from bench._submission import Header, write_submission

    twice = write_submission(root, Header.from_dict(json.loads(lines[0]), "x"), [json.loads(lines[1])] * 2)[1]
    (root / "digits" / "cpu" / ("a" * 16 + ".jsonl")).write_text("{not json\n")
    empty = write_submission(root, Header("digits", "cpu", "Empty"), [])[1]
    # each of these crashed the whole build (re-attack): a folder, a dangling link and a link to /dev/zero named like
    # a submission, and a cell whose seed no design can be drawn for
    folder, dangling, zero = (root / "digits" / "cpu" / (c * 16 + ".jsonl") for c in "bcd")
    folder.mkdir()
    dangling.symlink_to(tmp_path / "nowhere")
    zero.symlink_to("/dev/zero")
    negative = _forge(root, lambda r, h: r.update(seed=-1) or h.update(title="Negative"))
    res = _build(root, "--out", str(tmp_path / "site"))
    assert res.exit_code == 0, res.output
    for path, why in ((twice, "the same cell as line 2"), (root / "digits" / "cpu" / ("a" * 16 + ".jsonl"), "not JSON lines"),
                      (empty, "at least one cell"), (folder, "not a regular file"), (dangling, "not a regular file"),
                      (zero, "not a regular file"), (negative, "")):
        assert f"refused: {path}: " in res.output and why in res.output, (why, res.output)
    assert {e.submission_id for _, e in entry_records(root)} == {honest.stem}
    assert _build(root, "--check").exit_code == 1


@pytest.mark.parametrize("roc, expect", [
    ([1], 'must be {"fpr"'), ({"fpr": [0.0, 1.0], "tpr": []}, "one length"), ({"fpr": [0.0, 2.0], "tpr": [0.0, 1.0]}, "in [0, 1]"),
    ({"fpr": [0.0, "x"], "tpr": [0.0, 1.0]}, "in [0, 1]"), ({"fpr": [1.0, 0.0], "tpr": [0.0, 1.0]}, "decreasing"),
    ({"fpr": [0.0, 1.0], "tpr": [0.0, 10**400]}, "in [0, 1]")])  # overflowed math.isfinite and stopped build
def test_a_cell_whose_roc_cannot_be_drawn_is_refused_and_the_boards_still_build(tmp_path, roc, expect):
    """A hand-written "roc" of [1] stopped build and --check; one of no tpr points stopped the site while --check
    stayed green (adversarial review)."""
    from bench._submission import Header, write_submission

    root = tmp_path / "lb"
    path = _forge(root, title="Someone else", book=False)
    head, cell = [json.loads(x) for x in path.read_text().splitlines()]
    path.unlink()
    cell["roc"] = roc
    _refused_on_build(root, write_submission(root, Header.from_dict(head, "forged"), [cell])[1], expect)


def test_a_verification_file_with_fields_of_the_wrong_type_is_skipped_not_fatal(tmp_path):
    """A hand-written verification whose hardware was a list stopped every build (adversarial review)."""
    from bench._submission import VERIFICATIONS

    root = tmp_path / "lb"
    path = _forge(root, title="Someone else", book=False)
    rec = json.loads(path.read_text().splitlines()[1])["record"]
    folder = path.parent / VERIFICATIONS
    folder.mkdir()
    (folder / f"{path.stem}__{rec['run_id'][:12]}__000000000000.json").write_text(json.dumps({
        "kind": "privbench-verification", "format": 1, "submission_id": path.stem, "run_id": rec["run_id"], "agree": True,
        "hardware": ["x"], "device": "cpu", "verified_at": "2026-11-27T00:00:00Z", "record": rec, "agreement": {}}))
    res = _build(root, "--out", str(tmp_path / "site"))
    assert res.exit_code == 0 and "refused" not in res.output, res.output
    from bench._entry import load_entries

    assert [e.verification for _, e in load_entries(root)] == [None]  # skipped: it vouches for nothing


def test_only_a_booked_part_may_supersede_a_booked_part_whatever_the_title():
    """A look-alike title the checks missed took the whole digits board off with one `supersedes` (re-attack 45): the
    book, not the title, says which files may replace our parts."""
    from bench._entry import replaced_ids
    from bench._submission import FIRST_PARTY_TITLE, Header, SubmissionFile

    def sub(sid, supersedes=()):
        return SubmissionFile(Header(track="digits", tier="cpu", title=FIRST_PARTY_TITLE, supersedes=tuple(supersedes),
                                     plugins={"privbench": "0.1.0"}), (), sid, True)

    old, forged, ours = sub("a" * 16), sub("b" * 16, ["a" * 16]), sub("c" * 16, ["a" * 16])
    assert replaced_ids([old, forged]) == {"a" * 16}  # by title alone it would
    assert replaced_ids([old, forged], frozenset({"a" * 16})) == set()
    assert replaced_ids([old, ours], frozenset({"a" * 16, "c" * 16})) == {"a" * 16}


@pytest.mark.parametrize("field, value", [("title", ["privbench"]), ("title", {"a": 1}), ("paper", 3), ("plugins", ["privbench"]),
                                          ("plugins", {"privbench": ["0.1"]}), ("submitted_at", 5)])
def test_a_header_field_of_the_wrong_type_is_refused_not_fatal(tmp_path, field, value):
    """A title that was a list stopped build and --check (re-attack 45)."""
    root = tmp_path / "lb"
    path = _forge(root, title="Someone else", book=False)
    head, *cells = path.read_text().splitlines()
    head = json.loads(head)
    head[field] = value
    path.write_text("\n".join([json.dumps(head), *cells]) + "\n")
    res = _build(root, "--out", str(tmp_path / "site"))
    assert res.exit_code == 0 and f"refused: {path}: " in res.output and f"'{field}'" in res.output, res.output


@pytest.mark.parametrize("change, expect", [
    (lambda m: m.update(auc=-5), "'auc' is -5"), (lambda m: m.update(auc=1e308), "a rate is a number in [0, 1]"),
    (lambda m: m.update(auc="0.5"), "'auc' is '0.5'"), (lambda m: m.update(auc_ci=[0.6, 0.5]), "an interval is [low, high]"),
    (lambda m: m.update(**{"tpr@1%fpr": True}), "'tpr@1%fpr' is True"), (lambda m: m.update(epsilon_lb=-1.0), "lower bound on ε")])
def test_a_metric_that_is_not_a_value_is_refused(tmp_path, change, expect):
    """Only verify can check a published number, but a hand-written AUC of -5 is not even one (re-attack 45)."""
    root = tmp_path / "lb"
    _refused_on_build(root, _forge(root, lambda r, h: change(r["metrics"]), title="Someone else", book=False), expect)


def test_check_also_builds_the_site(tmp_path, monkeypatch):
    """A published option once stopped the site's build while --check, which only compared the README, stayed green."""
    root = tmp_path / "lb"
    _forge(root, title="Someone else", book=False)
    assert _build(root, "--out", str(tmp_path / "site")).exit_code == 0
    assert _build(root, "--check").exit_code == 0

    def boom(*args, **kwargs):
        raise ValueError("a label matplotlib cannot draw")

    monkeypatch.setattr("bench.site.build_site", boom)
    res = _build(root, "--check")
    assert res.exit_code == 1 and "the site cannot be built" in res.output and "cannot draw" in res.output, res.output
