"""The operator's command line: run, check-config, schema, outbox status|replay."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Coroutine
from typing import Any

from gateway.config import CONFIG_ENV, Config, ConfigError, load_config
from gateway.logs import configure_logging
from schemas.report import report_json_schema_text


def _run_async(coroutine: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def cmd_run(config: Config, _args: argparse.Namespace) -> int:
    from gateway.daemon import serve

    _run_async(serve(config))
    return 0


def cmd_check_config(config: Config, args: argparse.Namespace) -> int:
    print(f"{args.file}: ok")
    return 0


def cmd_schema(_config: Config, _args: argparse.Namespace) -> int:
    sys.stdout.write(report_json_schema_text())
    return 0


def cmd_outbox_status(config: Config, args: argparse.Namespace) -> int:
    from gateway.outbox import Outbox

    if not config.storage.path.exists():
        print(f"no outbox at {config.storage.path}", file=sys.stderr)
        return 1
    status = Outbox(config.storage.path).status()
    age = None if status.oldest_unpublished_at is None else round(time.time() - status.oldest_unpublished_at, 1)
    summary = {
        "outbox": str(config.storage.path),
        "total": status.total,
        "unpublished": status.unpublished,
        "held": status.held,
        "oldest_unpublished_age_seconds": age,
        "unpublished_per_channel": status.per_channel,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0


def cmd_outbox_replay(config: Config, args: argparse.Namespace) -> int:
    from gateway.replay import replay

    published, left = _run_async(replay(config, timeout=args.timeout))
    print(f"published {published}; {left} still unpublished")
    return 0 if left == 0 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lapor-gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def with_config(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--config", metavar="FILE", help=f"config file (default: ${CONFIG_ENV}, else embedded defaults)"
        )
        return sub

    with_config(commands.add_parser("run", help="run the daemon")).set_defaults(handler=cmd_run)
    check = commands.add_parser("check-config", help="validate a config file and name the bad key")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(handler=cmd_check_config)
    commands.add_parser("schema", help="print the report JSON Schema").set_defaults(handler=cmd_schema)
    outbox = commands.add_parser("outbox", help="inspect or drain the outbox").add_subparsers(
        dest="outbox_command", required=True
    )
    status = with_config(outbox.add_parser("status", help="what is waiting to be published"))
    status.add_argument("--json", action="store_true", help="one JSON line")
    status.set_defaults(handler=cmd_outbox_status)
    replay = with_config(outbox.add_parser("replay", help="publish everything unpublished now"))
    replay.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    replay.set_defaults(handler=cmd_outbox_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.file if args.command == "check-config" else getattr(args, "config", None))
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2
    configure_logging(config.logging)
    return int(args.handler(config, args))


if __name__ == "__main__":
    sys.exit(main())
