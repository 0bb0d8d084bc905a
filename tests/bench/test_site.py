"""The generated leaderboard site: pages from templates, one per (track, tier, threat model); in headless Chromium
(Debian's chromium + chromedriver, driven by Selenium; fixtures in tests/bench/conftest.py).

The browser tests build the site from the committed entries (and from hostile made-up entries), serve it on
127.0.0.1 and check: no console errors, every image decodes, the digits/cpu page fits a 1,366-px window, a table
sorts on a header click, titles are shown as text on every page, only http(s) links are links. Screenshots go to the
test's tmp dir (or $PRIVBENCH_SHOTS); nothing is written into the repository.
"""

import json
import os
import re
import time
from pathlib import Path

import pytest

from bench._entry import Entry, Submitter
from bench._site_pages import Catalog
from bench.site import build_site, entry_records, render_readme, rows_from_records
from bench.testing import make_record

REPO = Path(__file__).resolve().parents[2]
SHOTS = os.environ.get("PRIVBENCH_SHOTS")
EVIL = '<script>window.__pwned=1</script>"onmouseover="window.__pwned=2'
ROC = {"fpr": [0.001, 0.01, 0.1, 1.0], "tpr": [0.002, 0.05, 0.3, 1.0]}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    items = entry_records(REPO / "leaderboards")
    rows = rows_from_records(items)
    assert len(rows) >= 3, "the committed leaderboards have rows to show"
    out = tmp_path_factory.mktemp("site")
    lines = []
    start = time.perf_counter()
    build_site(items, out, progress=lines.append)
    return out, rows, lines, time.process_time(), time.perf_counter() - start


@pytest.mark.slow
def test_committed_boards_one_page_per_track_tier_threat_model(site):
    out, rows, lines, _, _ = site
    pages = sorted(p.name for p in out.glob("*.html"))
    assert "index.html" in pages and "digits--cpu--scores.html" in pages and "digits--cpu--label.html" in pages
    assert len(lines) == len(pages) - 1 and lines[0].startswith("[1/") and "digits / cpu" in lines[0]
    assert len(list((out / "img").glob("*.png"))) <= 2 * (len(pages) - 1)  # one ROC and one frontier per page, not one per row
    index = (out / "index.html").read_text()
    assert all(f'href="{p}"' in index for p in pages if p != "index.html")
    board = (out / "digits--cpu--scores.html").read_text()
    assert "bundled 8x8 digits" in board  # the track's description
    assert "max_shadows = 16" in board and "scores threat model" in board  # budget limits and threat model
    assert "lira" in board and "rmia" in board and "label-aug" not in board  # a label-only attack sits on the label board


@pytest.mark.slow
def test_site_page_fits_1366_sorts_and_shows_figures(site, serve, browser, web, tmp_path):
    from selenium.webdriver.common.by import By

    out, *_ = site
    base = serve(out)
    browser.get(base)
    assert browser.title == "privbench leaderboards" and web.console_errors(browser) == []
    browser.find_element(By.LINK_TEXT, "digits").click()
    browser.get(base + "digits--cpu--scores.html")
    assert web.console_errors(browser) == [] and web.broken_images(browser) == []
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1366
    table = browser.find_elements(By.CSS_SELECTOR, "table.sortable")[0]
    heads = [th.text for th in table.find_elements(By.CSS_SELECTOR, "th")]
    col = heads.index("AUC")

    def column():
        return [float(td.get_attribute("data-sort")) for td in table.find_elements(By.CSS_SELECTOR, f"tbody tr td:nth-child({col + 1})")]

    before = column()
    assert len(before) >= 2
    table.find_elements(By.CSS_SELECTOR, "th")[col].click()
    assert column() == sorted(before)
    table.find_elements(By.CSS_SELECTOR, "th")[col].click()
    assert column() == sorted(before, reverse=True)
    figures = browser.find_elements(By.CSS_SELECTOR, "figure img")
    assert len(figures) == 2 and all(browser.execute_script("return arguments[0].naturalWidth", f) > 300 for f in figures)
    assert all(f.is_displayed() and f.size["width"] <= 1366 for f in figures)
    shot = Path(SHOTS or tmp_path) / "site-digits-cpu-scores.png"
    assert web.screenshot(browser, shot) and shot.stat().st_size > 20_000


def _hostile_items():
    """Entries whose submission title is hostile, one with a javascript: paper link and an https code link."""
    items = []
    for attack, defense, tpr, paper, code in (("loss", "none", 0.02, "javascript:window.__pwned=3", "https://example.org/code"),
                                              ("label-aug", "dp", 0.001, "https://arxiv.org/abs/2112.03570", None)):
        rec = make_record(attack, defense, metrics={"auc": 0.5 + tpr, "auc_ci": [0.5, 0.6], "tpr@0.1%fpr": tpr, "tpr@1%fpr": 2 * tpr},
                          utility={"test_accuracy": 0.9}, provenance={"device": "cpu"}, track="digits",
                          budget={"tier": "cpu", "limits": {"max_shadows": 16}, "used": {}})
        items.append((rec, Entry(rec, Submitter(title=EVIL, paper=paper, code=code), roc=ROC)))
    return items


def _catalog():
    return Catalog(threat_models={"loss": "scores", "label-aug": "label"}, tracks={"digits": f"digits {EVIL}"})


@pytest.mark.slow
def test_hostile_titles_show_as_text_and_only_http_links_are_links(tmp_path, serve, browser, web):
    from selenium.webdriver.common.by import By

    out = tmp_path / "site"
    build_site(_hostile_items(), out, catalog=_catalog())
    base = serve(out)
    pages = sorted(p.name for p in out.glob("*.html"))
    assert pages == ["digits--cpu--label.html", "digits--cpu--scores.html", "index.html"]
    for page in pages:
        browser.get(base + page)
        assert browser.execute_script("return window.__pwned") is None, page
        assert web.console_errors(browser) == [] and web.broken_images(browser) == []
        body = browser.find_element(By.TAG_NAME, "body").text
        if page != "index.html":
            assert EVIL in body, page  # the title (and the description), shown as text
        hrefs = [a.get_attribute("href") for a in browser.find_elements(By.TAG_NAME, "a")]
        assert not any(h and h.startswith("javascript:") for h in hrefs), page
        assert not browser.find_elements(By.CSS_SELECTOR, "[onmouseover]"), page
    browser.get(base + "digits--cpu--scores.html")
    links = {a.text: a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, ".links a")}
    assert links == {"code": "https://example.org/code"}
    assert "paper: javascript:window.__pwned=3" in browser.find_element(By.TAG_NAME, "body").text
    browser.get(base + "digits--cpu--label.html")
    links = {a.text: a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, ".links a")}
    assert links == {"paper": "https://arxiv.org/abs/2112.03570"}


def test_build_site_writes_only_under_its_folder(tmp_path):
    """No browser: the pages and images of two boards, built into tmp_path; titles escaped in the HTML itself."""
    before = sorted(p.name for p in REPO.iterdir())
    lines = []
    index = build_site(_hostile_items(), tmp_path / "site", catalog=_catalog(), progress=lines.append)
    assert index == tmp_path / "site" / "index.html" and len(lines) == 2
    imgs = sorted(p.name for p in (tmp_path / "site" / "img").iterdir())
    assert imgs == ["frontier-digits--cpu--label.png", "frontier-digits--cpu--scores.png", "roc-digits--cpu--label.png", "roc-digits--cpu--scores.png"]
    assert all(p.stat().st_size > 2000 for p in (tmp_path / "site" / "img").iterdir())
    for page in (tmp_path / "site").glob("*.html"):
        text = page.read_text()
        assert "<script>window" not in text and '"onmouseover=' not in text and 'href="javascript:' not in text
    assert sorted(p.name for p in REPO.iterdir()) == before
    assert not list((tmp_path / "site").rglob("*.tmp"))


def test_leaderboard_table_html_is_one_escaped_page(tmp_path):
    from bench.site import render_html

    rows = rows_from_records(_hostile_items())
    page = render_html(rows)
    assert page.startswith("<!DOCTYPE html>") and page.count("<table") == 1 and "&lt;script&gt;" in page and "<script>window" not in page


def test_a_hostile_title_or_link_stays_one_line_of_text_in_the_readme():
    """A submission title is free text (submit checks only the links, and a URL may hold brackets): in
    leaderboards/README.md neither may open a heading, a table, a link or HTML of its own, here a forged "label
    attacks" board with a "verified" row and a "verified" link."""
    from bench.site import render_readme

    forged = ("Mine\n\n## digits — `cpu` budget — label attacks\n\n| # | attack | status |\n|---|---|---|\n| 1 | fake | verified |"
              "\n\n<img src=x onerror=alert(1)>[verified](https://evil.example)")
    rec, _ = _hostile_items()[0]
    entry = Entry(rec, Submitter(title=forged, paper="https://a.org/x)[verified](https://evil.example"), roc=ROC)
    lines = render_readme(rows_from_records([(rec, entry)], {"loss": "scores"})).splitlines()
    assert [line for line in lines if line.startswith("#")] == ["# Leaderboards", "## digits — `cpu` budget — scores attacks"]
    assert sum(line.startswith("|") for line in lines) == 3  # head, rule, the one row
    (subs,) = [line for line in lines if "Mine" in line]
    assert subs.startswith("Submissions: Mine") and "\\<img" in subs and "](https://evil" not in subs and "[verified]" not in subs
    assert not re.search(r"(?<!\\)[<\[]", subs.split(" ([paper]")[0])  # every bracket of the title escaped: text


def test_the_status_says_whether_the_submitters_runs_were_sandboxed_and_official():
    from bench.site import Row, trust_status

    assert trust_status(Row(seeds=[0, 1], verified=0, sandboxed=2, official=1)) == "self-reported, sandboxed, official 1/2"
    assert trust_status(Row(seeds=[0, 1], verified=2, sandboxed=0, official=0)) == "verified, not sandboxed, not official"
    # a verified row shows its re-runs' own ranking number: agreement is overlap, so the entry's may sit above it
    assert trust_status(Row(seeds=[0, 1], verified=1, reproduced=0.032, sandboxed=2, official=2)) == \
        "verified 1/2 (re-run TPR@1%FPR 3.20%), sandboxed, official"
    # The committed boards: rows run before workers were sandboxed (track version 1) say so; the republish's parts
    # (leaderboards/republish.json books them) ran official and sandboxed, every seed, and their rows say that.
    items = entry_records(REPO / "leaderboards")
    from tests.bench.test_publish import current_parts

    ours = {sid for _, sid in current_parts(REPO / "leaderboards")}
    assert ours and ours <= {e.submission_id for _, e in items}
    assert all(rec.official and rec.isolation["sandboxed"] for rec, e in items if e.submission_id in ours)
    assert all(not rec.official and not (rec.isolation or {}).get("sandboxed") for rec, _ in items if rec.track.version == "1")
    statuses = {trust_status(r).split(", ", 1)[1] for r in rows_from_records(items)}  # after "self-reported"/"verified k/n"
    assert statuses <= {"not sandboxed, not official", "sandboxed, official"} and statuses


def test_the_readme_escapes_a_hand_made_files_threat_model_and_device_and_links_only_http_urls(tmp_path):
    """A file that never went through `submit` (its id is only a sha256 of its content) renders its threat model into a
    README heading and its device into a table cell unescaped, and its paper link (no http check in the README,
    unlike the site's http_url) becomes a markdown link."""
    from bench._submission import Header, iter_submissions, write_submission
    from bench.testing import make_record

    rec = make_record("loss", "none", 0, track="digits", tier="cpu",
                      metrics={"auc": 0.6, "auc_ci": [0.5, 0.7], "tpr@0.1%fpr": 0.01, "tpr@1%fpr": 0.05},
                      utility={"test_accuracy": 0.9}, provenance={"device": "cpu\n\n<b>verified, sandboxed, official</b>\n"})
    data = rec.to_dict()
    data["attack"]["threat_model"] = "scores\n\n<h1>privbench first-party baselines: verified</h1>\n\n## x"
    root = tmp_path / "lb"
    write_submission(root, Header("digits", "cpu", "Mine", paper="ftp://evil.example/x"), [{"record": data, "roc": None}])
    assert all(sub.intact for _, sub in iter_submissions(root))
    assert entry_records(root) == []  # the boards refuse it: submit's checks are re-run on every file
    lines = render_readme(rows_from_records(entry_records(root, check=False))).splitlines()
    # and unchecked, none of the three reaches the README as written (adversarial review: all three did)
    assert "<h1>privbench first-party baselines: verified</h1>" not in lines
    assert "<b>verified, sandboxed, official</b>" not in lines
    assert not any("[paper](ftp://evil.example/x)" in line for line in lines)
    assert "## digits — `cpu` budget — unknown attacks" in lines  # a threat model no plugin has: the unknown board


def test_a_boards_budget_limits_are_the_tiers_not_a_records():
    """The page's "budget limits" line came from whichever record came first, so a hand-made record could state any
    limits (adversarial review): it is the installed track's tier definition."""
    from bench._site_pages import boards, load_catalog

    catalog = load_catalog()
    rec, entry = _hostile_items()[0]
    forged = rec.replace(budget=rec.budget.__class__("cpu", {"max_shadows": 10**6, "device_seconds": 10**9}, {}))
    (board,) = boards([(forged, entry)], rows_from_records([(forged, entry)], catalog.threat_models), catalog)
    from bench._plugins import load_plugins

    assert board.limits == load_plugins(())[1].track("digits").budgets["cpu"].limits() and board.limits["max_shadows"] == 16


def test_rows_are_grouped_by_the_whole_digest_not_its_short_form(monkeypatch):
    """Rows were grouped by 12 hex digits of the cell's hash: a forged cell colliding on those 48 bits (2^40 tries
    against our 240 rows) was averaged into a first-party row under our title. A hash whose short forms all collide
    must still keep two submissions' cells in two rows."""
    import hashlib

    import bench.site as site

    real = hashlib.sha256

    class Colliding:
        def __init__(self, data):
            self._real = real(data)

        def hexdigest(self):
            return "0" * 12 + self._real.hexdigest()[12:]

    monkeypatch.setattr(site.hashlib, "sha256", Colliding)
    items = []
    for sid, title, tpr in (("a" * 16, "privbench first-party baselines", 0.01), ("b" * 16, "Forged", 0.9)):
        rec = make_record("loss", "none", metrics={"auc": 0.6, "tpr@0.1%fpr": tpr / 10, "tpr@1%fpr": tpr}, track="digits",
                          utility={"test_accuracy": 0.9}, provenance={"device": "cpu"}, budget={"tier": "cpu", "limits": {}, "used": {}})
        items.append((rec, Entry(rec, Submitter(title=title), roc=ROC, submission_id=sid)))
    rows = rows_from_records(items, {"loss": "scores"})
    assert sorted(len(r["seeds"]) for r in rows) == [1, 1], rows
