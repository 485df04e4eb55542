"""Installs the web channel: the JSON API and the form."""

from __future__ import annotations

from adapters.web import api, form
from gateway.context import ChannelContext


def install(context: ChannelContext) -> None:
    config = context.config
    assert config.channels.web is not None
    # The same region as the normalizer chain (gateway.daemon), so a number the form accepts normalises.
    region = config.channels.sms.default_region if config.channels.sms else "ID"
    api.register(context.surface, context.intake, region)
    channel = form.FormChannel(config.channels.web, context.intake, context.metrics, region, config.http.public_url)
    form.register(context.surface, channel)
