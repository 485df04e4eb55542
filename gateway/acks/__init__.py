"""Acknowledgements: every accepted report's tracking code, sent back on the channel it came in on."""

from __future__ import annotations

from functools import partial

from gateway.acks import store
from gateway.acks.service import AckService, build_senders
from gateway.context import ChannelContext


def install(context: ChannelContext) -> None:
    """Register the commit hook and the sender service; ``[acks] enabled = false`` leaves both out."""
    config = context.config
    if not config.acks.enabled:
        return
    service = AckService(config.acks, build_senders(config.acks, config.channels), context.outbox, context.metrics,
                         intake_quiet=context.intake.quiet)
    context.intake.commit_hooks.append(service.hook)
    context.services.append(service)
    context.metrics.watch_acks(partial(store.pending_per_channel, context.outbox))


__all__ = ["AckService", "install"]
