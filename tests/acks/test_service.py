"""The sender service: failures recorded, retries bounded, intake never held up, restart resumes."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.acks.service import AckService
from tests.acks.conftest import API_CASES, ack_rows, eventually
from tests.conftest import base_url
from tests.support.proxy import free_port

CASES = {case.name: case for case in API_CASES}


async def metrics_text(http, gateway) -> str:
    async with http.get(f"{base_url(gateway)}/metrics") as response:
        return await response.text()


async def test_a_rejected_send_is_recorded_and_counted(ack_gateway, providers, http):
    providers.fail_first, providers.fail_status = {"twilio": 100}, 400
    gateway = await ack_gateway()
    accepted = await gateway.intake.accept(CASES["twilio"].raw("Jalan berlubang besar di tikungan"))
    rows = await eventually(lambda: [r for r in ack_rows(gateway) if r["state"] == 2], what="a failed row")
    await asyncio.sleep(0.5)
    assert providers.attempts["twilio"] == 1  # a 400 will not get better by trying again
    assert (rows[0]["report_id"], rows[0]["attempts"], rows[0]["last_error"]) == (accepted.id, 1, "twilio: HTTP 400")
    text = await metrics_text(http, gateway)
    assert 'lapor_acks_failed_total{channel="sms",reason="rejected"} 1.0' in text
    assert 'lapor_acks_pending{channel="sms"}' not in text


async def test_retries_stop_at_max_attempts(ack_gateway, providers, http):
    providers.fail_first = {"telegram": 100}
    gateway = await ack_gateway(acks={"max_attempts": 3})
    await gateway.intake.accept(CASES["telegram"].raw("Banjir setinggi lutut di perumahan"))
    [row] = await eventually(lambda: [r for r in ack_rows(gateway) if r["state"] == 2], what="a failed row")
    assert row["attempts"] == 3 and providers.attempts["telegram"] == 3
    text = await metrics_text(http, gateway)
    assert 'lapor_acks_failed_total{channel="telegram",reason="attempts_exhausted"} 1.0' in text
    assert 'lapor_ack_retries_total{channel="telegram"} 2.0' in text


@pytest.mark.parametrize(
    ("code", "attempts", "state"),
    [
        (131056, 3, 1),  # pair rate limit: momentary, retried until it goes through
        (130429, 3, 1),  # throughput limit
        (131047, 1, 2),  # outside the 24-hour window: will not change by retrying
        (100, 1, 2),  # invalid parameter
    ],
)
async def test_whatsapp_error_codes_decide_retry(code, attempts, state, ack_gateway, providers):
    providers.fail_first, providers.fail_status = {"whatsapp": 2}, 400
    providers.fail_body = {"error": {"code": code, "message": "stand-in"}}
    gateway = await ack_gateway()
    await gateway.intake.accept(CASES["whatsapp"].raw("Pipa PDAM bocor di jalan utama"))
    [row] = await eventually(lambda: [r for r in ack_rows(gateway) if r["state"] != 0], what="a settled row")
    assert (row["state"], row["attempts"], providers.attempts["whatsapp"]) == (state, attempts, attempts)


async def test_a_stuck_provider_neither_slows_intake_nor_gets_unbounded_requests(ack_gateway, providers, http):
    providers.hold = asyncio.Event()
    gateway = await ack_gateway(acks={"concurrency": 4, "timeout": 60})
    started = time.perf_counter()
    accepted = await asyncio.gather(*(
        gateway.intake.accept(CASES["telegram"].raw(f"Laporan nomor {index}: jalan rusak di blok {index}"))
        for index in range(200)
    ))
    elapsed = time.perf_counter() - started
    await eventually(lambda: providers.in_flight == 4, what="four sends in flight")
    # Every report is accepted while every send hangs (a generous bound: the machine is shared);
    # an intake that waited for its acknowledgement would not finish before the release below.
    assert elapsed < 30.0, elapsed
    assert providers.received == []
    text = await metrics_text(http, gateway)
    assert 'lapor_acks_pending{channel="telegram"} 200.0' in text
    await asyncio.sleep(0.3)
    assert providers.max_in_flight == 4
    providers.hold.set()
    await eventually(lambda: len(providers.received) == 200, timeout=30, what="all 200 acknowledgements")
    chats = {item.data["chat_id"] for item in providers.received}
    assert chats == {int(a.report.source.message_id.split(":")[0]) for a in accepted if a.report}
    # The stand-in counts a send when it arrives; the gateway records it once the answer is back.
    sent = 'lapor_acks_sent_total{channel="telegram"} 200.0'
    for _ in range(100):
        if sent in await metrics_text(http, gateway):
            break
        await asyncio.sleep(0.1)
    assert sent in await metrics_text(http, gateway)


async def test_switched_off_nothing_is_written_or_sent(ack_gateway, providers):
    gateway = await ack_gateway(acks={"enabled": False})
    assert not any(isinstance(service, AckService) for service in gateway.context.services)
    assert gateway.intake.stored_listeners == []
    await gateway.intake.accept(CASES["generic"].raw("Sampah tidak diangkut dua minggu"))
    await asyncio.sleep(0.5)
    assert providers.attempts == {}
    with gateway.outbox.reader() as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name='acks'").fetchone() is None


async def test_a_restart_sends_what_the_last_run_could_not(ack_gateway, providers):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: every send fails to connect
    first = await ack_gateway(api_url=dead)
    accepted = await first.intake.accept(CASES["vonage"].raw("Kabel listrik menjuntai rendah di gang"))
    await eventually(lambda: [r for r in ack_rows(first) if r["attempts"] >= 1], what="a failed attempt")
    await first.stop()
    second = await ack_gateway()
    [got] = await eventually(lambda: providers.routes("vonage"), what="the acknowledgement after the restart")
    assert accepted.tracking_code in got.text
    await asyncio.sleep(0.5)
    assert len(providers.routes("vonage")) == 1
    await eventually(lambda: ack_rows(second)[0]["state"] == 1, what="the row marked sent")


def test_pending_lookups_stay_on_the_partial_index():
    """A year of sent acknowledgements must not make each scan slower: the reads use acks_due."""
    import sqlite3

    from gateway.acks import store

    conn = sqlite3.connect(":memory:")
    store.create_schema(conn)
    conn.executemany("INSERT INTO acks (report_id, channel, provider, inputs, idempotency_key, state,"
                     " next_attempt_at, created_at) VALUES (?, 'sms', 'twilio', '{}', ?, ?, 0, 0)",
                     [(f"r{i}", f"ack-r{i}", store.SENT if i % 100 else store.PENDING) for i in range(20000)])
    conn.execute("ANALYZE")
    for sql, args in ((store.DUE_SQL, (1.0, 10)), (store.NEXT_DUE_SQL, (1.0,)), (store.PENDING_SQL, ())):
        plan = " ".join(str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))
        assert "acks_due" in plan, plan


async def test_a_row_the_sender_cannot_handle_is_given_up_not_spun_on(ack_gateway, providers, http):
    gateway = await ack_gateway(acks={"max_attempts": 3})
    from gateway.acks import store

    def broken(conn):  # e.g. written by an older version without the addressing fields
        inputs = {"template": "received", "tracking_code": "LPR-23456789"}
        store.insert(conn, [store.row(report_id="01M85B0000000000000000000Z", channel="telegram", provider="bot_api",
                                      recipient="5550001", inputs=inputs, state=store.PENDING, due_at=time.time())])

    await gateway.outbox.transact(broken)
    gateway.context.services[-1]._wake.set()
    [row] = await eventually(lambda: [r for r in ack_rows(gateway) if r["state"] == 2], what="the row given up")
    assert (row["attempts"], row["last_error"]) == (3, "KeyError")
    assert providers.attempts == {}
    await gateway.intake.accept(CASES["telegram"].raw("Setelah itu laporan biasa tetap terkirim"))
    await eventually(lambda: providers.routes("telegram"), what="the next acknowledgement")


async def _flood(gateway, accepted: list, stop: asyncio.Event, citizens: int = 8) -> None:
    """Citizens sending report after report until ``stop``: intake is never quiet meanwhile."""

    async def citizen(number: int) -> None:
        for index in range(10_000):
            if stop.is_set():
                return
            raw = CASES["telegram"].raw(f"Laporan {number}-{index}: lampu jalan mati di gang {index}")
            accepted.append(await gateway.intake.accept(raw))

    await asyncio.gather(*(citizen(number) for number in range(citizens)))


async def test_a_gap_between_two_requests_is_not_a_quiet_moment(ack_gateway, providers):
    # Over HTTP under load intake is idle for a moment between two requests; were that quiet, the
    # sender would run in every such gap and take its share of the event loop from intake.
    gateway = await ack_gateway()
    await gateway.intake.accept(CASES["telegram"].raw("Lampu jalan mati di gang mawar"))
    assert not await gateway.intake.quiet(0.02)
    assert await gateway.intake.quiet(1.0)


async def test_intake_comes_first_and_the_acknowledgements_follow(ack_gateway, providers):
    gateway = await ack_gateway(acks={"max_defer": 60})
    accepted: list = []
    stop = asyncio.Event()
    flood = asyncio.create_task(_flood(gateway, accepted, stop))
    await eventually(lambda: len(accepted) >= 150, timeout=30, what="a flood of reports")
    await asyncio.sleep(1.0)  # time enough for the sender, were it not waiting for intake
    sent_during_flood, rows_during_flood = len(providers.received), len(ack_rows(gateway))
    stop.set()
    await flood
    # Intake does no acknowledgement work: not even the rows are written while reports come in.
    assert (sent_during_flood, rows_during_flood) == (0, 0)
    # Quiet again: every report of the flood gets its acknowledgement, each exactly once.
    await eventually(lambda: len(providers.received) == len(accepted), timeout=60, what="every acknowledgement")
    codes = {item.tracking_code for item in accepted}
    assert {code for code in codes if any(code in str(sent) for sent in providers.received)} == codes


async def test_under_endless_load_an_acknowledgement_waits_no_longer_than_max_defer(ack_gateway, providers):
    gateway = await ack_gateway(acks={"max_defer": 1.0})
    accepted: list = []
    stop = asyncio.Event()
    flood = asyncio.create_task(_flood(gateway, accepted, stop))
    try:
        await eventually(lambda: accepted, timeout=30, what="the first report")
        started = time.monotonic()
        await eventually(lambda: providers.received, timeout=20, what="an acknowledgement during the flood")
        assert not flood.done()  # intake was busy all along
        assert time.monotonic() - started < 10  # sent after about max_defer, not after the flood
    finally:
        stop.set()
        await flood


@pytest.mark.parametrize("history", [["off"], ["on", "off"]], ids=["never on before", "switched off for a while"])
async def test_reports_accepted_while_acknowledgements_were_off_are_not_answered_later(
        history, ack_gateway, providers):
    answered = None
    for setting in history:
        gateway = await ack_gateway(acks={"enabled": setting == "on"})
        if setting == "on":
            answered = await gateway.intake.accept(CASES["generic"].raw("Lampu jalan mati di gang mawar"))
            await eventually(lambda: providers.routes("generic"), what="the acknowledgement while on")
        unanswered = await gateway.intake.accept(CASES["generic"].raw("Saluran air tersumbat di gang melati"))
        await gateway.stop()
    gateway = await ack_gateway()
    later = await gateway.intake.accept(CASES["generic"].raw("Sampah menumpuk di pasar lama"))
    await eventually(lambda: any(later.tracking_code in item.text for item in providers.routes("generic")),
                     what="the acknowledgement of the report after switching on")
    await asyncio.sleep(0.5)
    texts = [item.text for item in providers.routes("generic")]
    assert not any(unanswered.tracking_code in text for text in texts)
    assert len(texts) == (2 if answered else 1)
    assert {row["report_id"] for row in ack_rows(gateway)} == {a.id for a in (answered, later) if a}


async def test_a_stored_report_that_cannot_be_read_costs_its_reply_not_the_others(ack_gateway, providers):
    gateway = await ack_gateway()

    def unreadable(conn):  # e.g. stored by a version with another schema
        conn.execute("INSERT INTO reports (id, tracking_code, channel, inbound_address, message_id, kind, routing_key,"
                     " payload, received_at, state) VALUES ('01M85B0000000000000000000Y', 'LPR-2345678X', 'sms',"
                     " '1708', 'gone-1', 'complaint', 'report.x', ?, 0, 2)", (b'{"schema": "lapor.report/99"}',))

    await gateway.outbox.transact(unreadable)
    accepted = await gateway.intake.accept(CASES["generic"].raw("Lampu jalan mati di gang kenanga"))
    [got] = await eventually(lambda: providers.routes("generic"), what="the next report's acknowledgement")
    assert accepted.tracking_code in got.text
    assert [row["report_id"] for row in ack_rows(gateway)] == [accepted.id]
