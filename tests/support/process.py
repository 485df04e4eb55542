"""The gateway as a real OS process (`lapor-gateway run`), for kill and signal tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).parents[2]


def write_toml(path: Path, data: dict[str, Any], prefix: str = "") -> Path:
    """A TOML file from nested dicts (enough for gateway config: tables, strings, numbers, lists)."""
    lines: list[str] = []

    def emit(table: dict[str, Any], name: str) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if name:
            lines.append(f"[{name}]")
        for key, value in scalars.items():
            lines.append(f"{json.dumps(key)} = {json.dumps(value)}")
        for key, value in table.items():
            if isinstance(value, dict):
                emit(value, f"{name}.{key}" if name else key)

    emit(data, prefix)
    path.write_text("\n".join(lines) + "\n")
    return path


class GatewayProcess:
    def __init__(self, config_file: Path, port: int, log_file: Path, module: str = "gateway.cli") -> None:
        self.module = module  # a test harness may wrap the CLI (same daemon, extra test routes)
        self.config_file = config_file
        self.port = port
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 20.0) -> None:
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(  # noqa: ASYNC220 - starting a child does not block; waiting is async below
            [sys.executable, "-m", self.module, "run", "--config", str(self.config_file)],
            cwd=ROOT, stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(f"gateway exited early: {self.log_file.read_text()[-2000:]}")
                try:
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError("gateway did not start in time")
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stop_quietly(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
