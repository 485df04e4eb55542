"""Acknowledgements: every accepted report's tracking code, sent back on the channel it came in on."""

from __future__ import annotations

from functools import partial

from gateway.acks import store
from gateway.acks.service import AckService, build_senders
from gateway.context import ChannelContext


def install(context: ChannelContext) -> None:
    """The sender service, told of every stored report; ``[acks] enabled = false`` leaves it out
    and records that this run acknowledges nothing."""
    config = context.config
    outbox = context.outbox
    if not config.acks.enabled:
        context.preparations.append(partial(outbox.transact, partial(store.mark_run, enabled=False)))
        return
    service = AckService(config.acks, build_senders(config.acks, config.channels), outbox, context.metrics,
                         intake_quiet=context.intake.quiet)
    context.preparations.append(service.prepare)
    context.intake.stored_listeners.append(service.report_stored)
    context.services.append(service)
    context.metrics.watch_acks(partial(store.pending_per_channel, outbox))


__all__ = ["AckService", "install"]
