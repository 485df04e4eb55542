"""The form over plain HTTP, as a browser without JavaScript uses it: fields to the queue, languages, links."""

from __future__ import annotations

import csv
import gzip
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.web.tests.conftest import CODE, TESTDATA, FormClient, sample, stored_files
from tests.conftest import base_url
from tests.support.garbage import cyclic_garbage

FULL = {
    "kind": "information_request", "subject": "Jadwal posyandu", "body": "Kapan jadwal posyandu\r\nbulan depan?",
    "name": "Siti Rahma", "phone": "0812-3456-7890", "email": "Siti@Contoh.ID", "anonymous": "1",
    "confidential": "1", "address": "Jl. Melati 5, Bandung", "latitude": "-6.914744", "longitude": "107.609810",
}


@pytest.mark.parametrize("multipart", [True, False], ids=["multipart", "urlencoded"])
async def test_every_field_reaches_the_queue(form_client: FormClient, queue_reader, gateway, multipart):
    answer = await form_client.submit(FULL, multipart=multipart)
    page = await form_client.follow(answer)
    code = page.text_of("#tracking-code")
    assert CODE.fullmatch(code)

    [report] = (await queue_reader.take(1), queue_reader.bodies())[1]
    assert report["tracking_code"] == code
    assert report["channel"] == "web" and report["source"]["provider"] == "form"
    assert report["source"]["message_id"] == f"form:{form_client.hidden['submission_id']}"
    assert report["kind"] == "information_request"
    assert report["subject"] == "Jadwal posyandu"
    assert report["body"] == "Kapan jadwal posyandu\nbulan depan?"
    reporter = report["reporter"]
    assert (reporter["name"], reporter["phone"]) == ("Siti Rahma", "+6281234567890")
    assert reporter["email"] == "siti@contoh.id"
    assert reporter["identity"] == "tel:+6281234567890"
    assert reporter["anonymous"] is True and reporter["confidential"] is True
    assert report["location"] == {"latitude": -6.914744, "longitude": 107.60981, "address": "Jl. Melati 5, Bandung",
                                  "source": "gps"}
    assert report["raw"]["content_type"] == "application/x-www-form-urlencoded"


async def test_minimal_report_is_an_anonymous_complaint(form_client: FormClient, queue_reader):
    await form_client.follow(await form_client.submit({"body": "Lampu jalan mati"}))
    [report] = (await queue_reader.take(1), queue_reader.bodies())[1]
    assert report["kind"] == "complaint"
    assert report["reporter"]["identity"] == "web:anonymous"
    assert report["location"] is None and report["attachments"] == []


PHONES = list(csv.DictReader((TESTDATA / "phone-id.tsv").open(encoding="utf-8"), delimiter="\t"))


async def test_phone_is_normalised_like_sms(form_client: FormClient, queue_reader):
    expected = {}
    for row in PHONES:
        await form_client.open()  # a fresh render: a fresh submission id
        answer = await form_client.submit({"body": f"Nomor {row['input']}", "phone": row["input"]})
        assert answer.status == 303, (row, answer.summary())
        expected[f"form:{form_client.hidden['submission_id']}"] = row["e164"]
    await queue_reader.take(len(PHONES))
    got = {report["source"]["message_id"]: report["reporter"]["phone"] for report in queue_reader.bodies()}
    assert got == expected


async def test_a_resubmission_is_an_exact_duplicate_with_the_same_code(form_client: FormClient, queue_reader):
    first = await form_client.submit({"body": "Sampah menumpuk di pasar"})
    second = await form_client.submit({"body": "Sampah menumpuk di pasar"})  # the double click
    assert first.status == second.status == 303
    assert first.headers["Location"] == second.headers["Location"]
    await queue_reader.take(1)
    assert len(await queue_reader.settle(1.0)) == 1


async def test_input_is_escaped_when_shown_again(form_client: FormClient, gateway):
    hostile = '<script>alert("x")</script>" onfocus="alert(1)'
    answer = await form_client.submit({"body": hostile, "subject": hostile, "phone": "12"})
    assert answer.status == 422
    assert "<script>alert" not in answer.text and 'onfocus="alert' not in answer.text
    assert answer.value("body") == hostile and answer.value("subject") == hostile
    assert gateway.outbox.status().total == 0


@pytest.mark.parametrize(
    ("path", "accept_language", "lang"),
    [
        ("/", None, "id"),
        ("/", "en-US,en;q=0.9", "en"),
        ("/", "id-ID,id;q=0.9,en;q=0.8", "id"),
        ("/", "fr;q=1, en;q=0.5, id;q=0.4", "en"),
        ("/", "en;q=0", "id"),
        ("/?lang=en", "id", "en"),
        ("/?lang=id", "en-GB", "id"),
        ("/?lang=xx", "en", "en"),
    ],
)
async def test_language_from_query_then_accept_language(form_client: FormClient, path, accept_language, lang):
    answer = await form_client.open(path, headers={"Accept-Language": accept_language} if accept_language else None)
    assert answer.attribute("html", "lang") == lang
    assert answer.headers["Content-Language"] == lang
    other = "en" if lang == "id" else "id"
    assert answer.attribute("#lang-switch", "hreflang") == other
    assert parse_qs(urlsplit(answer.attribute("#lang-switch", "href")).query)["lang"] == [other]
    assert answer.value("lang") == lang


async def test_errors_are_in_the_citizens_language(form_client: FormClient):
    await form_client.open("/?lang=en")
    answer = await form_client.submit({"body": " ", "email": "nope"})
    assert answer.attribute("html", "lang") == "en"
    assert answer.summary() == ["Describe what happened.",
                                "This is not a valid email address. For example: name@example.id."]
    assert answer.text_of("title").startswith("Error: ")


async def test_the_page_is_small_self_contained_and_locked_down(form_client: FormClient, http, gateway):
    async with http.get(base_url(gateway) + "/", headers={"Accept-Encoding": "identity"}) as response:
        page = await response.read()
        headers = response.headers
    assert len(page) < 24_000, len(page)
    assert len(gzip.compress(page)) < 7_000
    # No CDN, font, tracker or any other origin: nothing is loaded from anywhere but this page.
    assert not re.search(rb"""(src|href|action)=["']?(https?:)?//""", page)
    assert b"@import" not in page and b"url(" not in page
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp and "form-action 'self'" in csp
    assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("lapor_csrf=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    async with http.get(base_url(gateway) + "/", headers={"Accept-Encoding": "gzip"}) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert (await response.text()).startswith("<!doctype html>")
    # A page that echoes the citizen's input next to the token is never compressed (BREACH).
    refused = await form_client.submit({"body": ""}, headers={"Accept-Encoding": "gzip"})
    assert refused.status == 422 and "Content-Encoding" not in refused.headers


async def test_confirmation_link_is_signed(form_client: FormClient, gateway):
    answer = await form_client.submit({"body": "Air PDAM keruh"})
    location = answer.headers["Location"]
    good = await form_client.open(location)
    assert good.status == 200 and CODE.fullmatch(good.text_of("#tracking-code"))
    assert "3 hari kerja" in good.text_of("ol")  # the service standard: verification within 3 working days
    forged = re.sub(r"code=LPR-[A-Z0-9]+", "code=LPR-ABCDEFGH", location)
    bad = await form_client.open(forged)
    assert bad.status == 404 and bad.soup.find(id="tracking-code") is None


async def test_openapi_documents_the_form_routes(http, gateway):
    async with http.get(base_url(gateway) + "/openapi.json") as response:
        paths = (await response.json())["paths"]
    post = paths["/"]["post"]
    assert set(post["requestBody"]["content"]) == {"multipart/form-data", "application/x-www-form-urlencoded"}
    assert {"303", "400", "403", "413", "422", "429", "503"} <= set(post["responses"])
    assert "get" in paths["/"] and "get" in paths["/submitted"]


async def test_attachments_are_stored_by_content(form_client: FormClient, queue_reader, gateway):
    files = [("pothole.png", sample("pothole.png"), "image/png"),
             ("surat", sample("letter.pdf"), "application/octet-stream")]  # no extension: the bytes decide
    await form_client.follow(await form_client.submit({"body": "Foto jalan rusak"}, files))
    [report] = (await queue_reader.take(1), queue_reader.bodies())[1]
    assert [(item["filename"], item["content_type"], item["status"]) for item in report["attachments"]] == [
        ("pothole.png", "image/png", "stored"), ("surat", "application/pdf", "stored")]
    assert len(stored_files(gateway)) == 2


async def test_an_accepted_submission_leaves_no_reference_cycle_behind(form_client: FormClient, queue_reader):
    # A redirect raised as an exception held the whole request in a cycle through its traceback.
    with cyclic_garbage() as found:
        for index in range(3):
            await form_client.open()
            answer = await form_client.submit({"body": f"Lampu jalan mati nomor {index}"})
            assert answer.status == 303
    assert not found
