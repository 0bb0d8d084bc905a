"""`privbench report`: the figures' numbers, the page built from a run folder, and (slow) a real digits run in Chromium."""

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench._figures import FrontierPoint, log_grid, pareto, plot_frontier, roc_band, tpr_at
from bench._records import ResultsWriter
from bench.cli import cli
from bench.metrics import roc, tpr_at_fpr
from bench.report import build_report, load_cells
from bench.testing import make_record

SHOTS = os.environ.get("PRIVBENCH_SHOTS")  # a folder to keep the browser screenshots in (default: the test's tmp dir)
EVIL = '<script>alert(1)</script>"onmouseover=alert(2)'


def _fake_run(folder: Path, rng: np.random.Generator, attack_names=("loss", "lira"), defenses=("none", "l2")) -> Path:
    """A run folder as the runner writes it: records in results.jsonl, per-candidate arrays in scores/."""
    writer = ResultsWriter(folder)
    for d_i, defense in enumerate(defenses):
        for a_i, attack in enumerate(attack_names):
            for seed in (0, 1):
                member = rng.permutation(np.arange(200) < 100)
                scores = rng.normal(size=200) + (1.0 - 0.5 * d_i + 0.3 * a_i) * member
                arrays = {"scores": scores, "is_member": member, "candidate_units": rng.permutation(1000)[:200]}
                if attack == "lira":
                    arrays |= {"memorization": np.where(member, 0.8, 0.1) + 0.01 * rng.random(200), "lira_gap": rng.normal(size=200)}
                run_id = f"r{d_i}{a_i}{seed}"
                rec = make_record(attack, {"name": defense, "params": {"c": 1} if defense != "none" else {}}, seed, track="digits", tier="smoke",
                                  run_id=run_id, metrics={"auc": 0.6 + 0.05 * a_i, "auc_ci": [0.55, 0.65], "tpr@0.1%fpr": 0.01 * (1 + a_i),
                                                          "tpr@0.1%fpr_ci": [0.0, 0.05], "tpr@1%fpr": 0.05, "tpr@1%fpr_ci": [0.02, 0.1]},
                                  utility={"test_accuracy": 0.9 - 0.1 * d_i + 0.01 * seed, "train_accuracy": 1.0})
                writer.append(rec.replace(scores_file=writer.save_scores(run_id, arrays)))
    writer.append(make_record(EVIL, "none", 0, track="digits", tier="smoke", run_id="bad", status="failed", error="boom: " + EVIL))
    return folder


def test_tpr_at_is_the_metric_definition():
    rng = np.random.default_rng(0)
    y = rng.random(400) < 0.5
    s = rng.normal(size=400) + y + np.round(rng.random(400), 1)  # ties on purpose
    fpr, tpr, _ = roc(s, y)
    grid = log_grid(int((~y).sum()), 30)
    got = tpr_at(s, y, grid)
    want = [tpr_at_fpr(fpr, tpr, x) for x in grid]
    assert np.allclose(got, want)


def test_roc_band_brackets_the_curve_and_narrows_with_data():
    rng = np.random.default_rng(1)
    widths = []
    for n in (200, 3000):
        y = rng.random(n) < 0.5
        s = rng.normal(size=n) + 1.5 * y
        grid = np.array([0.01, 0.1, 0.5])
        t, lo, hi = roc_band(s, y, grid, n_boot=100)
        assert np.all(lo <= t + 1e-9) and np.all(t <= hi + 1e-9)
        widths.append(float(np.mean(hi - lo)))
    assert widths[1] < widths[0] * 0.6


def test_pareto_keeps_only_undominated_points():
    pts = [(0.1, 90.0), (0.2, 95.0), (0.3, 94.0), (0.05, 80.0), (0.1, 85.0)]
    assert pareto(pts) == [(0.05, 80.0), (0.1, 90.0), (0.2, 95.0)]


def test_frontier_legend_names_every_point_off_the_axes(tmp_path):
    """Labels sit in the legend, below the axes: no text is drawn inside either panel, however the points coincide."""
    pts = [FrontierPoint(f"defense-{i}", 0.9, 0.01, 0.0, (0.0, 0.003), 0.5, (0.48, 0.52)) for i in range(12)]
    files = plot_frontier(pts, "TPR@0.1%FPR", "t", tmp_path / "f")
    assert files == ["f.png", "f.svg"]
    svg = (tmp_path / "f.svg").read_text()
    assert all(f"defense-{i}" in svg for i in range(12))


@pytest.mark.slow
def test_report_page_figures_and_escaping(tmp_path):
    run = _fake_run(tmp_path / "run", np.random.default_rng(2))
    records, cells = load_cells(run)
    assert len(records) == 9 and len(cells) == 8
    page = build_report(run, tmp_path / "out", top=5)
    html = page.read_text()
    figs = sorted(p.name for p in (tmp_path / "out" / "figures").iterdir() if not p.name.startswith("exposed-"))
    # per defense: a ROC and a histogram; per track and tier: a frontier; each as PNG and SVG (plus exposed thumbnails)
    assert len(figs) == 2 * (2 * 2 + 1) and all((tmp_path / "out" / "figures" / n).stat().st_size > 2000 for n in figs)
    for name in figs:
        assert f"figures/{name}" in html
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;&#34;onmouseover=alert(2)" in html
    assert "Most memorized candidates" in html and "memorization" in html


def test_exposed_examples_are_the_strongest_attacks_top_members(tmp_path):
    from bench.report import _exposed

    run = _fake_run(tmp_path / "run", np.random.default_rng(3), attack_names=("loss",), defenses=("none",))
    _, cells = load_cells(run)
    rows = _exposed(cells, 4)
    assert len(rows) == 4
    for r in rows:
        cell = next(c for c in cells if c.record.seed == r["seed"])
        i = int(np.flatnonzero(cell.units == r["unit"])[0])
        assert cell.is_member[i]
        assert float(r["score"]) == pytest.approx(cell.scores[i], rel=1e-3)
    assert float(rows[0]["beats"].rstrip("%")) >= float(rows[-1]["beats"].rstrip("%"))


def test_cli_report_errors_name_the_folder(tmp_path):
    res = CliRunner().invoke(cli, ["report", str(tmp_path / "missing")])
    assert res.exit_code == 1 and "missing is not a run folder" in res.output
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(cli, ["report", str(tmp_path / "empty")])
    assert res.exit_code == 1 and "no result records" in res.output and "privbench run --out" in res.output


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A real digits run: two attacks (LiRA online exports memorization) against two defenses, smoke budget."""
    from bench._runner import Plan, run_plan
    from bench.testing import make_session

    out = tmp_path_factory.mktemp("digits-run")
    plan = Plan(tracks=["digits"], attacks=["loss", "lira"], defenses=["none", "l2"], seeds=[0], budget="smoke", out_dir=str(out),
                progress=False, device="cpu")
    records = run_plan(plan, session=make_session(tracks=plan.tracks, attacks=plan.attacks, defenses=plan.defenses, out_dir=str(out)))
    assert [r.status for r in records] == ["ok"] * 4, [(r.label(), r.error) for r in records]
    return out


@pytest.mark.slow
def test_report_of_a_digits_run_loads_in_chromium(digits_run, tmp_path, browser, serve, web):
    from selenium.webdriver.common.by import By

    res = CliRunner().invoke(cli, ["report", str(digits_run), "--out", str(tmp_path / "report")])
    assert res.exit_code == 0, res.output
    browser.get(serve(tmp_path / "report") + "report.html")
    assert web.console_errors(browser) == []
    imgs = browser.find_elements(By.CSS_SELECTOR, "figure img")
    assert len(imgs) == 2 * 2 + 1  # ROC + histograms per defense, one frontier
    assert web.broken_images(browser) == []
    assert all(browser.execute_script("return arguments[0].naturalWidth", i) > 300 for i in imgs)
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1366
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Most exposed members" in text and "Most memorized candidates" in text  # LiRA's exports are shown
    shot = Path(SHOTS or tmp_path) / "report.png"
    assert web.screenshot(browser, shot) and shot.stat().st_size > 20_000


def test_report_and_site_read_records_only():
    """The views never import the runner, verify or torch, even when the site asks the plugins for its catalog
    (discovery registers the local executor, so bench.executors may load)."""
    import subprocess
    import sys

    code = ("import sys, bench.report, bench._site_pages as p, bench._cli_report; c = p.load_catalog(); "
            "assert c.threat_models.get('lira') == 'scores' and c.tracks.get('digits'), c; "
            "bad = sorted(m for m in ('bench._runner', 'bench.verify', 'torch') if m in sys.modules); assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_figures_of_params_differing_after_a_dot_do_not_overwrite_each_other(tmp_path):
    """epsilon=1.0 and epsilon=1.5 slug to "...epsilon-1.0"/"...-1.5": the figure names keep the whole slug."""
    writer = ResultsWriter(tmp_path / "run")
    rng = np.random.default_rng(5)
    for i, eps in enumerate((1.0, 1.5)):
        member = rng.permutation(np.arange(200) < 100)
        run_id = f"e{i}"
        rec = make_record("loss", {"name": "dpsgd", "params": {"epsilon": eps}}, 0, track="digits", tier="smoke", run_id=run_id,
                          metrics={"auc": 0.6, "tpr@0.1%fpr": 0.01, "tpr@1%fpr": 0.05}, utility={"test_accuracy": 0.9})
        writer.append(rec.replace(scores_file=writer.save_scores(run_id, {"scores": rng.normal(size=200) + member, "is_member": member})))
    page = build_report(tmp_path / "run", tmp_path / "out")
    roc_pngs = sorted(p.name for p in (tmp_path / "out" / "figures").glob("roc-*.png"))
    assert len(roc_pngs) == 2, roc_pngs
    html = page.read_text()
    assert all(f"figures/{n}" in html for n in roc_pngs)


def test_a_crafted_record_cannot_point_the_report_outside_the_run(tmp_path):
    run = _fake_run(tmp_path / "run", np.random.default_rng(6), attack_names=("loss",), defenses=("none",))
    outside = tmp_path / "secret.npz"
    np.savez(outside, scores=np.arange(4.0), is_member=np.array([1, 0, 1, 0]))
    ResultsWriter(run).append(make_record("loss", "none", 5, track="digits", tier="smoke", run_id="x").replace(scores_file="../secret.npz"))
    bad = ResultsWriter(run).save_scores("y", {"scores": np.arange(5.0), "is_member": np.array([True, False])})  # lengths disagree
    ResultsWriter(run).append(make_record("loss", "none", 6, track="digits", tier="smoke", run_id="y").replace(scores_file=bad))
    records, cells = load_cells(run)
    assert any(r.run_id == "x" for r in records) and not any(c.record.run_id in ("x", "y") for c in cells)
    assert build_report(run, tmp_path / "out").exists()
    from bench import Results

    with pytest.raises(LookupError, match="outside the run folder"):
        Results.load(run).scores("x")


def test_exposed_examples_show_the_tracks_images(tmp_path):
    from bench.report import build_report

    run = _fake_run(tmp_path / "run", np.random.default_rng(5), attack_names=("loss",), defenses=("none",))
    page = build_report(run, tmp_path / "out", top=3)
    html = page.read_text()
    thumbs = sorted((tmp_path / "out" / "figures").glob("exposed-*.png"))
    assert len(thumbs) == 3  # digits is installed: each exposed member's own 8×8 image, read through the track plugin
    for t in thumbs:
        assert f'src="figures/{t.name}"' in html
