"""report.html and history.html in a real headless Chromium (Debian's, driven by Playwright)."""
from __future__ import annotations

import os
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from browser_gate import find_chromium
from reporting_runs import run_suite

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # host and vm checks: quick, and the vm ones build the L1 (so the timeline has phases)
    run = run_suite(tmp_path_factory.mktemp("browser"), "--nested-host=sim", "suites/test_vm.py",
                    select="suites/test_host.py")
    assert run.returncode == 0, run.output[-3000:]
    return run.reports


@pytest.fixture(scope="module")
def browser():
    # asked for before `reports`, so a machine without a browser does not run the suite for nothing
    gate = find_chromium(os.environ)
    if gate.executable is None:
        if gate.required:
            pytest.fail(gate.reason, pytrace=False)
        pytest.skip(gate.reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=gate.executable, headless=True, args=ARGS)
        yield b
        b.close()


def _outcomes(reports: Path) -> list[str]:
    with sqlite3.connect(reports / "history.sqlite") as db:
        return [o for (o,) in db.execute("SELECT outcome FROM results")]


def _test_count(reports: Path) -> int:
    return len(ET.parse(reports / "junit.xml").getroot().findall(".//testcase"))


def _open(browser, path: Path):
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, problems


def test_report_html_renders(browser, reports: Path) -> None:
    page, problems = _open(browser, reports / "report.html")
    page.wait_for_selector("#results-table tbody.results-table-row")
    rows = page.locator("#results-table tbody.results-table-row")
    assert rows.count() == _test_count(reports) > 7
    assert page.locator("#title").inner_text().startswith("Hyper-V nested virtualization: sim (build 26100.")
    env = page.locator("#environment tr")
    env_text = page.locator("#environment").inner_text()
    assert env.count() >= 1 and "Host sim" in env_text
    assert "BuildLabEx: 26100.1.amd64fre" in env_text and "Supported configuration versions" in env_text
    # a test's details show its requirement and evidence
    page.locator("#results-table tbody.results-table-row").first.locator("td.col-result").click()
    assert page.locator(".nestedhv-requirement").first.is_visible()
    assert page.locator(".nestedhv-timeline").count() == 1
    page.screenshot(path=str(reports / "report.png"), full_page=True)
    assert problems == []
    assert (reports / "report.png").stat().st_size > 1000


def test_history_html_renders(browser, reports: Path) -> None:
    page, problems = _open(browser, reports / "history.html")
    matrix = page.locator("table.matrix[data-host='sim'] tbody tr")
    assert matrix.count() == _test_count(reports)
    assert page.locator("table.matrix td.passed").count() == _outcomes(reports).count("passed") > 0
    page.screenshot(path=str(reports / "history.png"), full_page=True)
    assert problems == []
