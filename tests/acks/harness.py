"""`python -m tests.acks.harness run --config FILE`: the real daemon (CLI, uvloop, signals, outbox,
acknowledgements) with the web and email channels, plus POST /test/raw, which hands a RawMessage
of any channel to Intake.accept and answers 202 after the commit, as a channel webhook would."""

from __future__ import annotations

import sys

from aiohttp import web

import gateway.daemon
from gateway.cli import main
from gateway.context import ChannelContext
from gateway.http import error_responses
from schemas import Channel, RawMessage, Sender
from tests.acks.conftest import install_web_and_email


def install(context: ChannelContext) -> None:
    install_web_and_email(context)

    async def accept(request: web.Request) -> web.Response:
        data = await request.json()
        raw = RawMessage(channel=Channel(data["channel"]), provider=data["provider"],
                         inbound_address=data["inbound_address"], message_id=data["message_id"], body=data["body"],
                         sender=Sender(**data.get("sender", {})))
        accepted = await context.intake.accept(raw)
        return web.json_response({"id": accepted.id, "tracking_code": accepted.tracking_code}, status=202)

    context.surface.add("POST", "/test/raw", accept, {
        "summary": "Test harness only: a RawMessage straight into Intake", "operationId": "testRaw",
        "responses": {"202": {"description": "Committed"}, **error_responses(400)}})


if __name__ == "__main__":
    gateway.daemon.install_channels = install
    sys.exit(main(sys.argv[1:]))
