"""The issue's calibration: a hand-written aiohttp handler that awaits one confirmed publish per request.

No outbox, no normalizing, no dedup: what aiohttp plus aio-pika alone reach on this machine, so the
gateway's figure can be read against it in the same run. Speaks just enough of the gateway's
surface for bench/ingest.py: POST /v1/reports, /readyz and the accepted/published counters.

    python bench/calibration.py --port 8080 --url amqp://... --queue NAME
"""

from __future__ import annotations

import argparse
import asyncio

import aio_pika
import uvloop
from aiohttp import web


async def serve(port: int, url: str, queue_name: str) -> None:
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange(queue_name, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
    await queue.bind(exchange, "report.#")
    published = 0

    async def post_report(request: web.Request) -> web.Response:
        nonlocal published
        body = await request.read()
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                   message_id=request.headers.get("Idempotency-Key"), content_type="application/json")
        await exchange.publish(message, "report.calibration.complaint.web", mandatory=True)
        published += 1
        return web.json_response({"status": "published"}, status=202)

    async def ready(_request: web.Request) -> web.Response:
        return web.json_response({"broker": "connected"})

    async def metrics(_request: web.Request) -> web.Response:
        lines = [f'lapor_reports_{name}_total{{channel="web"}} {published}' for name in ("accepted", "published")]
        return web.Response(text="\n".join(lines) + "\n")

    app = web.Application()
    app.router.add_post("/v1/reports", post_report)
    app.router.add_get("/readyz", ready)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--queue", required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.url, args.queue))


if __name__ == "__main__":
    main()
