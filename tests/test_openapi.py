"""/openapi.json describes every route the server has, and schemathesis finds no server error."""

from __future__ import annotations

from pathlib import Path

from openapi_spec_validator import validate

from tests.conftest import base_url
from tests.support.fuzz import assert_no_server_error

ROOT = Path(__file__).parents[1]


async def test_openapi_is_valid_3_1_and_lists_every_route(make_gateway, http):
    gateway = await make_gateway()
    async with http.get(f"{base_url(gateway)}/openapi.json") as response:
        assert response.status == 200
        document = await response.json()
    assert document["openapi"].startswith("3.1")
    validate(document)
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in gateway.app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    documented = {(method, path) for path, operations in document["paths"].items() for method in operations}
    assert served == documented
    for (method, path) in documented:
        assert document["paths"][path][method]["responses"], f"{method} {path} has no responses"


async def test_schemathesis_finds_no_server_error_and_gateway_keeps_serving(make_gateway):
    gateway = await make_gateway()
    await assert_no_server_error(base_url(gateway))
