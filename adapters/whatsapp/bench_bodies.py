"""Pre-signed WhatsApp webhook bodies for bench/lua/whatsapp.lua (wrk's Lua has no HMAC).

    .venv/bin/python -m adapters.whatsapp.bench_bodies --secret APP_SECRET --count 200000 --out /tmp/wa-bodies.txt

One request per line: ``<X-Hub-Signature-256 value> <compact JSON body>``. Every body is a real
Cloud API text-message shape with its own wamid (a random run prefix, so a second run against the
same outbox is not a wall of exact duplicates) and one of a few Indonesian reporters.
"""

from __future__ import annotations

import argparse
import json
import secrets
from pathlib import Path

from adapters.whatsapp.webhook import signature_for

TEXTS = [
    "Jalan berlubang besar di depan SDN 3, sudah dua minggu belum diperbaiki",
    "Lampu penerangan jalan mati sepanjang Jl. Merdeka sejak kemarin malam",
    "Sampah menumpuk di pasar induk, baunya sampai ke pemukiman #sampah",
    "Banjir setinggi lutut di Dayeuhkolot, mohon segera ditangani #banjir",
]


def body(index: int, run: str, phone_number_id: str) -> bytes:
    wa_id = f"62812{index % 10_000_000:07d}"  # spreads the load over many reporter identities
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Warga Bench"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": f"wamid.bench-{run}-{index}", "timestamp": "1749416383",
                          "type": "text", "text": {"body": f"{TEXTS[index % len(TEXTS)]} ({index})"}}]}}]}]}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--secret", required=True, help="[channels.whatsapp] app_secret of the gateway under test")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--phone-number-id", default="106540352242922")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    run = secrets.token_hex(4)
    with args.out.open("wb") as out:
        for index in range(args.count):
            data = body(index, run, args.phone_number_id)
            out.write(signature_for(args.secret, data).encode() + b" " + data + b"\n")
    print(f"{args.count} signed bodies (run {run}) in {args.out}")


if __name__ == "__main__":
    main()
