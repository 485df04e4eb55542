"""Through the real channel webhooks: the channel gets its answer after the commit, the citizen the code."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

from tests.acks.conftest import PHONE_NUMBER_ID, acks_config, eventually
from tests.acks.standin import GENERIC_TOKEN, TELEGRAM_TOKEN, WHATSAPP_TOKEN
from tests.conftest import base_url


async def test_sms_webhook_to_acknowledgement(make_gateway, providers, smtp_sink, http):
    gateway = await make_gateway(
        channels={"sms": {"generic": {"token": "in-token", "send_url": f"{providers.url}/generic/send",
                                      "send_token": GENERIC_TOKEN}}},
        acks=acks_config(smtp_sink.port),
    )
    sms = {"from": "0812-3456-7890", "to": "1708", "id": "gw-msg-1", "text": "Lampu lalu lintas mati di simpang lima"}
    url = f"{base_url(gateway)}/webhooks/sms/generic"
    headers = {"Authorization": "Bearer in-token"}
    async with http.post(url, json=sms, headers=headers) as response:
        assert response.status == 200  # the adapter answers after the commit
        answer = await response.json()
    async with http.post(url, json=sms, headers=headers) as response:  # the SMS gateway retries its callback
        assert response.status == 200 and (await response.json())["status"] == "duplicate"
    [got] = await eventually(lambda: providers.routes("generic"), what="the acknowledgement SMS")
    assert answer["tracking_code"] in got.text
    assert (got.data["to"], got.data["from"]) == ("+6281234567890", "1708")
    await asyncio.sleep(0.5)
    assert len(providers.routes("generic")) == 1


async def test_whatsapp_webhook_to_acknowledgement(make_gateway, providers, smtp_sink, http):
    gateway = await make_gateway(
        channels={"whatsapp": {"verify_token": "v", "app_secret": "wa-app-secret", "access_token": WHATSAPP_TOKEN,
                               "api_url": providers.url}},
        acks=acks_config(smtp_sink.port),
    )
    wamid = "wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABIYFjNFQjBDMEZCRUE1"
    update = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "6281100001708", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Siti"}, "wa_id": "6281234567890"}],
            "messages": [{"from": "6281234567890", "id": wamid, "timestamp": "1763900000", "type": "text",
                          "text": {"body": "Sampah menumpuk di pinggir jalan raya sudah seminggu"}}]}}]}]}
    body = json.dumps(update).encode()
    signature = "sha256=" + hmac.new(b"wa-app-secret", body, hashlib.sha256).hexdigest()
    async with http.post(f"{base_url(gateway)}/webhooks/whatsapp", data=body,
                         headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature}) as response:
        assert response.status == 200
    [got] = await eventually(lambda: providers.routes("whatsapp"), what="the WhatsApp acknowledgement")
    with gateway.outbox.reader() as conn:
        [(code,)] = conn.execute("SELECT tracking_code FROM reports WHERE channel='whatsapp'").fetchall()
    assert code in got.text
    assert (got.data["phone_number_id"], got.data["to"]) == (PHONE_NUMBER_ID, "6281234567890")
    assert got.data["context"] == {"message_id": wamid}


async def test_telegram_webhook_to_acknowledgement(make_gateway, providers, smtp_sink, http):
    gateway = await make_gateway(
        channels={"telegram": {"bot_token": TELEGRAM_TOKEN, "secret_token": "tg-secret", "bot_username": "lapor_bot",
                               "api_url": providers.url}},
        acks=acks_config(smtp_sink.port),
    )
    update = {"update_id": 10001, "message": {
        "message_id": 42, "date": 1763900000, "chat": {"id": 5550001, "type": "private", "first_name": "Budi"},
        "from": {"id": 5550001, "is_bot": False, "first_name": "Budi"},
        "text": "Jembatan penyeberangan di depan sekolah sudah keropos dan berbahaya"}}
    async with http.post(f"{base_url(gateway)}/webhooks/telegram", json=update,
                         headers={"X-Telegram-Bot-Api-Secret-Token": "tg-secret"}) as response:
        assert response.status == 200
    [got] = await eventually(lambda: providers.routes("telegram"), what="the Telegram acknowledgement")
    with gateway.outbox.reader() as conn:
        [(code,)] = conn.execute("SELECT tracking_code FROM reports WHERE channel='telegram'").fetchall()
    assert code in got.text
    assert got.data["chat_id"] == 5550001 and got.data["reply_parameters"]["message_id"] == 42
