"""Media by id through the Graph API: GET {api_url}/{media-id} gives a short-lived URL, whose
bytes are fetched with the same bearer token. Registered with the shared MediaFetcher."""

from __future__ import annotations

import json

import aiohttp

from gateway.media import Fetched, PermanentMediaError, RetryableMediaError, download_bytes

_METADATA_LIMIT = 65536


class GraphMedia:
    def __init__(self, api_url: str, access_token: str, max_bytes: int, request_timeout: float = 60.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {access_token}"}
        self.max_bytes = max_bytes
        self.timeout = aiohttp.ClientTimeout(total=request_timeout)

    async def fetch(self, remote_ref: str) -> Fetched:
        if not remote_ref or "/" in remote_ref or remote_ref in (".", ".."):
            raise PermanentMediaError("not a WhatsApp media id")
        # A session per fetch: media are few, and nothing has to be closed at shutdown.
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            metadata, _ = await download_bytes(
                session, f"{self.api_url}/{remote_ref}", headers=self.headers, max_bytes=_METADATA_LIMIT)
            try:
                described = json.loads(metadata)
                url = described["url"]
            except (ValueError, KeyError, TypeError):
                raise RetryableMediaError("the Graph API answered without a media url") from None
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise PermanentMediaError("the Graph API gave no usable media url")
            data, content_type = await download_bytes(session, url, headers=self.headers, max_bytes=self.max_bytes)
        mime = described.get("mime_type")
        return data, mime if isinstance(mime, str) else content_type, None
