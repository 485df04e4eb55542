"""A local Bot API stand-in (aiohttp on loopback) for the methods the gateway calls.

getUpdates follows Telegram's rules: an update stays until a getUpdates call asks for an
offset above its update_id; without an offset the unconfirmed ones come again; with nothing
to return the call waits up to ``timeout`` seconds (long polling).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST-token_abc"
BOT_USERNAME = "lapor_test_bot"


@dataclass
class FileBehaviour:
    """How the stand-in serves one file_id: ``failures`` answers of ``status`` first, then the bytes."""

    data: bytes
    failures: int = 0
    status: int = 500
    served: int = 0


@dataclass
class BotApiStandIn:
    token: str = TOKEN
    username: str = BOT_USERNAME
    pending: list[dict[str, Any]] = field(default_factory=list)
    confirmed_below: int = 0
    get_updates_offsets: list[int | None] = field(default_factory=list)
    sent_messages: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    files: dict[str, FileBehaviour] = field(default_factory=dict)
    served_batches: list[list[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._arrived = asyncio.Event()
        self._closing = False
        self.served = asyncio.Event()  # set each time getUpdates returns a non-empty batch
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push(self, *updates: dict[str, Any]) -> None:
        self.pending.extend(updates)
        self._arrived.set()

    def forget_confirmations(self) -> None:
        """As if Telegram never got the offset that confirmed earlier updates: they come again."""
        self.confirmed_below = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing = True
        self._arrived.set()  # ends waiting long polls now rather than at their timeout
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(status: int, description: str) -> web.Response:
        return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        self.calls.append(method)
        params = json.loads(await request.read() or b"{}")
        if method == "getMe":
            return self._ok({"id": 123456, "is_bot": True, "first_name": "Lapor", "username": self.username})
        if method == "deleteWebhook":
            return self._ok(True)
        if method == "sendMessage":
            self.sent_messages.append(params)
            return self._ok({"message_id": 9000 + len(self.sent_messages), "chat": {"id": params["chat_id"]}})
        if method == "getUpdates":
            return await self._get_updates(params)
        if method == "getFile":
            file_id = params.get("file_id")
            if file_id not in self.files:
                return self._error(400, "Bad Request: invalid file_id")
            return self._ok({"file_id": file_id, "file_unique_id": f"u{file_id[-6:]}",
                             "file_size": len(self.files[file_id].data), "file_path": f"documents/{file_id}.bin"})
        return self._error(404, "Not Found")

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        offset = params.get("offset")
        self.get_updates_offsets.append(offset)
        if offset is not None:
            self.confirmed_below = max(self.confirmed_below, offset)
        limit = int(params.get("limit", 100))
        deadline = asyncio.get_running_loop().time() + float(params.get("timeout", 0))
        while True:
            ready = [u for u in self.pending if u["update_id"] >= self.confirmed_below][:limit]
            remaining = deadline - asyncio.get_running_loop().time()
            if ready or remaining <= 0 or self._closing:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=remaining)
            except TimeoutError:
                pass
        if ready:
            self.served_batches.append([u["update_id"] for u in ready])
            self.served.set()
        return self._ok(ready)

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        path = request.match_info["path"]
        file_id = path.removeprefix("documents/").removesuffix(".bin")
        behaviour = self.files.get(file_id)
        if behaviour is None:
            return self._error(404, "Not Found")
        behaviour.served += 1
        if behaviour.failures > 0:
            behaviour.failures -= 1
            return self._error(behaviour.status, "Internal Server Error")
        return web.Response(body=behaviour.data, content_type="application/octet-stream")
