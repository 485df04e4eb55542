"""The Telegram background loop: learns the bot's username (getMe), and in polling mode drives
getUpdates itself.

The offset is what tells Telegram an update may be forgotten, so it moves only past updates
whose report is committed (or that need no report). PTB's Updater advances it as soon as an
update is queued for its handlers, and a crash then loses the update; hence this loop. The
offset is not stored locally: Telegram keeps unconfirmed updates for 24 hours, and after a
restart the first getUpdates without an offset returns them again (repeats are exact
duplicates). A locally stored offset would also go wrong when Telegram restarts update_id
at a random value after a week of silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from adapters.telegram.botapi import BotApi, BotApiError
from adapters.telegram.handler import TelegramIntake, validate_update
from gateway.http import RequestError
from gateway.tasks import cancel_and_wait

log = structlog.get_logger("telegram")

ALLOWED_UPDATES = ["message", "edited_message"]
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 30.0


class _Me(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: StrictInt
    username: str = Field(min_length=1)


class TelegramService:
    def __init__(self, telegram: TelegramIntake, api: BotApi, *, polling: bool, poll_timeout: int) -> None:
        self.telegram = telegram
        self.api = api
        self.polling = polling
        self.poll_timeout = poll_timeout
        self.offset: int | None = None  # next update_id to ask for; everything below it is committed
        self._task: asyncio.Task[None] | None = None
        self._batch: asyncio.Task[bool] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="telegram")

    async def stop(self) -> None:
        """Stop polling; a batch being committed finishes first, and its offset is confirmed."""
        if self._task is not None:
            await cancel_and_wait([self._task])
        if self._batch is not None and not self._batch.done():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await asyncio.shield(self._batch)
        if self.polling and self.offset is not None:
            # Confirms the committed updates now, so a restart does not fetch them again.
            with contextlib.suppress(BotApiError):
                await self.api.call("getUpdates", {"offset": self.offset, "limit": 1, "timeout": 0,
                                                   "allowed_updates": ALLOWED_UPDATES}, timeout=5)
        await self.api.close()

    async def _run(self) -> None:
        await self._identify()
        if not self.polling:
            return
        await self._retrying("deleteWebhook", {"drop_pending_updates": False})
        log.info("telegram polling started", bot=self.telegram.bot_username)
        delay = BACKOFF_INITIAL
        while True:
            params: dict[str, Any] = {"timeout": self.poll_timeout, "allowed_updates": ALLOWED_UPDATES}
            if self.offset is not None:
                params["offset"] = self.offset
            try:
                updates = await self.api.call("getUpdates", params, timeout=self.poll_timeout + 15)
            except BotApiError as error:
                delay = await self._back_off(error, delay)
                continue
            if not isinstance(updates, list):
                log.error("telegram getUpdates answered without a list of updates")
                delay = await self._back_off(None, delay)
                continue
            if not updates:
                continue
            # Shielded: stopping the service must not abandon a commit half-way.
            self._batch = asyncio.ensure_future(self._process(updates))
            if await asyncio.shield(self._batch):
                delay = BACKOFF_INITIAL
            else:
                delay = await self._back_off(None, delay)

    async def _process(self, updates: list[Any]) -> bool:
        """Commit a batch; advance the offset over the committed prefix. False: retry from there."""
        outcomes = await asyncio.gather(*(self._one(item) for item in updates))
        for item, done in zip(updates, outcomes, strict=True):
            if not done:
                return False
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if isinstance(update_id, int) and (self.offset is None or update_id >= self.offset):
                self.offset = update_id + 1
        return True

    async def _one(self, item: Any) -> bool:
        raw = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            update = validate_update(item)
        except RequestError as error:
            # Telegram will never send it differently; keeping the offset here would stall every citizen.
            log.error("telegram update skipped: not a valid update", error=error.message, size=len(raw))
            return True
        try:
            await self.telegram.handle(update, raw)
        except RequestError as error:
            log.warning("telegram update not stored, will fetch again", update_id=update.update_id,
                        error=error.code)
            return False
        except Exception:
            log.exception("telegram update failed, will fetch again", update_id=update.update_id)
            return False
        return True

    async def _identify(self) -> None:
        if self.telegram.bot_username is not None:
            return
        delay = BACKOFF_INITIAL
        while True:
            try:
                me = _Me.model_validate(await self._retrying("getMe", {}))
                break
            except ValidationError:
                log.error("telegram getMe answered without a bot username")
                delay = await self._back_off(None, delay)
        self.telegram.bot_username = me.username
        log.info("telegram bot identified", bot=me.username, bot_id=me.id)

    async def _retrying(self, method: str, params: dict[str, Any]) -> Any:
        delay = BACKOFF_INITIAL
        while True:
            try:
                return await self.api.call(method, params)
            except BotApiError as error:
                delay = await self._back_off(error, delay)

    @staticmethod
    async def _back_off(error: BotApiError | None, delay: float) -> float:
        if error is not None:
            level = log.error if error.status in (401, 404, 409) else log.warning
            level("telegram Bot API call failed", method=error.method, error=error.reason, retry_in=delay)
        wait = error.retry_after if error is not None and error.retry_after else delay
        await asyncio.sleep(wait)
        return min(delay * 2, BACKOFF_MAX)
