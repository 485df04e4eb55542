"""Web form fixtures: a gateway, a cookie-keeping form client, Debian's Chromium via Playwright, axe-core."""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from bs4 import BeautifulSoup
from playwright.async_api import Browser, async_playwright

from gateway.daemon import Gateway
from tests.conftest import (  # noqa: F401 - shared fixtures
    base_url,
    broker_names,
    http,
    make_gateway,
    queue_reader,
    wait_connected,
)

HERE = Path(__file__).parent
TESTDATA = HERE / "testdata"
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
CODE = re.compile(r"LPR-[2-9A-HJ-NP-Z]{8}")


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core from the npm registry, pinned in package.json/package-lock.json; installed on first use."""
    if not AXE.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300,
                       capture_output=True)
    return AXE


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
def web_config() -> dict[str, Any]:
    """[channels.web] keys for the test's gateway; a test module overrides this fixture to change caps."""
    return {}


@pytest.fixture
async def gateway(make_gateway, web_config: dict[str, Any]) -> Gateway:  # noqa: F811 - the shared fixture
    started: Gateway = await make_gateway(channels={"web": web_config})
    # Teardown while the publisher is still declaring its quorum queues was seen to hang the broker
    # clean-up under load; a short test waits for the topology first.
    await wait_connected(started, 10)
    return started


@dataclass
class Answer:
    status: int
    headers: Any
    text: str

    @property
    def soup(self) -> BeautifulSoup:
        return BeautifulSoup(self.text, "html.parser")

    def text_of(self, selector: str) -> str:
        element = self.soup.select_one(selector)
        if element is None:
            raise AssertionError(f"nothing matches {selector}")
        return element.get_text()

    def attribute(self, selector: str, name: str) -> str:
        element = self.soup.select_one(selector)
        if element is None or not isinstance(element.get(name), str):
            raise AssertionError(f"{selector} has no {name}")
        return str(element[name])

    def summary(self) -> list[str]:
        box = self.soup.find(id="error-summary")
        return [item.get_text(" ", strip=True) for item in box.find_all("li")] if box else []

    def field_error(self, name: str) -> str | None:
        error = self.soup.find(id=f"{name}-error")
        return error.get_text(" ", strip=True) if error else None

    def value(self, name: str) -> str:
        element = self.soup.select_one(f'[name="{name}"]')
        if element is None:
            raise AssertionError(f"no field {name}")
        return element.get_text() if element.name == "textarea" else str(element.get("value", ""))


class FormClient:
    """A browser-like client of the form over plain HTTP: keeps the CSRF cookie, posts what GET / rendered."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base
        self.hidden: dict[str, str] = {}

    async def open(self, path: str = "/", headers: dict[str, str] | None = None) -> Answer:
        async with self.session.get(self.base + path, headers=headers) as response:
            answer = Answer(response.status, response.headers, await response.text())
        self.remember(answer)
        return answer

    def remember(self, answer: Answer) -> None:
        for name in ("csrf_token", "submission_id", "lang"):
            field = answer.soup.find("input", attrs={"name": name})
            if field is not None:
                self.hidden[name] = str(field["value"])

    async def submit(
        self, fields: dict[str, str], files: Iterable[tuple[str, bytes, str]] = (), *, multipart: bool = True,
        override: dict[str, str] | None = None, headers: dict[str, str] | None = None,
    ) -> Answer:
        values = {**self.hidden, "website": "", **fields, **(override or {})}
        data: aiohttp.FormData | dict[str, str]
        if multipart:
            data = aiohttp.FormData(default_to_multipart=True)
            for name, value in values.items():
                data.add_field(name, value)
            for filename, content, content_type in files:
                data.add_field("attachments", content, filename=filename, content_type=content_type)
        else:
            data = values
        async with self.session.post(self.base + "/", data=data, allow_redirects=False, headers=headers) as response:
            answer = Answer(response.status, response.headers, await response.text())
        self.remember(answer)
        return answer

    async def follow(self, answer: Answer) -> Answer:
        assert answer.status == 303, answer.summary() or answer.text[:500]
        return await self.open(answer.headers["Location"])


@pytest.fixture
async def form_client(gateway: Gateway) -> AsyncIterator[FormClient]:
    # unsafe=True: aiohttp's jar otherwise drops cookies set by an IP-address host (the loopback gateway).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        client = FormClient(session, base_url(gateway))
        await client.open()
        yield client


def sample(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


def stored_files(gateway: Gateway) -> list[Path]:
    root = gateway.config.storage.attachments_dir
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []
