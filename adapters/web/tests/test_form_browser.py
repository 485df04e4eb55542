"""The form in a real browser: Debian's Chromium, headless, driven by Playwright; axe-core audits each page."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Error, Page, Response, expect

from adapters.web.tests.conftest import CODE, TESTDATA
from gateway.daemon import Gateway
from tests.conftest import base_url

PHONE = {"width": 390, "height": 844}
# Everything a keyboard user reaches, in order, on the form with JavaScript on.
TAB_ORDER = ["skip", "lang-switch", "kind-complaint", "subject", "body", "name", "phone", "email", "anonymous",
             "confidential", "address", "geo", "latitude", "longitude", "attachments", "send"]


class Session:
    """One browser context on the gateway; collects script errors (a CSP refusal is one) and failed loads."""

    def __init__(self, context: BrowserContext, page: Page, base: str) -> None:
        self.context, self.page, self.base = context, page, base
        self.console_errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", self._page_error)
        page.on("response", self._response)

    def _page_error(self, error: Error) -> None:
        self.console_errors.append(str(error))

    def _response(self, response: Response) -> None:
        # The form answers 4xx with the form itself; any other resource that fails (a favicon) is an error.
        if response.status >= 400 and response.request.resource_type != "document":
            self.console_errors.append(f"{response.status} {response.url}")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.console_errors.append(message.text)

    async def goto(self, path: str = "/") -> None:
        await self.page.goto(self.base + path)

    async def focused(self) -> str:
        return str(await self.page.evaluate("document.activeElement.id"))

    async def submit_and_wait(self) -> None:
        async with self.page.expect_navigation():
            await self.page.click("#send")


@pytest.fixture
def open_session(browser: Browser, gateway: Gateway):
    contexts: list[BrowserContext] = []

    async def factory(**options: Any) -> Session:
        context = await browser.new_context(**{"viewport": PHONE, "locale": "id-ID", **options})
        contexts.append(context)
        return Session(context, await context.new_page(), base_url(gateway))

    return factory


@pytest.fixture
async def session(open_session) -> AsyncIterator[Session]:
    opened = await open_session()
    yield opened
    assert opened.console_errors == []


async def assert_focus_visible(page: Page) -> None:
    style = await page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth), s.boxShadow]; })()"
    )
    assert style[0] != "none" and style[1] >= 2 and style[2] != "none", style


async def test_keyboard_only_fill_and_submit(session: Session, queue_reader):
    page = session.page
    await session.goto()
    steps = {
        "kind-complaint": lambda: page.keyboard.press("ArrowDown"),  # radios: arrows choose within the group
        "subject": lambda: page.keyboard.type("Lampu jalan mati"),
        "body": lambda: page.keyboard.type("Sudah dua minggu lampu jalan mati.\nRawan kejahatan."),
        "name": lambda: page.keyboard.type("Andi"),
        "phone": lambda: page.keyboard.type("0857 1234 5678"),
        "anonymous": lambda: page.keyboard.press("Space"),
        "address": lambda: page.keyboard.type("Gang Mawar, Surabaya"),
    }
    seen = []
    for _ in TAB_ORDER:
        await page.keyboard.press("Tab")
        focused = await session.focused()
        seen.append(focused)
        await assert_focus_visible(page)
        if focused in steps:
            await steps[focused]()
            if focused == "kind-complaint":
                assert await session.focused() == "kind-aspiration"
    assert seen == TAB_ORDER
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert "/submitted?" in page.url
    code = (await page.text_content("#tracking-code") or "").strip()
    assert CODE.fullmatch(code)

    [report] = (await queue_reader.take(1), queue_reader.bodies())[1]
    assert report["tracking_code"] == code
    assert (report["kind"], report["subject"]) == ("aspiration", "Lampu jalan mati")
    assert report["body"] == "Sudah dua minggu lampu jalan mati.\nRawan kejahatan."
    assert (report["reporter"]["name"], report["reporter"]["phone"]) == ("Andi", "+6285712345678")
    assert report["reporter"]["anonymous"] is True and report["reporter"]["confidential"] is False
    assert report["location"]["address"] == "Gang Mawar, Surabaya" and report["location"]["source"] == "typed"


async def test_submit_with_attachments(session: Session, queue_reader):
    page = session.page
    await session.goto()
    await page.fill("#body", "Foto jalan berlubang dan surat dari RT.")
    png, pdf = TESTDATA / "pothole.png", TESTDATA / "letter.pdf"
    await page.set_input_files("#attachments", [png] * 6)
    # The JavaScript hint warns before sending; the server still decides.
    assert "Terlalu banyak berkas" in (await page.text_content("#attachments-check") or "")
    assert await page.get_attribute("#attachments-check", "aria-live") == "polite"
    await page.set_input_files("#attachments", [png, pdf])
    assert (await page.text_content("#attachments-check") or "") == ""
    await session.submit_and_wait()
    code = (await page.text_content("#tracking-code") or "").strip()

    [report] = (await queue_reader.take(1), queue_reader.bodies())[1]
    assert report["tracking_code"] == code
    assert [(item["filename"], item["content_type"], item["size"], item["status"]) for item in report["attachments"]] \
        == [("pothole.png", "image/png", png.stat().st_size, "stored"),
            ("letter.pdf", "application/pdf", pdf.stat().st_size, "stored")]


async def test_errors_are_announced_linked_and_input_kept(session: Session, queue_reader):
    page = session.page
    await session.goto()
    await page.fill("#subject", "Parkir liar")
    await page.fill("#phone", "12")
    await page.locator("#phone").blur()
    # The client-side hint, in a live region, before anything is sent.
    assert "Nomor HP tidak valid" in (await page.text_content("#phone-check") or "")
    await session.submit_and_wait()

    assert (await page.title()).startswith("Kesalahan: ")
    assert await session.focused() == "error-summary"
    assert await page.get_attribute("#error-summary", "role") == "alert"
    links = await page.eval_on_selector_all("#error-summary a", "links => links.map(a => a.getAttribute('href'))")
    assert links == ["#body", "#phone"]
    for field in ("body", "phone"):
        assert await page.get_attribute(f"#{field}", "aria-invalid") == "true"
        assert f"{field}-error" in (await page.get_attribute(f"#{field}", "aria-describedby") or "").split()
    assert await page.input_value("#subject") == "Parkir liar" and await page.input_value("#phone") == "12"
    # From the summary, the keyboard reaches the field in two keys.
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    assert await session.focused() == "body"
    await page.keyboard.type("Mobil parkir di trotoar setiap hari.")
    await page.fill("#phone", "0812 3456 7890")
    await session.submit_and_wait()
    assert "/submitted?" in page.url
    [report] = (await queue_reader.take(1), queue_reader.bodies())[1]
    assert (report["subject"], report["reporter"]["phone"]) == ("Parkir liar", "+6281234567890")


async def test_works_with_javascript_off(open_session, queue_reader):
    session = await open_session(java_script_enabled=False)
    page = session.page
    await session.goto()
    assert await page.is_hidden("#geo")  # an enhancement only: without JavaScript it is not offered
    await page.fill("#subject", "Tanpa JavaScript")
    await session.submit_and_wait()
    assert await session.focused() == "error-summary"  # autofocus, no script needed
    assert "Tuliskan isi laporan Anda." in (await page.text_content("#body-error") or "")
    await page.fill("#body", "Formulir tetap bisa dipakai.")
    await session.submit_and_wait()
    code = page.locator("#tracking-code")
    assert await code.evaluate("element => getComputedStyle(element).userSelect") == "all"
    assert await page.is_hidden("#copy")
    [report] = (await queue_reader.take(1), queue_reader.bodies())[1]
    assert report["subject"] == "Tanpa JavaScript"
    assert report["tracking_code"] == (await code.text_content() or "").strip()


async def test_switch_language(open_session, queue_reader):
    english = await open_session(locale="en-US")
    await english.goto()
    assert await english.page.get_attribute("html", "lang") == "en"  # Accept-Language honoured

    session = await open_session()
    page = session.page
    await session.goto()
    assert await page.get_attribute("html", "lang") == "id"
    assert await page.text_content("h1") == "Sampaikan laporan"
    async with page.expect_navigation():
        await page.click("#lang-switch")
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.text_content("h1") == "Send a report"
    assert await page.text_content("label[for=body]") == "Your report (required)"
    await session.submit_and_wait()
    assert await page.text_content("#body-error") == "Error: Describe what happened."
    await page.fill("#body", "The bridge railing is broken.")
    await session.submit_and_wait()
    assert await page.text_content("h1") == "We have received your report"
    code = await page.text_content("#tracking-code")
    async with page.expect_navigation():
        await page.click("#lang-switch")
    assert await page.text_content("h1") == "Laporan Anda sudah kami terima"
    assert await page.text_content("#tracking-code") == code
    [report] = (await queue_reader.take(1), queue_reader.bodies())[1]
    assert report["body"] == "The bridge railing is broken."
    assert english.console_errors == session.console_errors == []


async def test_geolocation_button_fills_the_point(open_session, queue_reader):
    session = await open_session(geolocation={"latitude": -6.175392, "longitude": 106.827153},
                                 permissions=["geolocation"])
    page = session.page
    await session.goto()
    await page.click("#geo")
    await expect(page.locator("#status")).to_contain_text("Lokasi ditemukan")
    assert (await page.input_value("#latitude"), await page.input_value("#longitude")) == ("-6.175392", "106.827153")
    await page.fill("#body", "Banjir di depan Monas.")
    await session.submit_and_wait()
    [report] = (await queue_reader.take(1), queue_reader.bodies())[1]
    assert report["location"] == {"latitude": -6.175392, "longitude": 106.827153, "address": None, "source": "gps"}


async def test_copy_button_copies_the_code(open_session):
    session = await open_session(permissions=["clipboard-read", "clipboard-write"])
    page = session.page
    await session.goto()
    await page.fill("#body", "Pelayanan KTP lambat.")
    await session.submit_and_wait()
    await page.click("#copy")
    await expect(page.locator("#status")).to_have_text("Kode pelacakan sudah disalin.")
    assert await page.evaluate("navigator.clipboard.readText()") == (await page.text_content("#tracking-code"))


LAYOUT = """() => {
  const wide = document.documentElement.scrollWidth > document.documentElement.clientWidth;
  const small = [];
  for (const el of document.querySelectorAll('input:not([type=hidden]), textarea, button, header a')) {
    if (!el.offsetParent) continue;
    const target = (el.type === 'radio' || el.type === 'checkbox') ? el.closest('.choice') : el;
    const box = target.getBoundingClientRect();
    if (box.height < 44 || box.width < 44) small.push(`${el.id}:${Math.round(box.width)}x${Math.round(box.height)}`);
  }
  const clipped = [...document.querySelectorAll('label, legend, .hint, .error, .code, h1, h2')]
    .filter(el => el.offsetParent && el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
    .map(el => el.id || el.tagName);
  return {wide, small, clipped};
}"""


@pytest.mark.parametrize(("viewport", "text_zoom"), [(PHONE, 1), ({"width": 320, "height": 640}, 1),
                                                   ({"width": 640, "height": 800}, 2)],
                         ids=["phone", "320 css px", "text at 200%"])
async def test_reflow_zoom_and_touch_targets(open_session, viewport, text_zoom):
    session = await open_session(viewport=viewport)
    page = session.page

    async def check() -> None:
        if text_zoom != 1:
            await page.evaluate(f"document.documentElement.style.fontSize = '{112.5 * text_zoom}%'")
        assert await page.evaluate(LAYOUT) == {"wide": False, "small": [], "clipped": []}

    await session.goto()
    await check()
    await session.submit_and_wait()  # the error state
    await check()
    await page.fill("#body", "Uji tampilan.")
    await session.submit_and_wait()
    await check()


async def axe_violations(page: Page, axe_script: Path) -> list[dict[str, Any]]:
    await page.add_script_tag(path=str(axe_script))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return list(result["violations"])


async def test_axe_finds_no_serious_or_critical_violation(open_session, axe_script, queue_reader):
    # bypass_csp: the page's CSP rightly refuses the injected audit script.
    session = await open_session(bypass_csp=True)
    page = session.page
    found: dict[str, list[dict[str, Any]]] = {}
    await session.goto()
    found["form"] = await axe_violations(page, axe_script)
    await page.fill("#phone", "12")
    await session.submit_and_wait()
    found["errors"] = await axe_violations(page, axe_script)
    await page.fill("#body", "Audit aksesibilitas.")
    await page.fill("#phone", "")
    await session.submit_and_wait()
    assert "/submitted?" in page.url
    found["confirmation"] = await axe_violations(page, axe_script)
    await session.goto("/?lang=en")
    found["form, English"] = await axe_violations(page, axe_script)
    blocking = {
        state: [(item["id"], item["impact"], [node["target"] for node in item["nodes"]]) for item in violations
                if item["impact"] in ("serious", "critical")]
        for state, violations in found.items()
    }
    assert blocking == {state: [] for state in found}, json.dumps(blocking, indent=1)
    # Lesser findings are reported too, so that they are seen (pytest -rA shows this).
    print({state: [(item["id"], item["impact"]) for item in violations] for state, violations in found.items()})
