"""Regenerates the form's screenshots in docs/ at phone width, in Debian's Chromium.

    .venv/bin/python -m adapters.web.tests.screenshots [DOCS_DIR]

The gateway runs on a throw-away outbox with an unreachable broker (it spools), so nothing
outside a temporary directory is touched.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from adapters.web.tests.conftest import CHROMIUM, CHROMIUM_ARGS
from gateway.config import parse_config
from gateway.daemon import Gateway

ROOT = Path(__file__).parents[3]


async def main(docs: Path) -> None:
    with tempfile.TemporaryDirectory() as temp:
        gateway = Gateway(parse_config({
            "http": {"host": "127.0.0.1", "port": 0},
            "storage": {"path": f"{temp}/outbox.sqlite3", "attachments_dir": f"{temp}/attachments"},
            "broker": {"url": "amqp://guest:guest@127.0.0.1:1/", "retry_max": 60},
            "logging": {"level": "error", "format": "json"},
        }))
        await gateway.start()
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="id-ID")
                page = await context.new_page()
                await page.goto(f"http://127.0.0.1:{gateway.port}/")
                await page.screenshot(path=docs / "form-id.png", full_page=True)
                await page.fill("#subject", "Jalan berlubang di depan SD Negeri 3")
                await page.fill("#phone", "0812 34")
                async with page.expect_navigation():
                    await page.click("#send")
                await page.screenshot(path=docs / "form-errors.png")
                await page.fill("#body", "Lubang besar di tengah jalan, sudah dua motor jatuh minggu ini.")
                await page.fill("#phone", "0812 3456 7890")
                async with page.expect_navigation():
                    await page.click("#send")
                await page.screenshot(path=docs / "confirmation.png", full_page=True)
                await browser.close()
        finally:
            await gateway.stop(drain_timeout=0.1)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"))
