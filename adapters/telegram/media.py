"""Telegram files for the shared MediaFetcher: getFile names the file, then its bytes are downloaded.

getFile answers "Bad Request" for an unknown file id and for files over the Bot API's 20 MB
download limit: trying again cannot help. Flood control (429), server errors and network
failures are worth another attempt.
"""

from __future__ import annotations

import posixpath

from adapters.telegram.botapi import BotApi, BotApiError
from gateway.media import Fetched, MediaTooLarge, PermanentMediaError, RetryableMediaError, download_bytes


class TelegramMediaSource:
    def __init__(self, api: BotApi, max_bytes: int) -> None:
        self.api = api
        self.max_bytes = max_bytes

    async def fetch(self, remote_ref: str) -> Fetched:
        try:
            file = await self.api.call("getFile", {"file_id": remote_ref})
        except BotApiError as error:
            if error.status is not None and 400 <= error.status < 500 and error.status != 429:
                raise PermanentMediaError(f"Telegram getFile: {error.reason}") from None
            raise RetryableMediaError(f"Telegram getFile: {error.reason}") from None
        file_path = file.get("file_path") if isinstance(file, dict) else None
        if not isinstance(file_path, str) or not file_path:
            raise RetryableMediaError("Telegram getFile gave no file_path")
        size = file.get("file_size")
        if isinstance(size, int) and size > self.max_bytes:
            raise MediaTooLarge(f"larger than {self.max_bytes} bytes")
        data, content_type = await download_bytes(self.api.session, self.api.file_url(file_path),
                                                  max_bytes=self.max_bytes)
        return data, content_type, posixpath.basename(file_path) or None
