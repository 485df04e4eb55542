"""schemathesis against a running gateway's own /openapi.json: no 5xx, and it keeps serving."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).parents[2]


async def assert_no_server_error(url: str, *options: str, max_examples: int = 60) -> None:
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("schemathesis")), "run", f"{url}/openapi.json",
        "--checks", "not_a_server_error", "--max-examples", str(max_examples), "--request-timeout", "10",
        "--generation-deterministic", "--no-color", *options,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-4000:]
    assert "Server error" not in text
    async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz") as response:
        assert response.status == 200
