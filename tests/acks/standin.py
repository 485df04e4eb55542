"""Local stand-ins for the providers' send APIs (one aiohttp app on loopback) and an SMTP sink.

Each API route counts its attempts, fails the first ``fail_first[route]`` of them with
``fail_status``, and records what it accepted. ``hold`` parks requests until released, to
show that a stuck provider does not slow intake and that concurrency stays bounded.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.proxy import free_port

TWILIO_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_TOKEN = "twilio-auth-token"
VONAGE_KEY, VONAGE_SECRET = "vonage-key", "vonage-secret"
KANNEL_USER, KANNEL_PASSWORD = "kannel-user", "kannel-pass"
GENERIC_TOKEN = "generic-send-token"
WHATSAPP_TOKEN = "whatsapp-access-token"
TELEGRAM_TOKEN = "123456:ack-test_token"


@dataclass(frozen=True)
class Received:
    route: str
    data: dict[str, Any]
    headers: dict[str, str]

    @property
    def text(self) -> str:
        """The message text, wherever the provider's payload keeps it."""
        data = self.data
        if self.route == "whatsapp":
            return str(data["text"]["body"])
        return str(data.get("Body") or data.get("text") or "")


@dataclass
class ProviderStandIn:
    fail_first: dict[str, int] = field(default_factory=dict)
    fail_status: int = 500
    fail_body: dict[str, Any] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    hold: asyncio.Event | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._twilio)
        app.router.add_post("/sms/json", self._vonage)
        app.router.add_get("/cgi-bin/sendsms", self._kannel)
        app.router.add_post("/generic/send", self._generic)
        app.router.add_post("/bot{token}/sendMessage", self._telegram)
        app.router.add_post("/{phone_number_id}/messages", self._whatsapp)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{bound}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def routes(self, route: str) -> list[Received]:
        return [item for item in self.received if item.route == route]

    async def _admit(self, route: str) -> web.Response | None:
        """Counts the attempt; waits while held; the failure answer for the first tries, else None."""
        self.attempts[route] += 1
        attempt = self.attempts[route]
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hold is not None:
                await self.hold.wait()
        finally:
            self.in_flight -= 1
        if attempt <= self.fail_first.get(route, 0):
            return web.json_response(self.fail_body or {"error": "stand-in failure"}, status=self.fail_status)
        return None

    def _record(self, route: str, request: web.Request, data: dict[str, Any]) -> None:
        self.received.append(Received(route, data, dict(request.headers)))

    async def _twilio(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if request.match_info["sid"] != TWILIO_SID or request.headers.get("Authorization") != expected:
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        if failure := await self._admit("twilio"):
            return failure
        form = dict(await request.post())
        self._record("twilio", request, form)
        return web.json_response({"sid": f"SM{len(self.received):032d}", "status": "queued"}, status=201)

    async def _vonage(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        if (form.get("api_key"), form.get("api_secret")) != (VONAGE_KEY, VONAGE_SECRET):
            return web.json_response({"message-count": "1", "messages": [{"status": "4"}]})
        if failure := await self._admit("vonage"):
            return failure
        self._record("vonage", request, form)
        return web.json_response({"message-count": "1", "messages": [
            {"to": form["to"], "message-id": f"0C{len(self.received):014d}", "status": "0"}]})

    async def _kannel(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        if (query.get("username"), query.get("password")) != (KANNEL_USER, KANNEL_PASSWORD):
            return web.Response(status=403, text="Authorization failed for sendsms")
        if failure := await self._admit("kannel"):
            return failure
        self._record("kannel", request, query)
        return web.Response(status=202, text="0: Accepted for delivery")

    async def _generic(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {GENERIC_TOKEN}":
            return web.json_response({"error": "unauthorized"}, status=401)
        if failure := await self._admit("generic"):
            return failure
        self._record("generic", request, await request.json())
        return web.json_response({"id": f"gen-{len(self.received)}"})

    async def _telegram(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TELEGRAM_TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if failure := await self._admit("telegram"):
            return failure
        self._record("telegram", request, await request.json())
        return web.json_response({"ok": True, "result": {"message_id": 9000 + len(self.received)}})

    async def _whatsapp(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {WHATSAPP_TOKEN}":
            return web.json_response({"error": {"code": 190, "message": "Invalid OAuth access token"}}, status=401)
        if failure := await self._admit("whatsapp"):
            return failure
        data = await request.json()
        self._record("whatsapp", request, {**data, "phone_number_id": request.match_info["phone_number_id"]})
        return web.json_response({"messaging_product": "whatsapp", "contacts": [{"wa_id": data["to"]}],
                                  "messages": [{"id": f"wamid.ack{len(self.received)}"}]})


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


class SmtpSink:
    """An aiosmtpd relay stand-in: answers 451 to the first ``fail_first`` messages, keeps the rest."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.attempts = 0
        self.mails: list[Mail] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        with self._lock:
            self.attempts += 1
            if self.attempts <= self.fail_first:
                return "451 4.3.0 stand-in: try again later"
            content = envelope.original_content or b""
            self.mails.append(Mail(envelope.mail_from or "", list(envelope.rcpt_tos), content))
        return "250 2.0.0 OK"
