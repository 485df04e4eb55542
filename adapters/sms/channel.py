"""Installs the SMS channel: /webhooks/sms/<provider> for every configured provider, and multipart assembly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from adapters.sms.generic.handler import Generic
from adapters.sms.kannel.handler import Kannel
from adapters.sms.multipart import ConcatAssembler, Part
from adapters.sms.twilio.handler import Twilio
from adapters.sms.vonage.handler import Vonage
from adapters.sms.webhook import InboundSms, Outcome, Provider, WebhookRequest, refuse
from gateway.config import SmsChannelConfig
from gateway.context import ChannelContext
from gateway.http import Handler, RequestError, error_responses
from gateway.outbox import OutboxUnavailable
from schemas import Channel, RawMessage, Sender


def providers(config: SmsChannelConfig, public_url: str | None) -> list[Provider]:
    configured: list[Provider] = []
    if config.twilio is not None:
        configured.append(Twilio(config.twilio, public_url))
    if config.vonage is not None:
        configured.append(Vonage(config.vonage))
    if config.kannel is not None:
        configured.append(Kannel(config.kannel))
    if config.generic is not None:
        configured.append(Generic(config.generic))
    return configured


class SmsIntake:
    """Turns a provider's parsed SMS into a committed report, or a stored part of one."""

    def __init__(self, context: ChannelContext, config: SmsChannelConfig) -> None:
        self.context = context
        self.short_code = config.short_code
        self.assembler = ConcatAssembler(context.intake, context.outbox, config.multipart_timeout)

    async def receive(self, provider: str, sms: InboundSms) -> Outcome:
        inbound_address = sms.to or self.short_code
        try:
            if sms.concat is not None:
                concat = sms.concat
                part = Part(provider, inbound_address, sms.sender, concat.ref, concat.total, concat.number,
                            sms.message_id, sms.text, datetime.now(UTC), sms.raw, sms.raw_content_type)
                assembled = await self.assembler.add(part)
                if assembled is None:
                    return Outcome("part_stored")
                return Outcome("accepted", assembled.id, assembled.tracking_code)
            raw = RawMessage(
                channel=Channel.SMS,
                provider=provider,
                inbound_address=inbound_address,
                message_id=sms.message_id,
                body=sms.text,
                sender=Sender(phone=sms.sender),
                raw=sms.raw,
                raw_content_type=sms.raw_content_type,
            )
            accepted = await self.context.intake.accept(raw)
        except OutboxUnavailable:
            raise RequestError(503, "outbox_unavailable", "the message could not be stored; retry later") from None
        return Outcome("duplicate" if accepted.duplicate else "accepted", accepted.id, accepted.tracking_code)


def route(provider: Provider, sms_intake: SmsIntake, context: ChannelContext) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        try:
            hook = await WebhookRequest.read(request)
            provider.verify(hook)
            sms = provider.parse(hook)
        except RequestError as error:
            refuse(context.metrics, provider.name, error)
            raise
        outcome = await sms_intake.receive(provider.name, sms)
        return provider.answer(outcome)

    return handle


def operation(provider: Provider, method: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": provider.summary,
        "operationId": f"smsWebhook{provider.name.capitalize()}{method.capitalize()}",
        "tags": ["sms"],
        "parameters": [provider.auth],
        "responses": {**provider.responses(), **error_responses(400, 403, 413, 415, 422, 503)},
    }
    if method == "GET":
        operation["parameters"] = [provider.auth, *(
            {"name": name, "in": "query", "required": name in provider.required_fields,
             "schema": {"type": "string"}, "description": description}
            for name, description in provider.fields.items() if name != provider.auth["name"]
        )]
        return operation
    schema = {
        "type": "object",
        "properties": {name: {"type": "string", "description": description}
                       for name, description in provider.fields.items()},
        "required": [name for name in provider.required_fields if name in provider.fields],
        "additionalProperties": True,
    }
    content_types = ["application/x-www-form-urlencoded"]
    if provider.name in ("vonage", "generic"):
        content_types.append("application/json")
    operation["requestBody"] = {"required": True, "content": {kind: {"schema": schema} for kind in content_types}}
    return operation


def install(context: ChannelContext) -> None:
    config = context.config.channels.sms
    assert config is not None
    sms_intake = SmsIntake(context, config)
    for provider in providers(config, context.config.http.public_url):
        handler = route(provider, sms_intake, context)
        for method in provider.methods:
            context.surface.add(method, f"/webhooks/sms/{provider.name}", handler, operation(provider, method))
    context.services.append(sms_intake.assembler)
