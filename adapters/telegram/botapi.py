"""A small Bot API client on aiohttp: the few methods the gateway calls, pointed at ``api_url``.

The token is part of every URL, so nothing here logs or raises with a URL in it.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp


class BotApiError(Exception):
    """A failed call; ``retry_after`` is Telegram's flood-control wait, when it gave one."""

    def __init__(self, method: str, reason: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"{method}: {reason}")
        self.method, self.reason, self.status, self.retry_after = method, reason, status, retry_after


class BotApi:
    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._session: aiohttp.ClientSession | None = None

    def file_url(self, file_path: str) -> str:
        return f"{self.api_url}/file/bot{self._token}/{file_path.lstrip('/')}"

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(raise_for_status=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        """POST a method with JSON parameters; the ``result`` on ok, else BotApiError."""
        url = f"{self.api_url}/bot{self._token}/{method}"
        try:
            async with self.session.post(url, json=params or {},
                                         timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                status = response.status
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise BotApiError(method, f"request failed: {type(error).__name__}") from None
        try:
            answer = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BotApiError(method, f"HTTP {status}, not a JSON answer", status) from None
        if not isinstance(answer, dict):
            raise BotApiError(method, f"HTTP {status}, unexpected answer", status)
        if answer.get("ok") is not True:
            parameters = answer.get("parameters")
            retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
            description = str(answer.get("description", ""))[:200]
            raise BotApiError(method, f"HTTP {status} {description}".strip(), status,
                              float(retry_after) if isinstance(retry_after, int | float) else None)
        return answer.get("result")
