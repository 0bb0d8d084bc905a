"""The generated leaderboard site in headless Chromium (Debian's chromium + chromedriver, driven by Selenium).

The test builds the site from the committed entries, serves it on 127.0.0.1, loads it, and checks: no console
errors, a table sorts when a header is clicked, a ROC image is displayed. A screenshot is saved under the test's
tmp dir; nothing is written into the repository.
"""

import functools
import http.server
import threading
from pathlib import Path

import pytest

from bench.site import build_site, entry_records, rows_from_records

REPO = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    items = entry_records(REPO / "leaderboards")
    rows = rows_from_records(items)
    assert len(rows) >= 3, "the committed leaderboards have rows to show"
    out = tmp_path_factory.mktemp("site")
    build_site(items, out)
    return out, rows


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site[0]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for exe in (CHROMIUM, CHROMEDRIVER):
        assert Path(exe).exists(), f"{exe} is missing: apt-get install -y chromium chromium-driver (README's set-up command)"
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1600,1200",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.mark.slow
def test_site_loads_sorts_and_shows_roc_images(site, server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    out, rows = site
    browser.get(server)
    assert browser.title == "privbench leaderboards"
    # no console errors (a missing image or a script error would log a SEVERE entry)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors

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
    assert table.find_elements(By.CSS_SELECTOR, "th")[col].get_attribute("aria-sort") == "descending"

    imgs = browser.find_elements(By.CSS_SELECTOR, "td img")
    assert len(imgs) == len(rows)
    roc = imgs[0]
    assert "/img/roc-" in roc.get_attribute("src")
    loaded = browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", roc)
    assert loaded and loaded > 100, "the ROC image was decoded"
    assert roc.is_displayed() and roc.size["width"] > 50
    frontier = browser.find_element(By.CSS_SELECTOR, "img.frontier")
    assert browser.execute_script("return arguments[0].naturalWidth", frontier) > 100

    shot = tmp_path / "leaderboard.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_build_site_writes_only_under_its_folder(tmp_path):
    """No browser: the pages and images of two defenses, built into tmp_path; the frontier image is drawn."""
    from bench._entry import Entry, Submitter
    from bench.testing import make_record

    roc = {"fpr": [0.001, 0.01, 1.0], "tpr": [0.002, 0.05, 1.0]}
    items = []
    for defense, tpr, acc in (("none", 0.02, 0.95), ("dp", 0.001, 0.80)):
        rec = make_record("loss", defense, metrics={"auc": 0.5 + tpr, "tpr@0.1%fpr": tpr, "tpr@1%fpr": 2 * tpr},
                          utility={"test_accuracy": acc}, provenance={"device": "cpu"})
        items.append((rec, Entry(rec, Submitter(title="t"), roc=roc)))
    before = sorted(p.name for p in REPO.iterdir())
    index = build_site(items, tmp_path / "site")
    assert index == tmp_path / "site" / "index.html" and "dp" in index.read_text()
    imgs = sorted(p.name for p in (tmp_path / "site" / "img").iterdir())
    assert imgs[0] == "frontier-t-cpu.png" and len(imgs) == 3 and all(p.stat().st_size > 2000 for p in (tmp_path / "site" / "img").iterdir())
    assert sorted(p.name for p in REPO.iterdir()) == before
    assert not list((tmp_path / "site").rglob("*.tmp"))
