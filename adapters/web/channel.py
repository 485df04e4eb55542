"""Installs the web channel: the JSON API and the form."""

from __future__ import annotations

from adapters.web import api, form
from gateway.context import ChannelContext


def install(context: ChannelContext) -> None:
    api.register(context.surface, context.intake)
    form.register(context.surface)
