"""/openapi.json describes every route the server has, and schemathesis finds no server error."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from openapi_spec_validator import validate

from tests.conftest import base_url

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


async def test_schemathesis_finds_no_server_error_and_gateway_keeps_serving(make_gateway, http):
    gateway = await make_gateway()
    url = base_url(gateway)
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("schemathesis")), "run", f"{url}/openapi.json",
        "--checks", "not_a_server_error", "--max-examples", "60", "--request-timeout", "10",
        "--generation-deterministic", "--no-color",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-4000:]
    assert "Server error" not in text
    async with http.get(f"{url}/healthz") as response:
        assert response.status == 200
