"""structlog set-up: JSON lines for operators, with citizens' data masked before rendering.

Phone numbers, email addresses and message text are personal data; an operator needs to see
that a report came in and where it went, never what it said or who sent it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

from gateway.config import LoggingConfig

# Keys whose values are citizens' words or contact details: replaced wholesale.
TEXT_KEYS = frozenset({"body", "text", "subject", "message_text", "caption", "description", "name"})
PHONE_RE = re.compile(r"(?<![\w.])(\+?\d[\d\s()-]{6,}\d)(?![\w.])")
EMAIL_RE = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
SECRET_KEYS = frozenset({"password", "token", "auth_token", "secret", "app_secret", "access_token"})
# Values the gateway chose itself (ids, codes, enum values, provider names): never personal data.
CODE_KEYS = frozenset({"report_id", "tracking_code", "timestamp", "level", "logger", "channel", "provider",
                       "kind", "urgency"})
_DIGIT = re.compile(r"\d")
_lowest_written = logging.NOTSET  # the configured level (structlog unconfigured writes every level)


def writes_at(level: int) -> bool:
    """Whether a line at ``level`` is written: a hot path then skips making one that is dropped."""
    return level >= _lowest_written


def mask_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if len(digits) < 6:
        return "***"
    return f"{'+' if value.strip().startswith('+') else ''}{digits[:3]}***{digits[-2:]}"


def mask_email(value: str) -> str:
    return EMAIL_RE.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", value)


def mask_string(value: str) -> str:
    # Each pattern needs a character most log values lack: a scan for it costs far less than the
    # pattern's own search.
    if "@" in value:
        value = mask_email(value)
    if _DIGIT.search(value) is None:
        return value
    return PHONE_RE.sub(lambda m: mask_phone(m.group(1)), value)


def _mask_value(key: str, value: Any) -> Any:
    if key in SECRET_KEYS:
        return "[secret]"
    if key in TEXT_KEYS and isinstance(value, str):
        return f"[{len(value)} chars]"
    if isinstance(value, str):
        return mask_string(value)
    if isinstance(value, dict):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(key, v) for v in value]
    return value


def mask_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: masks every field but the report/tracing ids."""
    for key, value in list(event_dict.items()):
        if key in CODE_KEYS:
            continue
        event_dict[key] = _mask_value(key, value)
    return event_dict


def _json_line(event: Any, default: Any = repr, **_options: Any) -> str:
    """One log line's JSON, by orjson: the stdlib encoder was a quarter of a log line's cost."""
    try:
        return orjson.dumps(event, default=default, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson refuses (an integer beyond 64 bits) must not cost the line
        return json.dumps(event, default=default)


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    # sys.stderr is looked up when a logger is made, not once at configuration: whoever replaced
    # it since (a supervisor's redirect, a test's capture) gets the lines, never a closed stream.
    return structlog.PrintLogger(sys.stderr)


def configure_logging(config: LoggingConfig) -> None:
    global _lowest_written
    level = getattr(logging, config.level.upper())
    _lowest_written = level
    console = config.format == "console" or (config.format == "auto" and sys.stderr.isatty())
    renderer: Any = (structlog.dev.ConsoleRenderer() if console
                     else structlog.processors.JSONRenderer(serializer=_json_line))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_personal_data,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    # Libraries (aiohttp, aio-pika) log through stdlib logging; keep their noise at warning.
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stderr, format="%(name)s %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
