"""The analyst's web page in real headless Chromium against a real server.

Screenshots go to test-artifacts/ so a person can look at what the page shows.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright import sync_api

from tests.api_server import API_KEY, Server, make_filing, shared_server
from tests.helpers import ARTIFACTS, start_serve, stop

TURBO = "what did 虹软 say about Turbo Fusion video power draw"


@pytest.fixture(scope="session")
def server() -> Server:
    return shared_server()


@pytest.fixture
def page(browser, server):
    """A fresh page at 1366×768 that fails the test on any request leaving the server."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    pg = context.new_page()
    outside: list[str] = []
    errors: list[str] = []
    pg.on("request", lambda r: None if r.url.startswith((server.url, "data:")) else outside.append(r.url))
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server.url + "/")
    pg.wait_for_selector("body[data-ready='1']", timeout=30_000)
    yield pg
    context.close()
    assert not outside, f"the page fetched from outside the server: {outside}"
    assert not errors, f"JavaScript errors: {errors}"


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"web-{name}.png"))


def ask_by_keyboard(pg, question: str) -> None:
    box = pg.locator("#question")
    box.focus()
    pg.keyboard.type(question)
    pg.keyboard.press("Enter")


def test_ask_open_citation_and_close_with_escape(page):
    shot(page, "01-start")
    assert page.locator("#company option").count() >= 4  # "All" + three sample companies
    assert page.locator("#filings .filing-item").count() >= 3

    ask_by_keyboard(page, TURBO)
    answer = page.locator(".answer").first
    answer.locator(".citation").first.wait_for(timeout=60_000)
    assert answer.locator(".asked").inner_text() == TURBO
    first = answer.locator(".citation").first
    assert first.locator(".badge-company").inner_text() == "虹软科技"
    assert first.locator(".badge-code").inner_text() == "688088"
    assert "2024-007" in first.locator(".badge-record").inner_text()
    assert answer.locator(".answer-text .marker").count() >= 1
    shot(page, "02-answer")

    # the citation whose quote speaks of power draw (功耗): open it from its marker
    cite = answer.locator(".citation", has_text="功耗").first
    n = cite.get_attribute("data-n")
    answer.locator(".answer-text .marker", has_text=f"[{n}]").click()
    panel = page.locator("#panel")
    panel.wait_for(state="visible")
    mark = page.locator("#panel-text mark.hl")
    mark.wait_for()
    assert "功耗" in mark.inner_text()
    assert "虹软科技" in page.locator("#panel-title").inner_text()
    page.wait_for_timeout(300)  # let scrollIntoView settle
    box, view = mark.bounding_box(), page.locator("#panel-text").bounding_box()
    assert box and view and view["y"] <= box["y"] < view["y"] + view["height"], (
        "highlight not scrolled into view"
    )
    assert page.evaluate("document.activeElement.id") == "panel-close"
    shot(page, "03-filing-panel")

    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.classList.contains('marker')")  # focus goes back


def test_keyboard_tab_order_reaches_the_question_and_ask(page):
    page.locator("body").focus()
    seen = []
    for _ in range(40):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
        if seen[-1] == "ask-btn":
            break
    assert "company" in seen and "question" in seen and seen[-1] == "ask-btn"
    assert seen.index("company") < seen.index("question")


def test_abstention_shows_nearest_passages(page):
    ask_by_keyboard(page, "腾讯的云业务收入是多少？")
    card = page.locator(".answer.abstained").first
    card.wait_for(timeout=60_000)
    assert "No answer" in card.locator(".verdict").inner_text()
    assert card.locator(".nearest .citation").count() >= 1
    shot(page, "04-abstained")
    card.locator(".nearest .citation button").first.click()
    page.locator("#panel-text mark.hl").wait_for()


def test_filter_by_company_and_open_a_filing_from_the_list(page):
    sync_api.expect(page.locator("#company option[value='002415']")).to_have_count(1)  # list loaded
    page.select_option("#company", "002415")
    ask_by_keyboard(page, "研发投入")
    card = page.locator(".answer").first
    card.locator(".citation").first.wait_for(timeout=60_000)
    codes = set(card.locator(".citation .badge-code").all_inner_texts())
    assert codes == {"002415"}
    assert "海康威视" in card.locator(".scope").inner_text()
    page.locator("#filings .filing-item", has_text="影石创新").click()
    sync_api.expect(page.locator("#panel")).to_be_visible()
    sync_api.expect(page.locator("#panel-title")).to_contain_text("影石创新")  # waits for the load
    sync_api.expect(page.locator("#panel-text")).to_contain_text("Q1")
    assert page.locator("#panel-text mark").count() == 0


def test_upload_with_api_key_then_ask_about_it(page, server):
    data = make_filing(
        "688998",
        "云帆航天",
        "云帆航天科技股份有限公司",
        "2025-002",
        [("公司卫星星座建设进展？", "公司“云帆星座”已完成第一批36颗低轨卫星发射，计划2026年实现全球覆盖。")],
    )
    page.set_input_files(
        "#upload-files", files=[{"name": "云帆.txt", "mimeType": "text/plain", "buffer": data}]
    )
    page.click("#upload-btn")
    page.locator("#api-key-row").wait_for(state="visible")  # 401: the page asks for the key
    assert "key" in page.locator("#upload-result").inner_text().lower()
    page.fill("#api-key", API_KEY)
    page.set_input_files(
        "#upload-files", files=[{"name": "云帆.txt", "mimeType": "text/plain", "buffer": data}]
    )
    page.click("#upload-btn")
    page.locator("#upload-result.ok").wait_for(timeout=120_000)
    assert "688998-2025-002" in page.locator("#upload-result").inner_text()
    page.locator("#filings .filing-item", has_text="云帆航天").wait_for()
    shot(page, "05-uploaded")

    ask_by_keyboard(page, "云帆航天的卫星星座发射了多少颗卫星？")
    card = page.locator(".answer").first
    card.locator(".citation").first.wait_for(timeout=60_000)
    assert card.locator(".citation .badge-code").first.inner_text() == "688998"
    assert "36颗" in card.locator(".answer-text").inner_text()
    httpx.delete(f"{server.url}/v1/filings/688998-2025-002", headers={"X-API-Key": API_KEY}, timeout=60)


def test_wide_screen_layout(browser, server):
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    pg = context.new_page()
    pg.goto(server.url + "/")
    pg.wait_for_selector("body[data-ready='1']")
    ask_by_keyboard(pg, "虹软科技2024年上半年研发费用是多少？")
    pg.locator(".answer .citation").first.wait_for(timeout=60_000)
    pg.locator(".answer .open-cite").first.click()
    pg.locator("#panel-text mark.hl").wait_for()
    # at 1920 px the answer and the filing are side by side: the panel does not cover the answer
    answer, panel = pg.locator(".answer").first.bounding_box(), pg.locator("#panel").bounding_box()
    assert answer and panel and answer["x"] + answer["width"] <= panel["x"]
    pg.screenshot(path=str(ARTIFACTS / "web-06-wide.png"))
    context.close()


# phones ----------------------------------------------------------------------------------------

PHONE = {"width": 390, "height": 844}
PHONE_WIDTHS = (360, 390, 414)

#: what a person would see as broken on a narrow screen, as a list of sentences (empty: none)
LAYOUT_PROBLEMS = """() => {
  const vw = document.documentElement.clientWidth;
  const name = (el) => el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`;
  const problems = [];
  if (document.documentElement.scrollWidth > vw) {
    problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${vw}`);
  }
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    const shown = r.width > 1 && r.height > 1 && s.visibility !== "hidden" && s.opacity !== "0";
    if (shown && !el.closest("[hidden]") && (r.left < -0.5 || r.right > vw + 0.5)) {
      problems.push(`${name(el)} sticks out of the screen (${Math.round(r.left)}..${Math.round(r.right)} of ${vw})`);
    }
  }
  for (const sel of [".topbar", ".brand h1", ".docs", "#status", "#question", "#ask-btn"]) {
    const el = document.querySelector(sel);
    if (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1) {
      problems.push(`${sel} is clipped: content ${el.scrollWidth}x${el.scrollHeight} in ${el.clientWidth}x${el.clientHeight}`);
    }
  }
  const bar = document.querySelector(".topbar").getBoundingClientRect();
  const title = document.querySelector(".brand h1").getBoundingClientRect();
  if (title.top < bar.top || title.bottom > bar.bottom) problems.push("the title is cut by the header");
  return problems;
}"""


def phone_page(browser):
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    return context, context.new_page()


def test_phone_layout(browser, server):
    """360–414 px: nothing clipped (header title, placeholder, status), nothing wider than the screen."""
    context, pg = phone_page(browser)
    try:
        pg.goto(server.url + "/")
        pg.wait_for_selector("body[data-ready='1']", timeout=30_000)
        for width in PHONE_WIDTHS:
            pg.set_viewport_size({"width": width, "height": PHONE["height"]})
            assert pg.evaluate(LAYOUT_PROBLEMS) == [], width
        pg.set_viewport_size(PHONE)
        assert pg.locator("#question").input_value() == ""  # the placeholder is what is measured
        pg.screenshot(path=str(ARTIFACTS / "web-07-phone.png"))

        pg.fill("#question", TURBO)
        pg.tap("#ask-btn")
        pg.locator(".answer .citation").first.wait_for(timeout=60_000)
        assert pg.evaluate(LAYOUT_PROBLEMS) == []
        pg.screenshot(path=str(ARTIFACTS / "web-08-phone-answer.png"))

        pg.locator(".answer .open-cite").first.tap()
        pg.locator("#panel-text mark.hl").wait_for()
        panel, close = pg.locator("#panel").bounding_box(), pg.locator("#panel-close").bounding_box()
        assert panel and close and panel["x"] >= 0 and panel["x"] + panel["width"] <= PHONE["width"] + 0.5
        assert close["y"] >= 0 and close["x"] + close["width"] <= PHONE["width"], (
            "the close button is on screen"
        )
        pg.wait_for_timeout(300)  # let scrollIntoView settle
        pg.screenshot(path=str(ARTIFACTS / "web-09-phone-filing.png"))
    finally:
        context.close()


def test_page_shows_progress_while_the_index_is_built(browser, tmp_path):
    """First start (fresh index dir, cold vector cache): the page is there at once and says what it waits for."""
    proc, url = start_serve(tmp_path)
    context, pg = phone_page(browser)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.err").read_text()
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        pg.goto(url + "/")
        status = pg.locator("#status")
        sync_api.expect(status).to_contain_text("Preparing the index", timeout=30_000)
        sync_api.expect(status).to_contain_text(re.compile(r"\d+/\d+"), timeout=60_000)  # a count, e.g. 3/3
        sync_api.expect(status).to_have_class(re.compile("busy"))
        assert pg.evaluate(LAYOUT_PROBLEMS) == []
        pg.screenshot(path=str(ARTIFACTS / "web-00-phone-building.png"))
        assert httpx.get(f"{url}/readyz", timeout=30).status_code == 503
        assert pg.evaluate("document.body.dataset.ready") is None
    finally:
        context.close()
        stop(proc)
