"""A committed report's basic.publish frames, encoded for the wire.

pamqp encodes a frame field by field in generic Python (a type check and a struct call per field):
about 200,000 instructions a report (bench/instructions.py), the largest single cost on the event
loop's thread. Here what repeats is encoded once, by pamqp itself: the method frame per routing
key, the headers table per (channel, kind). The rest is packed with struct. The bytes are pamqp's,
byte for byte; tests/test_publish_frames.py holds the two together.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from pamqp import encode
from pamqp import frame as pamqp_frame
from pamqp.commands import Basic
from pamqp.common import FieldTable

from gateway.outbox import Outgoing
from schemas import SCHEMA_ID

CONTENT_TYPE = "application/json"
MESSAGE_TYPE = "lapor.report"
PERSISTENT = 2  # delivery_mode

_FRAME = struct.Struct(">BHI")  # frame type, channel, payload size
_FRAME_END = b"\xce"
_FRAME_HEADER, _FRAME_BODY = 2, 3
_BASIC_CLASS = 60
# class, weight, body size, property flags
_HEADER_START = struct.Struct(">HHQH")
# The properties a report carries, as AMQP 0-9-1 flags them: content_type, headers, delivery_mode,
# message_id, timestamp, type. Their values follow in this order.
_PROPERTY_FLAGS = 0x8000 | 0x2000 | 0x1000 | 0x0080 | 0x0040 | 0x0020
_TIMESTAMP = struct.Struct(">Q")
_CONTENT_TYPE = encode.short_string(CONTENT_TYPE)
_DELIVERY_MODE = encode.octet(PERSISTENT)
_MESSAGE_TYPE = encode.short_string(MESSAGE_TYPE)


def headers(channel: str, kind: str) -> FieldTable:
    """The AMQP headers a report is published with (design.md): consumers filter on them."""
    return {"schema": SCHEMA_ID, "channel": channel, "kind": kind}


class PublishEncoder:
    """basic.publish (mandatory), its content header and the body in frames of at most
    ``max_content_size`` bytes, for one channel of one connection."""

    def __init__(self, channel_number: int, exchange: str, max_content_size: int) -> None:
        self.channel_number = channel_number
        self.exchange = exchange
        self.max_content_size = max_content_size
        # Few distinct keys: routing keys are (prefix, agency, kind, channel), agencies configured.
        self._methods: dict[str, bytes] = {}
        self._tables: dict[tuple[str, str], bytes] = {}

    def encode(self, item: Outgoing) -> bytes:
        """The frames' bytes; ValueError for a message id longer than a short string holds."""
        method = self._methods.get(item.routing_key)
        if method is None:
            publish = Basic.Publish(exchange=self.exchange, routing_key=item.routing_key, mandatory=True)
            method = self._methods[item.routing_key] = pamqp_frame.marshal(publish, self.channel_number)
        table = self._tables.get((item.channel, item.kind))
        if table is None:
            table = self._tables[(item.channel, item.kind)] = encode.field_table(headers(item.channel, item.kind))
        message_id = item.id.encode()
        if len(message_id) > 255:
            raise ValueError("message id longer than 255 bytes")
        # As pamqp encodes a datetime: whole seconds of the microsecond-rounded time.
        seconds = int(datetime.fromtimestamp(item.received_at, tz=UTC).timestamp())
        body = item.payload
        header = b"".join((
            _HEADER_START.pack(_BASIC_CLASS, 0, len(body), _PROPERTY_FLAGS),
            _CONTENT_TYPE, table, _DELIVERY_MODE, bytes((len(message_id),)), message_id,
            _TIMESTAMP.pack(seconds), _MESSAGE_TYPE,
        ))
        parts = [method, _FRAME.pack(_FRAME_HEADER, self.channel_number, len(header)), header, _FRAME_END]
        step = self.max_content_size
        for start in range(0, len(body), step):
            chunk = body[start:start + step]
            parts += (_FRAME.pack(_FRAME_BODY, self.channel_number, len(chunk)), chunk, _FRAME_END)
        return b"".join(parts)
