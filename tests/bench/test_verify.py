"""`privbench leaderboard verify`: an official re-run from scratch on a fresh split, written as a separate file; the
board counts only verification files it re-checks itself, agreeing by the entry's own intervals."""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

import bench.verify
from bench._agreement import accepted_verification, agreement
from bench._official import prepare_official
from bench.metrics import clopper_pearson
from bench._entry import load_entries
from bench._submission import Header, read_submission, write_submission, write_verification
from bench.cli import cli
from bench.site import entry_records, render_readme, rows_from_records
from bench.testing import make_record

REPO = Path(__file__).resolve().parents[2]


def _rec(auc=0.60, tpr=0.02, acc=0.95, **parts):
    metrics = {"auc": auc, "auc_ci": [auc - 0.035, auc + 0.035], "tpr@0.1%fpr": tpr, "tpr@1%fpr": 2 * tpr,
               "n_members": 500, "n_nonmembers": 500}
    base = {"run_id": "r" * 64, "track": {"name": "digits", "version": "1", "split_sha256": "a" * 64, "task": "classification"}}
    return make_record("loss", "none", metrics=metrics, utility={"test_accuracy": acc}, **{**base, **parts})


def _official(**kw):
    rec = _rec(**kw)
    return rec.replace(official=True, track=rec.track.__class__(**{**dict(rec.track), "split_sha256": "b" * 64, "split_seed": 7}),
                       isolation={"mode": "process", "sandbox": "bwrap", "sandboxed": True, "private_tmp": True})


def test_agreement_is_the_overlap_of_the_entrys_intervals_with_the_reproductions():
    assert agreement(_rec(), _official(auc=0.62, tpr=0.016, acc=0.94))["agree"] is True
    edited = agreement(_rec(tpr=0.30), _official())
    assert edited["agree"] is False and edited["metrics"]["tpr@0.1%fpr"]["agree"] is False
    assert edited["metrics"]["auc"]["agree"] is True


def test_a_widened_interval_or_sample_size_in_the_entry_buys_nothing():
    wide = _rec(auc=0.80)
    wide = wide.replace(metrics={**wide.metrics, "auc_ci": [0.0, 1.0], "n_members": 1})
    out = agreement(wide, _official(auc=0.60))["metrics"]
    assert out["auc"]["agree"] is False and out["auc"]["published_interval"][0] == pytest.approx(0.765)  # the reproduction's reach
    assert agreement(_rec(tpr=0.2).replace(metrics={**_rec(tpr=0.2).metrics, "n_members": 1}), _official())["agree"] is False


def test_the_reproductions_spread_over_its_targets_widens_both_intervals_and_the_entrys_own_does_not():
    """Decisions cluster by target: where the reproduction's targets disagree beyond the binomial count, its standard
    error over targets sets the intervals' half-width; a spread written in the entry counts for nothing."""
    def targets(values):
        return [{"target": i, "auc": 0.6, "tpr@0.1%fpr": v, "tpr@1%fpr": 2 * v} for i, v in enumerate(values)]

    published = _rec(tpr=0.06)  # Clopper-Pearson at 500 members: [0.041, 0.085] against the reproduction's [0.007, 0.031]
    assert agreement(published, _official(tpr=0.016))["metrics"]["tpr@0.1%fpr"]["agree"] is False
    spread = _official(tpr=0.016).replace(per_target=targets([0.0, 0.08, 0.0, 0.0]))  # se over 4 targets: 0.02
    out = agreement(published, spread)["metrics"]["tpr@0.1%fpr"]
    cp = clopper_pearson(8, 500)  # t(0.975, 3) x 0.02 = 0.064, capped at 3 binomial half-widths
    assert out["agree"] is True and out["reproduced_interval"][1] == pytest.approx(0.016 + 3 * (cp[1] - cp[0]) / 2)
    assert agreement(published.replace(per_target=targets([0.0, 0.5, 0.0, 0.5])), _official(tpr=0.016))["agree"] is False
    assert agreement(_rec(tpr=0.30), spread)["metrics"]["tpr@0.1%fpr"]["agree"] is False  # an edit beyond the spread
    steady = _official(tpr=0.016).replace(per_target=targets([0.016] * 4))  # no spread: the binomial intervals stand
    assert agreement(published, steady)["metrics"]["tpr@0.1%fpr"]["agree"] is False


def test_on_a_pool_design_the_test_accuracy_is_counted_on_the_pools_distinct_examples_not_the_pooled_decisions():
    """T targets are each scored on their half of one pool of 2N: T x N pooled non-members hold at most 2N distinct
    examples. Measured on the digits cpu board: an honest official re-run gave 0.963 against a published 0.945."""
    def pooled(rec, targets=8, n=500):
        return rec.replace(metrics={**rec.metrics, "n_members": targets * n, "n_nonmembers": targets * n},
                           design={"kind": "lira-pool", "models": 17, "pool": 2 * n, "targets": targets})

    published = pooled(_rec(acc=0.945))
    counted_pooled = _official(acc=0.963).replace(metrics={**_official().metrics, "n_members": 4000, "n_nonmembers": 4000})
    assert agreement(published, counted_pooled)["metrics"]["test_accuracy"]["agree"] is False  # at 4,000: too narrow
    out = agreement(published, pooled(_official(acc=0.963)))["metrics"]["test_accuracy"]
    assert out["agree"] is True and out["published_interval"] == pytest.approx(list(clopper_pearson(945, 1000)))
    assert agreement(published, pooled(_official(acc=0.90)))["metrics"]["test_accuracy"]["agree"] is False  # an edit still shows
    other = pooled(_official(acc=0.963)).replace(design={"kind": "one-target", "pool": 1000})  # only a pool design's pool
    assert agreement(published, other)["metrics"]["test_accuracy"]["agree"] is False
    forged = published.replace(design={**published.design, "pool": 10})  # the entry's own design widens nothing
    assert agreement(forged, counted_pooled)["metrics"]["test_accuracy"]["agree"] is False


def test_a_plugin_that_fails_or_protects_some_targets_on_purpose_cannot_widen_a_forged_entry_into_agreement():
    """The reproduction's spread over targets is the submitter's doing. An attack that inverts its scores on 2 of the
    cpu tier's 8 targets (AUC 0.7 -> 0.3, its TPRs -> 0) inflates the standard error over targets, which widens both
    intervals; so does a defense that protects 2 of 8 targets completely. The widening is capped at 3 binomial
    half-widths, and an entry beyond what the targets reached gets none: neither the attack's best target (0.70), nor
    a forged 0.78, nor the defense's claim of chance against a pooled 0.72 is that cell re-run."""
    def rec(base, auc, tpr01, tpr1, per_target=None):  # 8 targets x 500 members, pooled
        metrics = {**base.metrics, "auc": auc, "auc_ci": [auc - 0.012, auc + 0.012], "tpr@0.1%fpr": tpr01, "tpr@1%fpr": tpr1,
                   "n_members": 4000, "n_nonmembers": 4000}
        return base.replace(metrics=metrics, per_target=per_target)

    kept = [1] * 6 + [0] * 2
    sabotaged = rec(_official(), 0.6, 0.015, 0.075, [{"target": i, "auc": 0.7 if k else 0.3, "tpr@0.1%fpr": 0.02 * k,
                                                      "tpr@1%fpr": 0.1 * k} for i, k in enumerate(kept)])
    assert agreement(rec(_rec(), 0.63, 0.016, 0.08), sabotaged)["agree"] is True  # near the pooled value: the spread helps
    assert agreement(rec(_rec(), 0.63, 0.016, 0.08), rec(_official(), 0.6, 0.015, 0.075))["agree"] is False  # without it, not
    for claim in ((0.70, 0.02, 0.10), (0.78, 0.027, 0.135)):
        forged = agreement(rec(_rec(), *claim), sabotaged)
        assert forged["agree"] is False and forged["metrics"]["auc"]["agree"] is False, claim
    protected = rec(_official(), 0.72, 0.03, 0.155, [{"target": i, "auc": 0.8 if k else 0.5, "tpr@0.1%fpr": 0.04 * k,
                                                       "tpr@1%fpr": 0.2 * k + 0.01} for i, k in enumerate(kept)])
    low = agreement(rec(_rec(), 0.5, 0.001, 0.02), protected)
    assert low["agree"] is False and low["metrics"]["auc"]["agree"] is False and low["metrics"]["tpr@1%fpr"]["agree"] is False


def test_only_an_agreeing_official_reproduction_on_a_fresh_split_is_accepted():
    published = _rec()
    good = {"run_id": published.run_id, "record": _official().to_dict()}
    assert accepted_verification(published, good) is None
    assert "official" in accepted_verification(published, {**good, "record": _rec().to_dict()})
    same_split = _official().replace(track=published.track.__class__(**{**dict(published.track), "split_seed": 7}))
    assert "fresh" in accepted_verification(published, {**good, "record": same_split.to_dict()})
    forged = {**good, "record": _official(tpr=0.3).to_dict(), "agree": True}  # a stored flag counts for nothing
    assert "does not agree" in accepted_verification(published, forged)
    other = _official().replace(attack=published.attack.__class__("loss", {"calibration_shadows": 9}))
    assert "attack" in accepted_verification(published, {**good, "record": other.to_dict()})
    # an entry that moved itself to a weaker-access board (a scores attack claiming labels) is not the cell re-run
    claimed = published.replace(attack=published.attack.__class__("loss", threat_model="label"))
    honest = _official().replace(attack=published.attack.__class__("loss", threat_model="scores"))
    assert "threat model" in accepted_verification(claimed, {**good, "record": honest.to_dict()})
    assert accepted_verification(published, {**good, "record": honest.to_dict()}) is None  # an entry stating none: the catalog's
    # an entry of another plugin's attack under an installed attack's name (the submitter disabled the installed one):
    # the reproduction ran the installed plugin, not the submitter's code, and vouches for nothing
    impostor = published.replace(attack=published.attack.__class__("loss", plugin="evil-mia"))
    real = _official().replace(attack=published.attack.__class__("loss", plugin="loss"))
    assert "attack" in (accepted_verification(impostor, {**good, "record": real.to_dict()}) or "")
    # `verify --sandbox off`: the submitter's attack could read the drawn split seed (or the cold cache) and reproduce
    # its own forged numbers; such a reproduction vouches for nothing
    for box in ({"mode": "process", "sandbox": None, "sandboxed": False}, None, {"mode": "process", "sandbox": "bwrap", "sandboxed": True, "private_tmp": False}):
        assert "sandboxed" in accepted_verification(published, {**good, "record": _official().replace(isolation=box).to_dict()})


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="open hole (review adv12): verify reproduces without the scenario sets and "
                   "compares AUC, the TPRs and test accuracy only (what the site and README boards show), while a published record's "
                   "fpr_<set>, recomputed by submit from the submitter's own scenario_scores, appear in `leaderboard table --wide`. Comparing them by Clopper-Pearson overlap was tried "
                   "and is wrong: the 5 % threshold is itself estimated (leave-one-out over the other targets' non-members), so "
                   "honest reproductions differ beyond binomial noise (digits smoke, confidence: fpr_nonmembers 0.071 "
                   "[0.056, 0.089] published vs 0.039 [0.028, 0.053] reproduced); it needs an interval with the threshold's "
                   "own sampling error, or a threshold-free quantity recomputed at submit")
def test_a_verification_vouches_for_every_metric_the_board_shows():
    published = _rec()
    forged = published.replace(metrics={**published.metrics, "fpr_neighbours": 0.0, "fpr_neighbours_ci": [0.0, 0.007]})
    reproduced = _official()  # as reproduce() makes it: scenarios=False, so no fpr_<set> to compare
    assert accepted_verification(forged, {"run_id": forged.run_id, "record": reproduced.to_dict()}) is not None


@pytest.fixture
def committed(tmp_path, old_digits_board):
    """A copy of the committed digits/cpu submission, and a cheap cell whose plugins are still at the published versions (confidence against none, seed 0)."""
    src = old_digits_board
    dest = tmp_path / "lb" / "digits" / "cpu" / src.name
    dest.parent.mkdir(parents=True)
    shutil.copy(src, dest)
    cell = next(c for c in read_submission(dest).cells
                if (c.record.attack.name, c.record.defense.name, c.record.seed) == ("confidence", "none", 0))
    return dest, cell.record


def test_a_verification_block_inside_a_submission_is_ignored(committed, tmp_path):
    from bench._submission import Header, write_submission

    path, rec = committed
    cell = json.loads(path.read_text().splitlines()[1])
    cell["verification"] = {"device": "cpu", "hardware": "self-declared", "verified_at": "2026-01-01T00:00:00Z"}
    root = tmp_path / "crafted"
    write_submission(root, Header("digits", "cpu", title="self-verified"), [cell])  # hashes fine: a crafted file, not an edit
    ((_, entry),) = load_entries(root)
    assert entry.title == "self-verified" and not entry.verified
    assert "self-reported" in render_readme(rows_from_records(entry_records(root, check=False)))
    lines = path.read_text().splitlines()  # the same block edited into a published file: that file is refused
    lines[1] = json.dumps(cell)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="edited after it was submitted"):
        load_entries(path.parents[2])


def test_a_hand_written_verification_file_does_not_mark_the_entry(committed):
    path, rec = committed
    sid = path.stem
    write_verification(path.parents[2], "digits", "cpu", {"submission_id": sid, "run_id": rec.run_id, "agree": True,
                                                          "hardware": "trust me", "record": rec.to_dict()})
    entry = next(e for _, e in load_entries(path.parents[2]) if e.record.run_id == rec.run_id)
    assert not entry.verified, "a copy of the entry itself is not an official reproduction"


@pytest.fixture
def fresh(tmp_path):
    """A digits/smoke submission made now with the installed harness (LiRA's pool design): the committed boards are
    of track version 1 (one target per cell) until they are republished, and verify reproduces with the installed
    track, so it reproduces this one."""
    from bench._runner import run_plan
    from bench.publish import submit
    from bench.testing import make_session

    with make_session(tracks=["digits"], attacks=["confidence"], defenses=["none"], seeds=[0], budget="smoke",
                      out_dir=str(tmp_path / "run"), scenarios=False) as session:
        (rec,) = run_plan(session.plan, session=session)
    sub = submit([tmp_path / "run"], tmp_path / "lb")
    assert sub.problems == [], sub.problems
    return sub.written[0], rec


@pytest.mark.slow
def test_verify_retrains_an_entry_and_agrees_then_a_tampered_one_disagrees(fresh, tmp_path):
    path, rec = fresh
    before = path.read_bytes()
    res = CliRunner().invoke(cli, ["leaderboard", "verify", str(path), "--cell", rec.run_id[:12], "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "agrees; verification written to" in res.output and "DIFFERS" not in res.output
    assert path.read_bytes() == before, "verify never edits the submission"
    (vfile,) = (path.parent / "verifications").glob(f"{path.stem}__{rec.run_id[:12]}__*.json")
    data = json.loads(vfile.read_text())
    new = data["record"]
    assert new["official"] is True and isinstance(new["track"]["split_seed"], int)
    assert new["track"]["split_sha256"] != rec.track.split_sha256, "a fresh split"
    assert new["isolation"]["mode"] == "process" and data["wall_seconds"] > 0
    print(f"verify of digits/smoke confidence/none seed0 took {data['wall_seconds']} s")
    entry = next(e for _, e in load_entries(path.parents[2]) if e.record.run_id == rec.run_id)
    assert entry.verified and entry.verification["hardware"]
    assert "| verified (re-run TPR@1%FPR " in render_readme(rows_from_records(entry_records(path.parents[2], check=False)))  # its one seed, verified
    elsewhere = path.parents[2] / "zz" / "yy" / "verifications" / vfile.name  # filed under another board's folder
    elsewhere.parent.mkdir(parents=True)
    vfile.rename(elsewhere)
    assert not next(e for _, e in load_entries(path.parents[2]) if e.record.run_id == rec.run_id).verified
    elsewhere.rename(vfile)
    # the same cell with an edited TPR: the reproduction's interval does not reach it
    lines = path.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if rec.run_id in line)
    cell = json.loads(lines[i])
    cell["record"]["metrics"]["tpr@0.1%fpr"] = 0.5
    lines[i] = json.dumps(cell)
    tampered = tmp_path / "tampered" / "digits" / "smoke" / path.name
    tampered.parent.mkdir(parents=True)
    tampered.write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(cli, ["leaderboard", "verify", str(tampered), "--cell", rec.run_id[:12], "--device", "cpu"])
    assert res.exit_code == 1 and "tpr@0.1%fpr: published 0.5" in res.output and "DIFFERS" in res.output
    assert "does NOT agree" in res.output


PUBLIC = 5548562201814665258  # leaderboards/digits/cpu/verifications/284def05dc64dbc7__15743093eca3__…json shows it


def _crafted(root, run_id):
    """A hand-made submission (its id is only a sha256 of its content): one cell whose run id is chosen."""
    rec = make_record("loss", "none", 0, track="digits", tier="cpu", run_id=run_id,
                      metrics={"auc": 0.9, "auc_ci": [0.89, 0.91], "tpr@0.1%fpr": 0.5, "tpr@1%fpr": 0.6}, utility={"test_accuracy": 0.9})
    sid, path = write_submission(root, Header("digits", "cpu", "Mine", plugins={"privbench": "0.1.0"}), [{"record": rec.to_dict(), "roc": None}])
    return path


def _fake_reproduce(seen):
    def reproduce(rec, work, **kw):  # what bench.verify.reproduce's official run does first: prepare_official(plan)
        plan = SimpleNamespace(out_dir=str(work), isolation="process", split_seed=None, cache_dir=None)
        prepare_official(plan)
        seen.append((Path(work), plan.split_seed))
        return rec.replace(official=True, track=rec.track.__class__(**{**rec.track.__dict__, "split_seed": plan.split_seed}))
    return reproduce


def test_verify_never_resumes_an_earlier_work_folder_whose_split_may_be_public(tmp_path, monkeypatch):
    """verify --work-dir W re-runs each cell in W/<the entry's run_id[:12]>. A hand-made cell whose run id starts like a
    cell verified earlier with the same W (the prefix is in the committed verification file's name) resumes in that
    folder: prepare_official reads its .official/split_seed.json, a seed the committed verification file shows. The
    reproduction is 'official' and sandboxed on a split the attack plugin can read from leaderboards/."""
    work = tmp_path / "W"
    earlier = work / "15743093eca3" / ".official"  # the maintainers' earlier `verify --work-dir W` of 284def05's cell
    earlier.mkdir(parents=True)
    (earlier / "split_seed.json").write_text(json.dumps({"split_seed": PUBLIC}))
    path = _crafted(tmp_path / "lb", "15743093eca3" + "0" * 52)
    seen = []
    monkeypatch.setattr(bench.verify, "reproduce", _fake_reproduce(seen))
    (res,) = bench.verify.verify_submission(path, work_dir=work, registry=object())
    assert seen[0][1] != PUBLIC and res["record"]["track"]["split_seed"] != PUBLIC  # it resumed there (adversarial review)
    assert seen[0][0].parent == work and seen[0][0].name.startswith("15743093eca3-")


def test_verify_work_dir_stays_inside_work_dir_and_a_run_id_never_names_a_path(tmp_path, monkeypatch):
    """An absolute 12-character run id prefix sent the official re-run out of W, and write_verification named its
    file after it ('/../../../..' climbed out of verifications/)."""
    out = Path("/tmp/adv-esc")  # 12 characters
    shutil.rmtree(out, ignore_errors=True)
    path = _crafted(tmp_path / "lb", str(out) + "/" + "0" * 40)
    seen = []
    monkeypatch.setattr(bench.verify, "reproduce", _fake_reproduce(seen))
    try:
        with pytest.raises(ValueError, match="run id name"):
            bench.verify.verify_submission(path, work_dir=tmp_path / "W", registry=object())
        assert seen[0][0].resolve().parent == (tmp_path / "W").resolve() and not out.exists()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_a_verification_file_stays_in_its_verifications_folder(tmp_path):
    from bench._submission import write_verification

    with pytest.raises(ValueError, match="run id name"):
        write_verification(tmp_path / "lb", "digits", "cpu", {"submission_id": "0123456789abcdef", "run_id": "/../../../.." + "0" * 52})
    assert not any((tmp_path / "lb").rglob("*.json"))


def test_failing_one_target_of_the_verification_does_not_buy_a_forged_entry_agreement():
    """The attack reaches TPR@1%FPR 0.10 on every target; a published 0.125 differs from an honest reproduction. The
    same plugin returning random scores on one target of the verification (0.01 there) lowered the pooled value to
    0.089 but spread the targets, and the symmetric widening of both intervals let the forged 0.125 agree
    (adversarial review). An honest spread still widens the reproduction."""
    t, n = 8, 500

    def rec(tpr, per):
        m = {"auc": 0.6, "auc_ci": [0.59, 0.61], "tpr@0.1%fpr": 0.0, "tpr@1%fpr": tpr, "n_members": t * n, "n_nonmembers": t * n}
        r = make_record("a", "none", 0, track="digits", metrics=m, utility={"test_accuracy": 0.9},
                        design={"kind": "lira-pool", "pool": 2 * n, "targets": t, "models": 17})
        return r.replace(per_target=[{"target": i, "auc": 0.6, "tpr@0.1%fpr": 0.0, "tpr@1%fpr": v} for i, v in enumerate(per)])

    forged = rec(0.125, [0.125] * t)
    assert not agreement(forged, rec(0.10, [0.10] * t))["metrics"]["tpr@1%fpr"]["agree"]
    sabotaged = [0.10] * (t - 1) + [0.01]
    assert not agreement(forged, rec(sum(sabotaged) / t, sabotaged))["metrics"]["tpr@1%fpr"]["agree"]
    honest = [0.07, 0.13, 0.08, 0.12, 0.09, 0.11, 0.10, 0.10]  # model-to-model spread, mean 0.10
    got = agreement(rec(0.112, honest), rec(0.10, honest))["metrics"]["tpr@1%fpr"]
    assert got["agree"] and got["reproduced_interval"][1] > clopper_pearson(400, 4000)[1]
