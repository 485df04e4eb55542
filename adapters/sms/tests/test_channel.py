"""The SMS routes: documented in /openapi.json, present only for configured providers."""

from __future__ import annotations

from pathlib import Path

from openapi_spec_validator import validate

from adapters.sms.tests.support import KANNEL_TOKEN, sms_config
from tests.conftest import base_url
from tests.support.fuzz import assert_no_server_error

ROOT = Path(__file__).parents[3]


async def test_every_provider_route_is_documented_with_its_errors(make_gateway, http):
    gateway = await make_gateway(**sms_config())
    async with http.get(base_url(gateway) + "/openapi.json") as response:
        document = await response.json()
    validate(document)
    paths = document["paths"]
    methods = {provider: sorted(paths[f"/webhooks/sms/{provider}"]) for provider in
               ("twilio", "vonage", "kannel", "generic")}
    assert methods == {"twilio": ["get", "post"], "vonage": ["get", "post"], "kannel": ["get", "post"],
                       "generic": ["get", "post"]}
    for provider, verbs in methods.items():
        for verb in verbs:
            responses = paths[f"/webhooks/sms/{provider}"][verb]["responses"]
            assert {"400", "403", "413", "422", "503"} <= set(responses)
            assert any(status.startswith("2") for status in responses)


async def test_only_configured_providers_are_routed(make_gateway, http, queue_reader):
    gateway = await make_gateway(channels={"web": {"enabled": False},
                                           "sms": {"short_code": "1708", "kannel": {"token": KANNEL_TOKEN}}})
    async with http.post(base_url(gateway) + "/webhooks/sms/twilio", data={"From": "+6281234567890"}) as response:
        assert response.status == 404
        assert response.content_type == "application/json"
    async with http.get(f"{base_url(gateway)}/webhooks/sms/kannel?token={KANNEL_TOKEN}&sender=0812&text=") as r:
        assert r.status == 200  # an empty SMS is still what a citizen sent: stored, not retried forever
    [message] = await queue_reader.take(1)
    assert message.routing_key == "report.unassigned.complaint.sms"


async def test_fuzzed_sms_requests_never_get_a_server_error(make_gateway, http):
    config = sms_config()
    config["channels"]["sms"]["generic"] = {"token": KANNEL_TOKEN}  # one header authenticates both token providers
    gateway = await make_gateway(**config)
    await assert_no_server_error(
        base_url(gateway), "--include-path-regex", "^/webhooks/sms/", "-H", f"Authorization: Bearer {KANNEL_TOKEN}",
        max_examples=40,
    )
