"""Installs the Telegram channel: the webhook route or the polling loop, and the bot's identity."""

from __future__ import annotations

from adapters.telegram import webhook
from adapters.telegram.botapi import BotApi
from adapters.telegram.handler import TelegramIntake
from adapters.telegram.media import TelegramMediaSource
from adapters.telegram.service import TelegramService
from gateway.context import ChannelContext
from gateway.media import media_fetcher


def install(context: ChannelContext) -> None:
    config = context.config.channels.telegram
    assert config is not None
    api = BotApi(config.api_url, config.bot_token)
    media = media_fetcher(context)  # before the polling service: it starts first and stops last
    media.register("telegram", TelegramMediaSource(api, context.intake.attachments.max_file_bytes),
                   timeout=config.media_timeout)
    telegram = TelegramIntake(context.intake, media, api, config.allow_groups, config.bot_username)
    if config.mode == "webhook":
        assert config.secret_token is not None  # the config refuses webhook mode without one
        webhook.register(context.surface, telegram, config.secret_token, context.metrics)
    context.services.append(TelegramService(telegram, api, polling=config.mode == "polling",
                                            poll_timeout=config.poll_timeout))
