"""Near-duplicates through the real gateway: JSON API in, RabbitMQ out, state in the outbox DB."""

from __future__ import annotations

import json

from tests.conftest import base_url

FIRST = (
    "Selamat pagi Pak/Bu. Saya mau lapor jalan di depan SDN 3 Jl. Merdeka berlubang besar, sudah 2 minggu "
    "tidak diperbaiki dan sudah ada 2 motor jatuh. Mohon segera ditindaklanjuti. Terima kasih."
)
RESEND = (
    "sy mau lapor jln di dpn SDN 3 jl merdeka berlubang besar sdh 2 mgg tdk diperbaiki dan sdh ada 2 motor "
    "jatuh!! mhn segera ditindaklanjuti 🙏"
)


async def post(http, gateway, payload, key):
    async with http.post(f"{base_url(gateway)}/v1/reports", json=payload, headers={"Idempotency-Key": key}) as r:
        assert r.status == 202, await r.text()
        return await r.json()


async def test_resend_by_same_phone_is_published_as_duplicate_and_other_phone_shares_the_cluster(
    make_gateway, http, queue_reader
):
    gateway = await make_gateway(routing={"default_agency": "pemkot-bandung"})
    first = await post(http, gateway, {"body": FIRST, "phone": "0812-3456-7890"}, "a-1")
    await queue_reader.take(1)  # committed and published before the resend arrives
    resend = await post(http, gateway, {"body": RESEND, "phone": "+62 812 3456 7890"}, "a-2")
    other = await post(http, gateway, {"body": FIRST, "phone": "0813-9999-0000"}, "b-1")
    messages = await queue_reader.take(3)
    by_id = {json.loads(m.body)["id"]: (m.routing_key, json.loads(m.body)) for m in messages}

    key, report = by_id[first["id"]]
    assert key == "report.pemkot-bandung.complaint.web"
    assert report["dedup"]["duplicate_of"] is None
    assert report["dedup"]["cluster"] == first["id"]  # founds its cluster

    key, report = by_id[resend["id"]]
    assert key == "duplicate.pemkot-bandung.complaint.web"
    assert report["dedup"]["duplicate_of"] == first["id"]
    assert report["dedup"]["similarity"] >= 0.8
    assert report["dedup"]["cluster"] == first["id"]
    assert report["body"] == RESEND  # the citizen's words as sent

    key, report = by_id[other["id"]]
    assert key == "report.pemkot-bandung.complaint.web"
    assert report["dedup"]["duplicate_of"] is None
    assert report["dedup"]["cluster"] == first["id"]


async def test_phone_and_email_on_one_report_link_a_later_email_only_resend(make_gateway, http, queue_reader):
    gateway = await make_gateway()
    first = await post(http, gateway, {"body": FIRST, "phone": "081234567890", "email": "siti@example.id"}, "c-1")
    await queue_reader.take(1)
    by_mail = await post(http, gateway, {"body": RESEND, "email": "Siti@Example.ID"}, "c-2")
    stranger = await post(http, gateway, {"body": RESEND, "email": "budi@example.id"}, "c-3")
    reports = {json.loads(m.body)["id"]: json.loads(m.body) for m in await queue_reader.take(3)}
    assert reports[by_mail["id"]]["dedup"]["duplicate_of"] == first["id"]
    assert reports[stranger["id"]]["dedup"]["duplicate_of"] is None
    assert reports[stranger["id"]]["dedup"]["cluster"] == first["id"]


async def test_a_phone_linked_to_an_email_later_finds_the_phone_only_report_by_the_email(
    make_gateway, http, queue_reader
):
    # A handle that was never linked has no alias row of its own: linking it later must still
    # bring its earlier reports to the person.
    gateway = await make_gateway()
    first = await post(http, gateway, {"body": FIRST, "phone": "081234567890"}, "g-1")
    await queue_reader.take(1)
    await post(http, gateway, {"body": "Lampu jalan di Gang Melati 4 mati sejak seminggu, warga takut keluar "
                                       "malam.", "phone": "081234567890", "email": "siti@example.id"}, "g-2")
    await queue_reader.take(2)
    by_mail = await post(http, gateway, {"body": RESEND, "email": "siti@example.id"}, "g-3")
    report = json.loads((await queue_reader.take(3))[-1].body)
    assert report["id"] == by_mail["id"] and report["dedup"]["duplicate_of"] == first["id"]


async def test_index_is_rebuilt_from_the_store_after_a_restart(make_gateway, http, queue_reader):
    gateway = await make_gateway()
    first = await post(http, gateway, {"body": FIRST, "phone": "081234567890"}, "d-1")
    await queue_reader.take(1)
    await gateway.stop()
    restarted = await make_gateway()
    resend = await post(http, restarted, {"body": RESEND, "phone": "081234567890"}, "d-2")
    other = await post(http, restarted, {"body": RESEND, "phone": "081311112222"}, "d-3")
    reports = {json.loads(m.body)["id"]: json.loads(m.body) for m in await queue_reader.take(3)}
    assert reports[resend["id"]]["dedup"]["duplicate_of"] == first["id"]
    assert reports[other["id"]]["dedup"]["cluster"] == first["id"]  # found through the rebuilt LSH index


async def test_a_link_made_before_a_restart_still_finds_a_resend_by_the_other_handle(make_gateway, http, queue_reader):
    gateway = await make_gateway()
    first = await post(http, gateway, {"body": FIRST, "phone": "081234567890", "email": "siti@example.id"}, "e-1")
    await queue_reader.take(1)
    await gateway.stop()
    restarted = await make_gateway()
    by_mail = await post(http, restarted, {"body": RESEND, "email": "siti@example.id"}, "e-2")
    report = json.loads((await queue_reader.take(2))[-1].body)
    assert report["id"] == by_mail["id"] and report["dedup"]["duplicate_of"] == first["id"]


async def test_short_template_texts_are_never_linked(make_gateway, http, queue_reader):
    gateway = await make_gateway()
    for index in range(3):
        await post(http, gateway, {"body": "Lampu mati!!", "phone": "081234567890"}, f"e-{index}")
    reports = [json.loads(m.body) for m in await queue_reader.take(3)]
    assert all(r["dedup"]["duplicate_of"] is None for r in reports)
    assert all(r["dedup"]["cluster"] is None for r in reports)
    assert len({r["dedup"]["fingerprint"] for r in reports}) == 1


async def test_a_first_time_sender_costs_no_store_query(make_gateway, http, queue_reader):
    # On the event loop's thread a query hands the GIL to the outbox writer and waits to win it
    # back; most senders are new, and a new sender has nothing to resend.
    gateway = await make_gateway()
    statements: list[str] = []
    gateway.dedup._reader.set_trace_callback(statements.append)
    first = await post(http, gateway, {"body": FIRST, "phone": "0812-3456-7890"}, "d-1")
    assert statements == []
    await queue_reader.take(1)
    resend = await post(http, gateway, {"body": RESEND, "phone": "+62 812 3456 7890"}, "d-2")
    assert any("FROM dedup_entries" in statement for statement in statements)
    reports = {json.loads(m.body)["id"]: json.loads(m.body) for m in await queue_reader.take(2)}
    assert reports[resend["id"]]["dedup"]["duplicate_of"] == first["id"]


async def test_a_known_senders_next_report_costs_no_store_query(make_gateway, http, queue_reader):
    # A sender on one handle (most citizens) has its latest entries in memory after the store has
    # answered for it once; test_dedup_properties holds those answers to the store's.
    gateway = await make_gateway()
    first = await post(http, gateway, {"body": FIRST, "phone": "0812-3456-7890"}, "k-1")
    await queue_reader.take(1)
    other = await post(http, gateway, {"body": "Lampu jalan di Gang Melati 4 mati sejak seminggu, warga takut "
                                               "keluar malam.", "phone": "0812-3456-7890"}, "k-2")
    await queue_reader.take(2)
    statements: list[str] = []
    gateway.dedup._reader.set_trace_callback(statements.append)
    resend = await post(http, gateway, {"body": RESEND, "phone": "+62 812 3456 7890"}, "k-3")
    assert statements == []
    reports = {json.loads(m.body)["id"]: json.loads(m.body) for m in await queue_reader.take(3)}
    assert reports[resend["id"]]["dedup"]["duplicate_of"] == first["id"]
    assert reports[other["id"]]["dedup"]["duplicate_of"] is None


async def test_a_report_of_the_same_event_is_checked_against_the_latest_entries_without_a_query(
        make_gateway, http, queue_reader):
    # An event's reports come in a burst: the latest entries' texts are at hand in memory. After a
    # restart they are read from the store (test_index_is_rebuilt_from_the_store_after_a_restart).
    gateway = await make_gateway()
    first = await post(http, gateway, {"body": FIRST, "phone": "081234567890"}, "f-1")
    await queue_reader.take(1)
    statements: list[str] = []
    gateway.dedup._reader.set_trace_callback(statements.append)
    other = await post(http, gateway, {"body": "Lokasinya dekat pasar baru. " + FIRST, "phone": "081311112222"}, "f-2")
    reports = {json.loads(m.body)["id"]: json.loads(m.body) for m in await queue_reader.take(2)}
    assert reports[other["id"]]["dedup"]["cluster"] == first["id"]
    assert statements == []
