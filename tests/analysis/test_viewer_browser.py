"""`tinmen view` in a real headless Chromium: overview numbers, a filter, a decision's detail.

Needs Debian's `chromium` and `chromium-driver` (installed by .ci/run) and the viewer extra;
it skips, saying which, where they are missing. Set TINMEN_VIEWER_SCREENSHOT=PATH to keep a
screenshot of the overview (docs/viewer.png is one).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit", reason="the viewer extra is not installed "
                    "(pip install 'tinmen[viewer]')")
pytest.importorskip("selenium", reason="selenium is not installed (pip install 'tinmen[test]')")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BROWSER = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(n)), None)
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    BROWSER is None or DRIVER is None,
    reason="no headless browser: install Debian's chromium and chromium-driver "
           "(apt-get install -y chromium chromium-driver)")
WAIT_S = 180


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("viewer") / "run"
    subprocess.run([sys.executable, "-m", "cli", "run", "scenarios/tin_men.yaml",
                    "--backend", "rational", "--out", str(out), "--quiet"],
                   cwd=REPO, check=True, timeout=300)
    return out


@pytest.fixture(scope="module")
def server(run_dir: Path):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "view", str(run_dir), "--no-browser", "--port",
         str(port)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in first, first
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "the viewer never listened"
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser():
    options = Options()
    options.binary_location = BROWSER
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1440,1400", "--hide-scrollbars"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _body(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def _wait_text(driver, *texts: str) -> None:
    WebDriverWait(driver, WAIT_S, poll_frequency=0.5).until(
        lambda d: all(t in _body(d) for t in texts),
        message=f"never showed {texts}")


def _click_text(driver, text: str) -> None:
    """Click the radio option, tab or button whose label is exactly `text`."""
    element = WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(
        By.XPATH, f"//label[normalize-space()='{text}'] | //button[normalize-space()='{text}']"))
    element.click()


def _choose(driver, label: str, option: str) -> None:
    """Pick `option` in the select box labelled `label`."""
    box = WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(
        By.XPATH, f"//div[@data-testid='stSelectbox'][.//label[normalize-space()='{label}']]"
                  "//input"))
    box.click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(
        By.XPATH, "//*[@data-testid='stSelectboxVirtualDropdown']"
                  f"//*[@role='option'][normalize-space()='{option}']")).click()


def _table_rows(driver) -> list[list[str]]:
    rows = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stTable'] table tbody tr")
    return [[c.text for c in r.find_elements(By.XPATH, "./th|./td")] for r in rows]


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_overview_filter_and_detail(server: str, browser, run_dir: Path) -> None:
    decisions = pd.read_parquet(run_dir / "decisions.parquet")
    valid = decisions[decisions["valid"]]
    override = f"{100 * valid['override'].astype(bool).mean():.1f}%"

    browser.get(server)
    _wait_text(browser, "Decisions", "Override rate", f"{len(decisions):,}", override,
               "Conflict metrics by condition")
    screenshot = os.environ.get("TINMEN_VIEWER_SCREENSHOT")
    if screenshot:
        WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(
            By.CSS_SELECTOR, "[data-testid='stDataFrame']") and len(d.find_elements(
                By.CSS_SELECTOR, "[data-testid='stVegaLiteChart']")) >= 2)
        time.sleep(2)  # let the charts draw
        WebDriverWait(browser, WAIT_S, poll_frequency=0.2).until(lambda d: not d.find_elements(
            By.CSS_SELECTOR, "[data-stale='true']"))  # not mid-way through a live refresh
        browser.save_screenshot(screenshot)

    _click_text(browser, "Decisions")
    _wait_text(browser, f"{len(decisions):,} decisions match")
    WebDriverWait(browser, WAIT_S).until(lambda d: len(_table_rows(d)) == 25,
                                         message="the decisions table never drew its page")
    before = _table_rows(browser)
    header = [h.text for h in browser.find_elements(
        By.CSS_SELECTOR, "[data-testid='stTable'] table thead th")]
    condition_at = header.index("condition")

    _choose(browser, "condition", "customer")
    chosen = decisions[decisions["disclosure"] == "customer"]
    _wait_text(browser, f"{len(chosen):,} decisions match")
    WebDriverWait(browser, WAIT_S).until(lambda d: _table_rows(d) not in ([], before),
                                         message="the table never changed after filtering")
    after = _table_rows(browser)
    assert after != before
    assert {row[condition_at] for row in after} == {"customer"}
    assert [row[0] for row in after] == list(chosen["decision_id"][:25])

    decision_id = after[0][0]
    _choose(browser, "Open a decision", decision_id)
    _wait_text(browser, f"Decision {decision_id}", "Prompt", "Answer")
    record = next(json.loads(line) for line in
                  (run_dir / "transcripts.jsonl").read_text().splitlines()
                  if json.loads(line)["decision_id"] == decision_id)
    user = next(m["content"] for m in record["messages"] if m["role"] == "user")
    WebDriverWait(browser, WAIT_S).until(
        lambda d: _flat(user) in _flat(_body(d)) and _flat(record["answer"]) in _flat(_body(d)),
        message="the decision's prompt and answer never showed")
