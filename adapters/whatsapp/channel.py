"""Installs the WhatsApp channel: the webhook routes and the Graph API media source."""

from __future__ import annotations

from adapters.whatsapp import webhook
from adapters.whatsapp.graph import GraphMedia
from gateway.context import ChannelContext
from gateway.media import media_fetcher
from schemas.report import Channel


def install(context: ChannelContext) -> None:
    config = context.config.channels.whatsapp
    assert config is not None  # install_channels only calls this when the section exists
    fetcher = media_fetcher(context)
    source = GraphMedia(config.api_url, config.access_token, context.intake.attachments.max_file_bytes)
    fetcher.register(Channel.WHATSAPP.value, source, timeout=config.media_timeout)
    webhook.register(context.surface, context.intake, fetcher, context.metrics,
                     verify_token=config.verify_token, app_secret=config.app_secret)
