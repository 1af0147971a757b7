"""The web chat page in headless Chromium (Debian's package, driven by Playwright): ask, watch it stream."""

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright drives the browser (make installs it)")
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (make test installs it: apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def test_the_page_streams_reasoning_and_an_answer(browser, server, api_key, tmp_path):
    page = browser.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server + "/")
    page.fill("#key", api_key)
    page.dispatch_event("#key", "change")
    page.wait_for_function("document.querySelector('#model').value === 'openweight-mini'")
    page.select_option("#effort", "high")
    page.fill("#question", "What is 23 + 58?")
    page.press("#question", "Enter")
    page.wait_for_selector("details.reasoning:not([hidden])", timeout=60_000)
    page.wait_for_function("document.querySelector('#send').textContent === 'Send'", timeout=120_000)
    reasoning = page.text_content("details.reasoning pre")
    answer = page.inner_text(".answer")
    page.click("details.reasoning summary")  # it folded when the answer began; it opens again
    page.screenshot(path=tmp_path / "web_chat.png", full_page=True)
    assert "23" in reasoning and "Check" in reasoning
    assert answer.strip() == "81"
    assert page.get_attribute("details.reasoning", "open") is not None
    assert all(url.startswith(server) for url in requests), "the page fetched something from elsewhere"
    assert (tmp_path / "web_chat.png").stat().st_size > 10_000
