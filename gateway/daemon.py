"""The gateway process: outbox, publisher, HTTP server and channel services, started and
stopped in the order that keeps every accepted report safe."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from typing import Any

import structlog
from aiohttp import web

from gateway.acks import install as install_acks
from gateway.attachments import AttachmentStore
from gateway.config import Config
from gateway.context import ChannelContext
from gateway.dedup import DuplicateFinder
from gateway.http import MAX_BODY_BYTES, HttpSurface, JsonErrorAppRunner, error_middleware, json_answer
from gateway.media import media_fetcher
from gateway.metrics import Metrics
from gateway.outbox import Outbox
from gateway.pipeline import Intake
from gateway.publisher import Publisher
from normalizer import default_chain
from schemas.report import report_json_schema

# The cyclic collector's youngest generation runs after this many net allocations (700 by default).
# Under load the requests in flight alone hold more than 700 objects, so it ran every few dozen
# reports, walked objects still in use and moved them to the older generations, whose passes then
# cost more. Measured over 10 s of api load (with start-up): 985 passes and 0.39 s of CPU at 700;
# at 10,000, none under load. It still runs where objects do accumulate. A reference cycle per
# report would: tests keep the hot paths free of them (tests/support/garbage.py).
YOUNG_COLLECTION_THRESHOLD = 10_000

log = structlog.get_logger("daemon")


def install_channels(context: ChannelContext) -> None:
    """Each configured channel adds its routes and services; an absent section is disabled."""
    channels = context.config.channels
    # Imported lazily: a deployment without a channel never loads its libraries.
    if channels.web is not None and channels.web.enabled:
        from adapters.web.channel import install as install_web

        install_web(context)
    if channels.sms is not None:
        from adapters.sms.channel import install as install_sms

        install_sms(context)
    if channels.email is not None:
        from adapters.email.channel import install as install_email

        install_email(context)
    if channels.whatsapp is not None:
        from adapters.whatsapp.channel import install as install_whatsapp

        install_whatsapp(context)
    if channels.telegram is not None:
        from adapters.telegram.channel import install as install_telegram

        install_telegram(context)


class Gateway:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.metrics = Metrics()
        self.outbox = Outbox(config.storage.path, config.storage.synchronous)
        self.publisher = Publisher(config.broker, self.outbox, self.metrics)
        storage = config.storage
        self.attachments = AttachmentStore(
            storage.attachments_dir, storage.max_attachment_bytes, storage.max_message_attachment_bytes,
            storage.attachment_types,
        )
        sms = config.channels.sms
        steps = default_chain(
            region=sms.default_region if sms else "ID",
            addresses=config.routing.addresses,
            default_agency=config.routing.default_agency,
        )
        self.dedup = DuplicateFinder(self.outbox, config.dedup) if config.dedup.enabled else None
        if self.dedup is not None:
            self.metrics.watch_dedup(self.dedup.status)
        self.intake = Intake(steps, self.outbox, self.publisher, self.metrics, self.attachments, self.dedup)
        self.app = web.Application(client_max_size=config.http.max_body_bytes, middlewares=[error_middleware])
        self.app[MAX_BODY_BYTES] = config.http.max_body_bytes
        self.surface = HttpSurface(self.app)
        self.context = ChannelContext(config, self.surface, self.intake, self.outbox, self.metrics)
        self._add_operator_routes()
        install_channels(self.context)
        # Even with no media channel configured, reports held for media from an earlier run get released.
        media_fetcher(self.context)
        install_acks(self.context)  # after the channels: its service starts last and stops first
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._stopped = False

    @property
    def port(self) -> int:
        assert self._runner is not None and self._runner.addresses
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        self.outbox.open()
        if self.dedup is not None:
            await self.dedup.open()  # before intake opens: every report must see its earlier ones
        for prepare in self.context.preparations:
            await prepare()
        self.metrics.watch_outbox(self.outbox.status, lambda: self.outbox.commit_process_up)
        await self.publisher.start()
        http = self.config.http
        self._runner = JsonErrorAppRunner(
            self.app, access_log=None, max_field_size=http.max_header_bytes, max_line_size=http.max_header_bytes,
            shutdown_timeout=10,
        )
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, http.host, http.port, reuse_address=True)
        await self._site.start()
        for service in self.context.services:
            await service.start()
        log.info("gateway started", host=http.host, port=self.port, outbox=str(self.config.storage.path),
                 broker_exchange=self.config.broker.exchange)

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Stop intake first, then give the publisher a moment to flush; what is left stays spooled."""
        if self._stopped:
            return
        self._stopped = True
        for service in reversed(self.context.services):
            with contextlib.suppress(Exception):
                await service.stop()
        if self._runner is not None:
            await self._runner.cleanup()  # closes the listener, lets in-flight requests finish
        drained = await self.publisher.drain(drain_timeout)
        await self.publisher.stop()
        await self.outbox.close()
        if self.dedup is not None:
            self.dedup.close()
        log.info("gateway stopped", fully_drained=drained)

    # -- operator endpoints ---------------------------------------------------------------------
    def _add_operator_routes(self) -> None:
        surface = self.surface

        async def healthz(_request: web.Request) -> web.Response:
            return json_answer({"status": "ok"})

        async def readyz(_request: web.Request) -> web.Response:
            writable = await asyncio.to_thread(self.outbox.writable)
            body: dict[str, Any] = {
                "status": "ready" if writable else "not_ready",
                "outbox": "writable" if writable else "not_writable",
                "broker": "connected" if self.publisher.connected else "disconnected",
                "publisher_backlog": self.publisher.backlog,
            }
            return json_answer(body, status=200 if writable else 503)

        async def metrics(_request: web.Request) -> web.Response:
            data = await asyncio.to_thread(self.metrics.render)
            return web.Response(body=data, content_type="text/plain", charset="utf-8",
                                headers={"X-Content-Type-Options": "nosniff"})

        async def openapi(_request: web.Request) -> web.Response:
            return json_answer(surface.openapi())

        async def report_schema(_request: web.Request) -> web.Response:
            return json_answer(report_json_schema())

        status_schema = {"type": "object", "additionalProperties": True}
        surface.add("GET", "/healthz", healthz, {
            "summary": "Liveness", "operationId": "healthz",
            "responses": {"200": {"description": "The process answers",
                                  "content": {"application/json": {"schema": status_schema}}}}})
        surface.add("GET", "/readyz", readyz, {
            "summary": "Readiness: the outbox is writable (broker state reported, not required)",
            "operationId": "readyz",
            "responses": {
                "200": {"description": "Ready", "content": {"application/json": {"schema": status_schema}}},
                "503": {"description": "Outbox not writable",
                        "content": {"application/json": {"schema": status_schema}}}}})
        surface.add("GET", "/metrics", metrics, {
            "summary": "Prometheus metrics", "operationId": "metrics",
            "responses": {"200": {"description": "Prometheus text format",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}}})
        surface.add("GET", "/openapi.json", openapi, {
            "summary": "This document", "operationId": "openapi",
            "responses": {"200": {"description": "OpenAPI 3.1",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}}})
        surface.add("GET", "/v1/schema/report", report_schema, {
            "summary": "The canonical report JSON Schema (lapor.report/1)", "operationId": "reportSchema",
            "responses": {"200": {"description": "JSON Schema",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}}})


async def serve(config: Config) -> None:
    """Run until SIGTERM or SIGINT; then drain and return (exit status 0)."""
    gateway = Gateway(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await gateway.start()
    # Start-up's objects (routes, schemas, libraries' tables) live as long as the process: frozen,
    # the cyclic collector no longer walks them on every full collection under load.
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
    await stop.wait()
    log.info("signal received, stopping intake and draining")
    await gateway.stop()
