"""Browser fixtures shared by the site and report tests: Debian's headless chromium + chromedriver (Selenium),
and a static server for a folder on 127.0.0.1; the committed board the verify and migrate tests copy cells from.
Nothing is written into the repository."""

import contextlib
import functools
import http.server
import threading
import types
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(folder):
    """``http://127.0.0.1:PORT/`` serving ``folder`` while the block runs."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def serve():
    """``serve(folder)`` -> base URL; servers stop at the end of the module."""
    with contextlib.ExitStack() as stack:
        yield lambda folder: stack.enter_context(serving(folder))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium at a 1,366-px-wide window, collecting the console log."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for exe in (CHROMIUM, CHROMEDRIVER):
        assert Path(exe).exists(), f"{exe} is missing: apt-get install -y chromium chromium-driver (README's set-up command)"
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1366,900", "--hide-scrollbars",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def console_errors(driver):
    """SEVERE console entries since the last call (a missing image or a script error logs one)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def broken_images(driver):
    """src of every <img> on the page that did not decode."""
    return driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")


def full_page_screenshot(driver, path):
    """A screenshot of the whole page at the current width."""
    width = driver.execute_script("return window.innerWidth")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(max(width, 1366), min(height + 140, 8000))
    ok = driver.save_screenshot(str(path))
    driver.set_window_size(1366, 900)
    return ok


@pytest.fixture(scope="module")
def web():
    """The helpers above, for test modules (conftest modules are not imported by name)."""
    return types.SimpleNamespace(console_errors=console_errors, broken_images=broken_images, screenshot=full_page_screenshot)


@pytest.fixture
def old_digits_board() -> Path:
    """The committed digits/cpu submission migrated from format 1: superseded by the republish, kept on disk as every
    superseded submission is (its cheap cells are at plugin versions still current)."""
    from bench._submission import read_submission

    folder = Path(__file__).resolve().parents[2] / "leaderboards" / "digits" / "cpu"
    return next(p for p in sorted(folder.glob("*.jsonl")) if read_submission(p).header.migrated_from)
