"""Hostile and broken submissions: a clear error on the form, the citizen's words kept, nothing stored."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import aiohttp
import pytest

from adapters.web.tests.conftest import Answer, FormClient, sample, stored_files
from tests.conftest import base_url

TYPED = {"subject": "Pungutan liar", "body": "Petugas meminta uang tambahan di loket KTP.", "name": "Budi",
         "kind": "aspiration", "confidential": "1"}
PNG = ("pothole.png", sample("pothole.png"), "image/png")


@pytest.fixture
def web_config():
    return {"max_form_bytes": 200_000, "max_files": 2, "max_file_bytes": 60_000, "rate_limit": 0}


async def post_raw(form: FormClient, body: bytes, content_type: str) -> Answer:
    async with form.session.post(form.base + "/", data=body, headers={"Content-Type": content_type},
                                 allow_redirects=False) as response:
        return Answer(response.status, response.headers, await response.text())


def multipart_body(form: FormClient, boundary: str, text: bytes) -> bytes:
    fields = {**form.hidden, "website": ""}
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="body"\r\n\r\n'.encode() + text + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


CASES = [
    # (name, how to send it, status, words in the error summary, words in the field error (field, words))
    ("oversized body", {"files": [("big.png", sample("pothole.png") + b"\0" * 250_000, "image/png")]}, 413,
     "terlalu besar", None),
    ("too many files", {"files": [PNG, PNG, PNG]}, 422, "Terlalu banyak berkas", ("attachments", "paling banyak 2")),
    ("file over the cap", {"files": [("huge.png", sample("pothole.png") + b"\0" * 70_000, "image/png")]}, 422,
     "huge.png", ("attachments", "lebih besar dari")),
    ("a .jpg that is an exe", {"files": [("photo.jpg", sample("photo.jpg"), "image/jpeg")]}, 422,
     "photo.jpg", ("attachments", "bukan foto atau PDF")),
    ("an empty file", {"files": [("kosong.pdf", b"", "application/pdf")]}, 422, "kosong.pdf", None),
    ("bad CSRF token", {"override": {"csrf_token": "1.2.3"}}, 403, "terlalu lama terbuka", None),
    ("CSRF token of another cookie", {"override": {"csrf_token": "forged"}, "drop_cookie": True}, 403,
     "tidak sah", None),
    ("honeypot filled", {"override": {"website": "http://spam.example"}}, 422, "otomatis", None),
    ("no submission id", {"override": {"submission_id": ""}}, 400, "tidak lengkap", None),
    ("text over its limit", {"override": {"subject": "x" * 301}}, 422, "paling banyak 300", ("subject", "300")),
    ("bad latitude", {"override": {"latitude": "utara", "longitude": "107.6"}}, 422, "angka", ("latitude", "angka")),
    ("latitude out of range", {"override": {"latitude": "-91", "longitude": "107.6"}}, 422, "-90",
     ("latitude", "-90")),
    ("latitude without longitude", {"override": {"latitude": "-6.9"}}, 422, "garis bujur", ("longitude", "bujur")),
    ("unknown kind", {"override": {"kind": "pujian"}}, 422, "jenis laporan", ("kind", "jenis")),
]


@pytest.mark.parametrize(("name", "how", "status", "summary_words", "field_error"), CASES, ids=[c[0] for c in CASES])
async def test_refused_submission_keeps_input_and_stores_nothing(
    form_client: FormClient, gateway, queue_reader, name, how, status, summary_words, field_error
):
    if how.get("drop_cookie"):
        form_client.session.cookie_jar.clear()
    answer = await form_client.submit(TYPED, how.get("files", ()), override=how.get("override"))
    assert answer.status == status, answer.summary()
    assert answer.headers["Content-Type"].startswith("text/html")
    assert any(summary_words in item for item in answer.summary()), answer.summary()
    if field_error:
        field, words = field_error
        assert words in (answer.field_error(field) or ""), answer.field_error(field)
        assert answer.soup.find(id=f"{'kind-complaint' if field == 'kind' else field}") is not None
    sent = {**TYPED, **how.get("override", {})}
    for field in ("subject", "body", "name"):
        assert answer.value(field) == sent[field], field
    assert answer.soup.select_one("#confidential[checked]") is not None
    assert answer.soup.select_one("#anonymous[checked]") is None
    if sent["kind"] == "aspiration":
        assert [radio["id"] for radio in answer.soup.select("input[name=kind][checked]")] == ["kind-aspiration"]
    assert answer.value("website") == ""  # the honeypot is never echoed back
    assert "Traceback" not in answer.text
    assert gateway.outbox.status().total == 0
    assert stored_files(gateway) == []
    # The refusal re-rendered a working form: the same words go through once the problem is gone.
    retry = await form_client.submit(TYPED)
    assert retry.status == 303, retry.summary()


async def test_nothing_refused_reaches_the_queue(form_client: FormClient, gateway, queue_reader):
    await form_client.submit(TYPED, [("photo.jpg", sample("photo.jpg"), "image/jpeg")])
    await form_client.submit(TYPED, override={"website": "spam"})
    await form_client.submit(TYPED, override={"csrf_token": "x"})
    accepted = await form_client.submit({"body": "yang ini sah"})
    assert accepted.status == 303
    await queue_reader.take(1)
    bodies = [report["body"] for report in (await queue_reader.settle(1.0), queue_reader.bodies())[1]]
    assert bodies == ["yang ini sah"]
    async with form_client.session.get(form_client.base + "/metrics") as response:
        metrics = await response.text()
    for reason in ("invalid_fields", "honeypot", "csrf"):
        assert f'lapor_requests_rejected_total{{channel="web",reason="{reason}"}} 1.0' in metrics


async def test_files_refused_with_the_form_are_asked_for_again(form_client: FormClient):
    answer = await form_client.submit(TYPED, [PNG], override={"csrf_token": "x"})
    assert answer.status == 403
    assert "silakan pilih lagi" in (answer.field_error("attachments") or "")
    assert any("silakan pilih lagi" in item for item in answer.summary())


@pytest.mark.parametrize("multipart", [True, False], ids=["multipart", "urlencoded"])
async def test_too_many_fields_is_refused(form_client: FormClient, gateway, multipart):
    fields = {f"extra{number}": "x" for number in range(120)}
    answer = await form_client.submit({**TYPED, **fields}, multipart=multipart)
    assert answer.status == 400 and answer.value("body") == TYPED["body"]
    assert gateway.outbox.status().total == 0


async def test_form_cap_is_its_own_not_the_json_body_cap(make_gateway, queue_reader):
    # [http] max_body_bytes caps JSON bodies; a form with photos needs more and has max_form_bytes.
    gateway = await make_gateway(http={"max_body_bytes": 65_536})
    photo = ("besar.png", sample("pothole.png") + b"\0" * 150_000, "image/png")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        form = FormClient(session, base_url(gateway))
        await form.open()
        answer = await form.submit({"body": "Foto besar"}, [photo])
    assert answer.status == 303, answer.summary()
    [report] = (await queue_reader.take(1), queue_reader.bodies())[1]
    assert report["attachments"][0]["size"] == len(photo[1])


@pytest.mark.parametrize("multipart", [True, False], ids=["multipart", "urlencoded"])
async def test_mis_encoded_text_is_a_field_error(form_client: FormClient, gateway, multipart):
    if multipart:
        boundary = "lapor-test-boundary"
        answer = await post_raw(form_client, multipart_body(form_client, boundary, b"jalan \xff\xfe rusak"),
                                f"multipart/form-data; boundary={boundary}")
    else:
        fields = urlencode({**form_client.hidden, "website": ""}) + "&body=jalan%20%FF%FE%20rusak"
        answer = await post_raw(form_client, fields.encode(), "application/x-www-form-urlencoded")
    assert answer.status == 422
    assert "tidak dapat dibaca" in (answer.field_error("body") or "")
    assert gateway.outbox.status().total == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"body": "x"}', "application/json", 400),
        (b"--nope\r\nbroken", "multipart/form-data; boundary=other", 400),
        (b"body=" + b"a" * 600_000, "application/x-www-form-urlencoded", 413),
    ],
    ids=["json to the form", "broken multipart", "urlencoded over its cap"],
)
async def test_unusable_bodies_get_the_form_back(form_client: FormClient, gateway, body, content_type, status):
    answer = await post_raw(form_client, body, content_type)
    assert answer.status == status
    assert answer.soup.find(id="error-summary") is not None and answer.soup.find("form") is not None
    assert gateway.outbox.status().total == 0


async def test_rate_limit_refuses_with_retry_after_and_keeps_input(make_gateway, queue_reader):
    gateway = await make_gateway(channels={"web": {"rate_limit": 2, "rate_limit_window": 600}})
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        form = FormClient(session, base_url(gateway))
        for number in range(2):
            await form.open()
            assert (await form.submit({"body": f"laporan {number}"})).status == 303
        await form.open()
        limited = await form.submit(TYPED)
    assert limited.status == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 601
    assert any("Tunggu 10 menit" in item for item in limited.summary()), limited.summary()
    assert limited.value("body") == TYPED["body"]
    await queue_reader.take(2)
    assert gateway.outbox.status().total == 2


async def test_outbox_down_is_a_503_with_the_input_kept(form_client: FormClient, gateway):
    await gateway.outbox.close()
    answer = await form_client.submit(TYPED)
    assert answer.status == 503
    assert any("belum tersimpan" in item for item in answer.summary())
    assert answer.value("body") == TYPED["body"]


async def test_csrf_token_expires_and_is_renewed_before(make_gateway):
    gateway = await make_gateway(channels={"web": {"csrf_ttl": 2}})
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        form = FormClient(session, base_url(gateway))
        await form.open()
        first = form.hidden["csrf_token"]
        await asyncio.sleep(1.2)  # past half its life: the next render gets a new cookie
        await form.open()
        assert form.hidden["csrf_token"] != first
        stale = await form.submit({"body": "laporan lama"}, override={"csrf_token": first})
        assert stale.status == 403  # the old token no longer matches the cookie
        await asyncio.sleep(2.1)
        expired = await form.submit({"body": "laporan lama"})
        assert expired.status == 403 and expired.value("body") == "laporan lama"
        assert (await form.submit({"body": "laporan lama"})).status == 303  # the re-rendered form works
    assert gateway.outbox.status().total == 1
