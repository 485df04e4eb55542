"""The publisher's frame encoder against pamqp, the reference: the same bytes for any report."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp import frame as pamqp_frame
from pamqp.body import ContentBody
from pamqp.commands import Basic
from pamqp.header import ContentHeader

from gateway.frames import CONTENT_TYPE, MESSAGE_TYPE, PERSISTENT, PublishEncoder, headers
from gateway.outbox import Outgoing


def pamqp_bytes(item: Outgoing, channel_number: int, exchange: str, max_content_size: int) -> bytes:
    """What pamqp marshals for the publish the gateway means to send."""
    body = item.payload
    frames = [
        Basic.Publish(exchange=exchange, routing_key=item.routing_key, mandatory=True),
        ContentHeader(
            properties=Basic.Properties(
                content_type=CONTENT_TYPE, delivery_mode=PERSISTENT, message_id=item.id,
                timestamp=datetime.fromtimestamp(item.received_at, tz=UTC), message_type=MESSAGE_TYPE,
                headers=headers(item.channel, item.kind),
            ),
            body_size=len(body),
        ),
        *(ContentBody(body[start:start + max_content_size]) for start in range(0, len(body), max_content_size)),
    ]
    return b"".join(pamqp_frame.marshal(frame, channel_number) for frame in frames)


words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=30)
items = st.builds(
    Outgoing,
    id=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60),
    routing_key=st.builds(".".join, st.lists(words, min_size=1, max_size=4)),
    payload=st.binary(max_size=600),
    channel=words,
    kind=words,
    received_at=st.floats(min_value=0, max_value=4e9),
)


@settings(max_examples=300)
@given(item=items, channel_number=st.integers(1, 2047), max_content_size=st.sampled_from([1, 7, 100, 131_064]),
       exchange=st.from_regex(r"[a-zA-Z0-9_.:-]{0,40}", fullmatch=True))  # AMQP's exchange names
def test_the_frames_are_pamqps_bytes(item: Outgoing, channel_number: int, max_content_size: int, exchange: str) -> None:
    encoder = PublishEncoder(channel_number, exchange, max_content_size)
    expected = pamqp_bytes(item, channel_number, exchange, max_content_size)
    assert encoder.encode(item) == expected
    assert encoder.encode(item) == expected  # again, from the cached method frame and headers table


def test_a_report_routed_again_keeps_each_keys_own_method_frame() -> None:
    encoder = PublishEncoder(1, "lapor.reports", 131_064)
    first = Outgoing("01JDAAAAAAAAAAAAAAAAAAAAAA", "report.unassigned.complaint.sms", b"{}", "sms", "complaint", 1.7e9)
    second = Outgoing("01JDBBBBBBBBBBBBBBBBBBBBBB", "duplicate.unassigned.complaint.web", b"{}", "web", "complaint",
                      1.7e9)
    for item in (first, second, first):
        assert encoder.encode(item) == pamqp_bytes(item, 1, "lapor.reports", 131_064)


def test_a_message_id_too_long_for_a_short_string_is_refused() -> None:
    item = Outgoing("x" * 256, "report.unassigned.complaint.web", b"{}", "web", "complaint", 1.7e9)
    with pytest.raises(ValueError, match="255"):
        PublishEncoder(1, "lapor.reports", 131_064).encode(item)
