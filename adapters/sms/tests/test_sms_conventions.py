"""SMS conventions through the normalizer's pure steps: keywords, hashtags, disaster words, text as sent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from normalizer import default_chain, normalize
from schemas import Channel, Kind, RawMessage, Sender, Urgency


def sms(text: str) -> RawMessage:
    return RawMessage(channel=Channel.SMS, provider="generic", inbound_address="1708", message_id="t1", body=text,
                      sender=Sender(phone="081234567890"), received_at=datetime(2026, 11, 23, tzinfo=UTC))


@pytest.mark.parametrize(("text", "kind", "urgency", "tags", "body"), [
    ("ASPIRASI mohon taman kota diperbanyak", Kind.ASPIRATION, Urgency.NORMAL, (), None),
    ("aspirasi#tambah lampu jalan", Kind.ASPIRATION, Urgency.NORMAL, ("tambah",), None),
    ("USULAN: jam layanan puskesmas diperpanjang", Kind.ASPIRATION, Urgency.NORMAL, (), None),
    ("INFO jadwal bansos?", Kind.INFORMATION_REQUEST, Urgency.NORMAL, (), None),
    ("PERTANYAAN. kapan KTP saya jadi", Kind.INFORMATION_REQUEST, Urgency.NORMAL, (), None),
    ("#INFO syarat SKCK apa saja", Kind.INFORMATION_REQUEST, Urgency.NORMAL, ("info",), None),
    ("LAPOR jalan rusak", Kind.COMPLAINT, Urgency.NORMAL, (), None),
    ("Rumah kami kebanjiran sejak subuh", Kind.COMPLAINT, Urgency.HIGH, (), None),
    ("Warga minta bantuan, #banjir di RT 3", Kind.COMPLAINT, Urgency.HIGH, ("banjir",), None),
    ("gempabumi barusan, dinding retak", Kind.COMPLAINT, Urgency.EMERGENCY, (), None),
    ("Gunung meletus, abu tebal di desa", Kind.COMPLAINT, Urgency.EMERGENCY, (), None),
    ("Tanah LONGSOR tutup jalan", Kind.COMPLAINT, Urgency.EMERGENCY, (), None),
    ("Pasar Senen KEBAKARAN 🔥🔥", Kind.COMPLAINT, Urgency.EMERGENCY, (), "Pasar Senen KEBAKARAN 🔥🔥"),
    ("  Air  PDAM\r\nmati   3 hari  ", Kind.COMPLAINT, Urgency.NORMAL, (), "Air PDAM\nmati 3 hari"),
    ("Sampah numpuk bgt, tlg dong diangkut :(", Kind.COMPLAINT, Urgency.NORMAL, (),
     "Sampah numpuk bgt, tlg dong diangkut :("),
])
def test_sms_conventions(text, kind, urgency, tags, body):
    draft = normalize(sms(text), default_chain())
    assert (draft.kind, draft.urgency, draft.tags) == (kind, urgency, tags)
    if body is not None:
        assert draft.body == body
