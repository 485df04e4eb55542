"""Through a real channel webhook: the SMS gateway's callback gets its answer, the citizen gets the code by SMS."""

from __future__ import annotations

import asyncio

from tests.acks.conftest import acks_config, eventually
from tests.acks.standin import GENERIC_TOKEN
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
