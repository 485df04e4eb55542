"""Near-duplicate detection across channels: one citizen, one complaint, many doors.

Two questions per report, answered before it is committed:

* Is it a resend by the same person? Identity is the reporter's identifiers (tel:+E164 for
  SMS, WhatsApp, Telegram shared contacts and web phones; mailto: for email; telegram:ID),
  linked in ``dedup_alias`` when one report carries several (a handle never linked has no
  row). The person's recent entries (``dedup.window``) come from the store by index and are
  compared exactly (normalizer.fingerprint.similarity); at or over ``dedup.threshold`` the
  report becomes a duplicate of the most similar one. It is still published, as ``duplicate.…``.
* Is it the same event as other people's reports? A MinHash signature (64 permutations over
  the comparison text's byte 4-grams) goes into an LSH index (16 bands of 4) held in
  fixed-size arrays (``dedup.cluster_capacity`` slots, about 260 bytes each), so memory is
  bounded however many reports arrive, and a lookup walks at most CHAIN_LIMIT entries per
  band. Candidates are ranked by their estimated similarity; one with the very same
  comparison text joins at once, others are verified exactly against the store. At or over
  ``dedup.cluster_threshold`` the report joins that cluster, otherwise it founds one (cluster
  id = the founding report's id, which that report carries too).

The entry is written by a commit hook in the report's own transaction, and enters the
in-memory index only after that commit, so a link always points to a stored, earlier report.
On start the index is rebuilt from the store for ``dedup.cluster_window``.
"""

from __future__ import annotations

import json
import mmap
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import structlog
from rbloom import Bloom

from gateway.config import DedupConfig
from gateway.dedup_store import RecordEntry
from gateway.outbox import Outbox
from normalizer import Draft
from normalizer.fingerprint import (
    SMS_LIMIT,
    TRUNCATED_MIN,
    Features,
    comparison_tokens,
    features_from_tokens,
    fingerprint_of,
    similarity,
)
from schemas import Dedup

log = structlog.get_logger("dedup")

PERMUTATIONS = 64
BANDS = 16
ROWS = PERMUTATIONS // BANDS
ID_BYTES = 26  # a ULID
CHAIN_LIMIT = 8  # per band: a template text ("lampu mati …") must not turn a lookup into a scan
VERIFY = 3  # candidates verified exactly against the store, best estimate first
PERSON_LIMIT = 20  # a person's most recent entries compared for a resend
LONE_SENDERS = 1024  # senders on one handle whose latest entries are kept in memory
LONE_TEXT_BYTES = 8 << 20  # and at most this much of their texts (an email's can be long)
RECENT_TEXTS = 4096  # comparison texts remembered (same-words shortcut, cluster checks of the latest entries)
# Stored entries' comparison features kept, counted in characters of their texts: a text's shingle
# set costs ~100 bytes a character (a 280-character complaint 26 KB, an 8,000-character mail 1 MB),
# so a bound in entries (1,024 were kept) could hold a gigabyte of long mails. This is ~2 MB, a
# few persons' 20 latest complaints.
STORED_FEATURES_CHARS = 16_384
FULL_INDEX_WARNING_EVERY = 3600.0  # seconds between two warnings that the cluster index is too small
PRUNE_EVERY = 256  # entries written between two prunes of expired rows
# Containment (a resend with a line added) scores over the threshold at a Jaccard index this much lower.
PREFILTER_MARGIN = 0.35
KNOWN_HANDLES_MIN = 1_000_000  # the known-handles filter's size at least, in handles (1.2 MB at 1 %)

SCHEMA = """
CREATE TABLE IF NOT EXISTS dedup_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id TEXT NOT NULL UNIQUE,
    identity TEXT,
    seen_at REAL NOT NULL,
    cluster TEXT NOT NULL,
    digest TEXT NOT NULL,
    raw_len INTEGER NOT NULL,
    text TEXT NOT NULL,
    lsh BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dedup_entries_identity ON dedup_entries (identity, seen_at);
CREATE TABLE IF NOT EXISTS dedup_alias (
    alias TEXT PRIMARY KEY,
    person TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dedup_alias_person ON dedup_alias (person);
"""


_rng = np.random.default_rng(0x1A9F0E)  # fixed: signatures are stored, so the hash family must never change
_A = _rng.integers(1, 2**63, PERMUTATIONS, dtype=np.uint64) | np.uint64(1)
_B = _rng.integers(0, 2**63, PERMUTATIONS, dtype=np.uint64)
_BAND_MIX = _rng.integers(1, 2**63, ROWS, dtype=np.uint64) | np.uint64(1)
_SHIFT = np.uint64(32)
_B24, _B16, _B8 = np.uint64(24), np.uint64(16), np.uint64(8)
LSH_BYTES = BANDS * 4 + PERMUTATIONS  # band keys (uint32) + low byte of each min-hash

U32 = npt.NDArray[np.uint32]
U8 = npt.NDArray[np.uint8]
# ids, clusters, digests, band keys, low bytes, times
_Chunk = tuple[npt.NDArray[np.bytes_], npt.NDArray[np.bytes_], npt.NDArray[np.uint64], U32, U8, npt.NDArray[np.float64]]


def signature(text: str) -> U32:
    """MinHash of the text's byte 4-grams (each read as a uint32), by multiply-shift hashing.

    Byte rather than character 4-grams keep it vectorised; the comparison text is mostly ASCII,
    and the estimate only ranks candidates that are then verified on character shingles.
    """
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    if data.size < 4:
        data = np.concatenate([data, np.zeros(4 - data.size, dtype=np.uint8)])
    wide = data.astype(np.uint64)
    # No np.unique: a repeated 4-gram cannot change a minimum, and unique costs more than the rest.
    grams = (wide[:-3] << _B24) | (wide[1:-2] << _B16) | (wide[2:-1] << _B8) | wide[3:]
    with np.errstate(over="ignore"):
        mixed = np.multiply(grams[:, None], _A)  # one grams x permutations array, then in place
        mixed += _B
    # The shift after the minimum, not on every element: x >> 32 never decreases as x grows.
    result: U32 = (mixed.min(axis=0) >> _SHIFT).astype(np.uint32)
    return result


def lsh_code(sig: U32) -> tuple[U32, U8]:
    """Band keys (one uint32 per band) and the b-bit (8) signature used to estimate similarity."""
    with np.errstate(over="ignore"):
        keys = ((sig.reshape(BANDS, ROWS).astype(np.uint64) * _BAND_MIX).sum(axis=1) >> _SHIFT).astype(np.uint32)
    return keys, (sig & 0xFF).astype(np.uint8)


@lru_cache(maxsize=RECENT_TEXTS)
def lsh_of(text: str) -> tuple[U32, U8]:
    """lsh_code(signature(text)), remembered: a flood of one forwarded text is hashed once.

    The arrays are shared between callers, which only read them.
    """
    return lsh_code(signature(text))


class StoredFeatures:
    """Stored entries' comparison features: a person's earlier reports are compared again and again.

    Least recently used out first, beyond ``chars`` characters of their texts. Features are read
    only (their parts are built once, on first use).
    """

    def __init__(self, chars: int = STORED_FEATURES_CHARS) -> None:
        self.chars = chars
        self._kept: dict[tuple[str, int], Features] = {}
        self._size = 0

    def __call__(self, text: str, raw_len: int) -> Features:
        key = (text, raw_len)
        found = self._kept.pop(key, None)  # put back below as the most recently used
        if found is None:
            found = features_from_tokens(tuple(text.split()), raw_len)
            if len(text) > self.chars:
                return found  # over the whole budget: not kept
            self._size += len(text)
            while self._size > self.chars:
                oldest = next(iter(self._kept))
                del self._kept[oldest]
                self._size -= len(oldest[0])
        self._kept[key] = found
        return found


def pack_lsh(keys: U32, low: U8) -> bytes:
    return keys.astype("<u4").tobytes() + low.tobytes()


def estimate(matches: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Jaccard from the share of equal low bytes: equal by chance 1/256 of the time."""
    share = matches / PERMUTATIONS
    chance = 1 / 256
    result: npt.NDArray[np.float64] = np.clip((share - chance) / (1 - chance), 0.0, 1.0)
    return result


class ClusterIndex:
    """LSH over the last ``capacity`` entries, in preallocated arrays (a ring; chains newest first).

    ``heads[band * buckets + key & mask]`` holds 1 + the sequence number of the newest entry in
    that bucket, ``links[band * capacity + slot]`` the next older one. Unrelated keys sharing a
    bucket only add candidates, which the signature estimate then drops. Memory is bounded by
    capacity and committed as it is used: every array lives in an anonymous mapping, whose pages
    the kernel provides on first write. The chains are read through memoryviews: walking them
    reads single integers, which a memoryview serves several times faster than numpy; int32
    holds 2**31 inserts, far beyond what one process lifetime receives.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.buckets = 1 << max(10, (capacity - 1).bit_length())
        self.mask = self.buckets - 1
        self.heads: memoryview[int] = memoryview(_zeroed(4 * BANDS * self.buckets)).cast("i")
        self.links: memoryview[int] = memoryview(_zeroed(4 * BANDS * capacity)).cast("i")
        # The same memory as arrays (insert writes every band at once; lookups walk the memoryviews).
        self._heads = np.frombuffer(self.heads, dtype=np.int32)
        self._links = np.frombuffer(self.links, dtype=np.int32)
        self._band_heads = np.arange(BANDS, dtype=np.int64) * self.buckets
        self._band_links = np.arange(BANDS, dtype=np.int64) * capacity
        self.times: memoryview[float] = memoryview(_zeroed(8 * capacity)).cast("d")
        self.low = np.zeros((capacity, PERMUTATIONS), dtype=np.uint8)
        self.ids = np.zeros(capacity, dtype=f"S{ID_BYTES}")
        self.clusters = np.zeros(capacity, dtype=f"S{ID_BYTES}")
        self.prints = np.zeros(capacity, dtype=np.uint64)  # the comparison text's digest: equal text, no lookup
        self.count = 0  # entries ever inserted; entry n lives in slot n % capacity
        # digest -> newest entry with that comparison text, for the most recent RECENT_TEXTS texts
        # (insertion order is recency: a repeat moves to the end, the oldest falls off the front).
        self.recent: dict[int, int] = {}

    def _remember(self, digest: int, seq: int) -> None:
        recent = self.recent
        recent.pop(digest, None)
        recent[digest] = seq
        if len(recent) > RECENT_TEXTS:
            del recent[next(iter(recent))]

    def same_text(self, digest: int, since: float) -> str | None:
        """The cluster of the newest entry with this very comparison text, if it is newer than ``since``."""
        seq = self.recent.get(digest)
        if seq is None or seq < self.count - self.capacity:
            return None
        slot = seq % self.capacity
        if self.times[slot] < since or int(self.prints[slot]) != digest:
            return None
        return str(self.clusters[slot].decode())

    def insert(self, report_id: str, cluster: str, digest: int, keys: U32, low: U8, at: float) -> float | None:
        """Add the newest entry; returns the time of the entry it overwrote (None until the ring is full)."""
        seq = self.count
        slot = seq % self.capacity
        overwritten = self.times[slot] if seq >= self.capacity else None
        # Each band's chain gets the entry at its head: one array operation for all bands, not a loop.
        heads = self._band_heads + (keys & self.mask)
        self._links[self._band_links + slot] = self._heads[heads]
        self._heads[heads] = seq + 1
        self.low[slot] = low
        self.times[slot] = at
        self.ids[slot] = report_id.encode()
        self.clusters[slot] = cluster.encode()
        self.prints[slot] = digest
        self.count = seq + 1
        self._remember(digest, seq)
        return overwritten

    def bulk_load(self, chunks: Iterable[_Chunk], total: int) -> None:
        """Load up to ``total`` (<= capacity) entries, oldest first, chunk by chunk (start-up rebuild).

        Chunks go straight into the index arrays, so memory stays near the index's own bound;
        the bucket chains are then built in one vectorised pass per band.
        """
        if self.count or total > self.capacity:
            raise ValueError("bulk_load fills an empty index up to its capacity")
        keys = np.empty((total, BANDS), dtype=np.uint32)
        times = np.frombuffer(self.times.cast("B"), dtype=np.float64)  # a view: written in place
        n = 0
        for ids, clusters, prints, chunk_keys, low, chunk_times in chunks:
            end = n + len(ids)
            if end > total:
                raise ValueError("more entries than announced")
            self.ids[n:end], self.clusters[n:end], self.prints[n:end] = ids, clusters, prints
            keys[n:end], self.low[n:end], times[n:end] = chunk_keys, low, chunk_times
            n = end
        if n == 0:
            return
        keys = keys[:n]
        heads = np.frombuffer(self.heads, dtype=np.int32).reshape(BANDS, self.buckets)  # views: written in place
        links = np.frombuffer(self.links, dtype=np.int32).reshape(BANDS, self.capacity)
        seqs = np.arange(n, dtype=np.int64)
        for band in range(BANDS):
            buckets = keys[:, band].astype(np.int64) & self.mask
            order = np.argsort(buckets, kind="stable")  # within a bucket: oldest first
            ordered = buckets[order]
            same = np.empty(n, dtype=bool)
            same[0] = False
            same[1:] = ordered[1:] == ordered[:-1]
            previous = np.zeros(n, dtype=np.int64)
            previous[1:] = np.where(same[1:], seqs[order][:-1] + 1, 0)
            links[band, order] = previous
            last = np.ones(n, dtype=bool)
            last[:-1] = ~same[1:]
            heads[band, ordered[last]] = seqs[order][last] + 1
        self.count = n
        for seq in range(max(0, n - RECENT_TEXTS), n):
            self._remember(int(self.prints[seq]), seq)

    def candidates(self, keys: U32, low: U8, since: float, limit: int) -> list[Candidate]:
        """Up to ``limit`` entries sharing a band with ``keys``, newer than ``since``, best estimate first."""
        oldest = self.count - self.capacity  # entries before this were overwritten
        heads, links, times, capacity, buckets = self.heads, self.links, self.times, self.capacity, self.buckets
        found: set[int] = set()
        for band, key in enumerate(keys.tolist()):
            pointer = heads[band * buckets + (key & self.mask)]
            base = band * capacity
            for _step in range(CHAIN_LIMIT):
                if pointer <= oldest or not pointer:
                    break
                slot = (pointer - 1) % capacity
                if times[slot] < since:
                    break  # chains run newest first: everything further is older still
                found.add(slot)
                pointer = links[base + slot]
        if not found:
            return []
        slots = np.fromiter(found, dtype=np.int64, count=len(found))
        scores = estimate((self.low[slots] == low).sum(axis=1))
        order = np.argsort(-scores, kind="stable")[:limit]
        return [
            Candidate(self.ids[slot].decode(), float(score), self.clusters[slot].decode(), int(self.prints[slot]))
            for slot, score in zip(slots[order].tolist(), scores[order].tolist(), strict=True)
        ]


def _zeroed(size: int) -> mmap.mmap:
    """``size`` zero bytes in an anonymous mapping: the kernel commits a page when it is first written."""
    return mmap.mmap(-1, max(1, size))


@dataclass(frozen=True, slots=True)
class Candidate:
    report_id: str
    estimate: float
    cluster: str
    digest: int


def _chunks(cursor: sqlite3.Cursor, size: int = 4096) -> Iterator[_Chunk]:
    """Stored rows (report id, seen_at, lsh blob, cluster, digest) as index arrays, ``size`` rows at a time.

    The fetched rows are Python objects, about 400 bytes each, until their chunk is converted: at
    65,536 rows a chunk they lifted start-up's peak RSS by ~30 MB (measured with a full index).
    """
    while rows := cursor.fetchmany(size):
        codes = np.frombuffer(b"".join(row[2] for row in rows), dtype=np.uint8).reshape(len(rows), LSH_BYTES)
        yield (
            np.array([row[0] for row in rows], dtype=f"S{ID_BYTES}"),
            np.array([row[3] for row in rows], dtype=f"S{ID_BYTES}"),
            np.array([int(row[4], 16) for row in rows], dtype=np.uint64),
            codes[:, : BANDS * 4].copy().view("<u4").astype(np.uint32),
            codes[:, BANDS * 4 :],
            np.fromiter((row[1] for row in rows), dtype=np.float64, count=len(rows)),
        )


@dataclass(frozen=True, slots=True)
class _Entry:
    """What the commit hook writes and the index takes once the report is committed."""

    identity: str | None
    identifiers: tuple[str, ...]
    seen_at: float
    cluster: str
    digest: str
    raw_len: int
    text: str
    keys: U32
    low: U8
    code: bytes  # pack_lsh(keys, low), as stored


# A person's entry as the resend check reads it: report id, cluster, raw length, comparison text,
# LSH code, seen at.
_Row = tuple[str, str, int, str, bytes, float]


class LoneSenders:
    """Senders on one handle linked to no other (a person of one alias): their latest entries,
    oldest first, as the resend query would return them. Least recently used out first, beyond
    ``senders`` senders or ``text_bytes`` of their texts."""

    def __init__(self, senders: int, text_bytes: int) -> None:
        self.senders = senders
        self.text_bytes = text_bytes
        self._rows: dict[str, list[_Row]] = {}
        self._bytes = 0

    def get(self, handle: str) -> list[_Row] | None:
        rows = self._rows.pop(handle, None)
        if rows is not None:
            self._rows[handle] = rows  # the most recently used last
        return rows

    def put(self, handle: str, rows: list[_Row]) -> None:
        self.drop(handle)
        self._rows[handle] = rows
        self._bytes += _text_bytes(rows)
        self._evict()

    def add(self, handle: str, row: _Row) -> None:
        """A newly stored entry of ``handle``, if it is remembered (once, newest kept)."""
        rows = self._rows.get(handle)
        # Not when a query already read it: committed before this settle ran, it was in the store.
        if rows is None or any(known[0] == row[0] for known in rows):
            return
        rows.append(row)
        if len(rows) > 1 and rows[-2][5] > row[5]:  # commits may end in another order than checks
            rows.sort(key=lambda known: known[5])
        self._bytes += _text_bytes([row]) - _text_bytes(rows[:-PERSON_LIMIT])
        del rows[:-PERSON_LIMIT]
        self._evict()

    def drop(self, handle: str) -> None:
        self._bytes -= _text_bytes(self._rows.pop(handle, []))

    def _evict(self) -> None:
        while self._rows and (len(self._rows) > self.senders or self._bytes > self.text_bytes):
            self.drop(next(iter(self._rows)))


def _text_bytes(rows: list[_Row]) -> int:
    return sum(len(row[3]) for row in rows)


@dataclass(frozen=True, slots=True)
class _Stored:
    report_id: str
    cluster: str
    features: Features


def identifiers(draft: Draft) -> tuple[str, ...]:
    """Every handle the report gives for its sender; none for an anonymous report."""
    if draft.anonymous:
        return ()
    found = [draft.identity or ""]
    if draft.phone:
        found.append(f"tel:{draft.phone}")
    if draft.email:
        found.append(f"mailto:{draft.email}")
    if draft.telegram_id:
        found.append(f"telegram:{draft.telegram_id}")
    return tuple(i for i in dict.fromkeys(found) if i and i != "web:anonymous")


class IndexStatus(NamedTuple):
    """The cluster index's fill, for /metrics."""

    entries: int
    capacity: int
    forgotten_inside_window: int


class DuplicateFinder:
    """The pipeline's NearDuplicateFinder, durable in the outbox database."""

    def __init__(
        self, outbox: Outbox, config: DedupConfig, clock: Callable[[], float] = time.time,
        lone_senders: int = LONE_SENDERS, lone_text_bytes: int = LONE_TEXT_BYTES,
    ) -> None:
        self.outbox = outbox
        self.config = config
        self.window = config.window_seconds
        self.cluster_window = config.cluster_window_seconds
        self.clock = clock
        self.index = ClusterIndex(config.cluster_capacity)
        self._pending: dict[str, _Entry] = {}
        # Every handle that may have entries (a superset: a Bloom filter has false positives, never
        # false negatives): one it has not seen has nothing to resend, and needs no query. open()
        # makes the real one, sized to the store; no check runs before it (there is no reader).
        self._known_handles = Bloom(1, 0.01)
        # The latest entries' (raw_len, text), report id first: an event's reports come in a burst, and
        # checking a new one against them then needs no query (which would hand the GIL to the writer).
        self._recent_texts: dict[str, tuple[int, str]] = {}
        # A known sender's next report then needs no query either. Filled from the query, kept up
        # in settle(); a report that links the handle to another takes it out, and the query
        # answers for it from then on.
        self._lone = LoneSenders(lone_senders, lone_text_bytes)
        self._stored_features = StoredFeatures()
        self._reader: sqlite3.Connection | None = None
        self._written = 0
        self.forgotten_inside_window = 0  # entries overwritten while still inside cluster_window
        self._warned_at = -FULL_INDEX_WARNING_EVERY

    async def open(self) -> None:
        """Create the tables, then rebuild the cluster index from the store (bounded by the window)."""
        await self.outbox.transact(create_tables)
        self._reader = sqlite3.connect(self.outbox.path, isolation_level=None, check_same_thread=False)
        self._reader.execute("PRAGMA query_only=1")
        started = time.monotonic()
        since = self.clock() - self.cluster_window
        total = min(self.index.capacity, self._reader.execute(
            "SELECT COUNT(*) FROM dedup_entries WHERE seen_at >= ?", (since,)).fetchone()[0])
        if total:
            # The newest ``total`` entries of the window, oldest first (nothing writes before intake opens).
            first = self._reader.execute(
                "SELECT seq FROM dedup_entries WHERE seen_at >= ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                (since, total - 1),
            ).fetchone()[0]
            cursor = self._reader.execute(
                "SELECT CAST(report_id AS BLOB), seen_at, lsh, CAST(cluster AS BLOB), digest FROM dedup_entries"
                " WHERE seq >= ? AND seen_at >= ?"
                " ORDER BY seq",
                (first, since),
            )
            self.index.bulk_load(_chunks(cursor), total)
        # Every entry's identity and every alias: a report of several handles has a row for each
        # (one of a single handle has none; its entries' identity is that handle).
        known = ("SELECT DISTINCT identity FROM dedup_entries INDEXED BY dedup_entries_identity"
                 " WHERE identity IS NOT NULL UNION ALL SELECT alias FROM dedup_alias")
        handles = self._reader.execute(f"SELECT COUNT(*) FROM ({known})").fetchone()[0]
        self._known_handles = Bloom(max(KNOWN_HANDLES_MIN, 2 * handles), 0.01)
        self._known_handles.update(row[0] for row in self._reader.execute(known))
        log.info("dedup index rebuilt", entries=self.index.count, handles=handles,
                 seconds=round(time.monotonic() - started, 3))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # -- the NearDuplicateFinder protocol --------------------------------------------------
    async def check(self, draft: Draft, report_id: str) -> Dedup:
        tokens = comparison_tokens(draft.body)
        fingerprint = fingerprint_of(tokens)
        found = features_from_tokens(tokens, len(draft.body))
        if not found.substantial or self._reader is None:
            return Dedup(fingerprint=fingerprint)  # too little text to link to anything
        now = self.clock()
        handles = identifiers(draft)
        assert fingerprint is not None  # substantial texts have one
        keys, low = lsh_of(found.text)
        duplicate = self._resend(handles, found, low, now - self.window)
        # Known from now on, before its commit: a resend checked meanwhile then queries the store.
        self._known_handles.update(handles)
        if duplicate is not None:
            earlier, score = duplicate
            cluster = earlier.cluster
        else:
            score = 0.0
            cluster = self._cluster(found, int(fingerprint, 16), keys, low, now - self.cluster_window) or report_id
        self._pending[report_id] = _Entry(
            draft.identity if handles else None, handles, now, cluster, fingerprint, len(draft.body), found.text,
            keys, low, pack_lsh(keys, low),
        )
        if duplicate is None:
            return Dedup(fingerprint=fingerprint, cluster=cluster)
        return Dedup(fingerprint=fingerprint, duplicate_of=duplicate[0].report_id, similarity=round(score, 4),
                     cluster=cluster)

    def record(self, report_id: str) -> RecordEntry | None:
        """The commit hook that stores what check() learned, in the report's own transaction."""
        entry = self._pending.get(report_id)
        if entry is None:
            return None
        self._written += 1
        prune_before = None
        if self._written % PRUNE_EVERY == 0:
            prune_before = entry.seen_at - max(self.window, self.cluster_window)
        return RecordEntry((report_id, entry.identity, entry.seen_at, entry.cluster, entry.digest, entry.raw_len,
                            entry.text, entry.code), entry.identifiers, prune_before)

    def settle(self, report_id: str, stored: bool) -> None:
        """After the commit: a stored entry becomes visible to later checks; a failed one is dropped."""
        entry = self._pending.pop(report_id, None)
        if entry is not None and stored:
            overwritten = self.index.insert(report_id, entry.cluster, int(entry.digest, 16), entry.keys, entry.low,
                                            entry.seen_at)
            if overwritten is not None and overwritten >= entry.seen_at - self.cluster_window:
                self._forgot_inside_window()
            self._recent_texts[report_id] = (entry.raw_len, entry.text)
            if len(self._recent_texts) > RECENT_TEXTS:
                del self._recent_texts[next(iter(self._recent_texts))]
            self._update_lone(report_id, entry)

    def _forgot_inside_window(self) -> None:
        """The index is too small for this traffic: reports of one event may now go unclustered."""
        self.forgotten_inside_window += 1
        now = time.monotonic()
        if now - self._warned_at >= FULL_INDEX_WARNING_EVERY:
            self._warned_at = now
            log.warning("dedup cluster index full inside cluster_window: raise dedup.cluster_capacity",
                        capacity=self.index.capacity, cluster_window=self.config.cluster_window,
                        forgotten_inside_window=self.forgotten_inside_window)

    def status(self) -> IndexStatus:
        return IndexStatus(min(self.index.count, self.index.capacity), self.index.capacity,
                           self.forgotten_inside_window)

    def _update_lone(self, report_id: str, entry: _Entry) -> None:
        if len(entry.identifiers) > 1:  # its commit linked these handles: none of them is alone now
            for handle in entry.identifiers:
                self._lone.drop(handle)
        elif entry.identifiers:
            self._lone.add(entry.identifiers[0], (report_id, entry.cluster, entry.raw_len, entry.text,
                                                  entry.code, entry.seen_at))

    # -- lookups ---------------------------------------------------------------------------
    def _resend(
        self, handles: tuple[str, ...], found: Features, low: U8, since: float
    ) -> tuple[_Stored, float] | None:
        if not any(handle in self._known_handles for handle in handles):
            return None  # a first-time sender (or anonymous: no handles)
        rows = self._person_entries(handles, since)
        if not rows:
            return None
        for report_id, cluster, _raw_len, text, _code, _seen_at in rows:
            if text == found.text:  # the same words again: nothing can score higher
                return _Stored(report_id, cluster, found), 1.0
        # The signature estimate is far cheaper than the exact score and, whole texts compared,
        # errs by well under PREFILTER_MARGIN: clearly different texts are skipped. One array
        # operation estimates every row at once.
        codes = np.frombuffer(b"".join(row[4] for row in rows), dtype=np.uint8).reshape(len(rows), LSH_BYTES)
        estimates = estimate((codes[:, BANDS * 4:] == low).sum(axis=1)).tolist()
        floor = self.config.threshold - PREFILTER_MARGIN
        best: tuple[_Stored, float] | None = None
        for (report_id, cluster, raw_len, text, _code, _seen_at), estimated in zip(rows, estimates, strict=True):
            truncation_possible = found.maybe_truncated or TRUNCATED_MIN <= raw_len <= SMS_LIMIT
            if estimated < floor and not truncation_possible:
                continue
            earlier = _Stored(report_id, cluster, self._stored_features(text, raw_len))
            score = similarity(found, earlier.features)
            if score >= self.config.threshold and (best is None or score > best[1]):
                best = (earlier, score)
        return best

    def _person_entries(self, handles: tuple[str, ...], since: float) -> list[_Row]:
        """The entries since ``since`` of every person the handles belong to, newest first, at most
        PERSON_LIMIT."""
        lone = self._lone.get(handles[0]) if len(handles) == 1 else None
        if lone is not None:
            return [row for row in reversed(lone) if row[5] >= since]
        assert self._reader is not None
        marks = ",".join("?" * len(handles))
        # The handles themselves, and every alias of the persons they belong to (phone <-> email).
        rows: list[_Row] = self._reader.execute(
            "SELECT report_id, cluster, raw_len, text, lsh, seen_at FROM dedup_entries WHERE identity IN"
            f" (SELECT alias FROM dedup_alias WHERE person IN (SELECT person FROM dedup_alias WHERE alias IN ({marks}))"
            f" UNION SELECT value FROM json_each(?)) AND seen_at >= ? ORDER BY seen_at DESC LIMIT ?",
            (*handles, json.dumps(handles), since, PERSON_LIMIT),
        ).fetchall()
        if len(handles) == 1 and self._reader.execute(
            "SELECT COUNT(*) FROM dedup_alias WHERE person = (SELECT person FROM dedup_alias WHERE alias = ?)",
            handles,
        ).fetchone()[0] <= 1:
            self._lone.put(handles[0], rows[::-1])
        return rows

    def _cluster(self, found: Features, digest: int, keys: U32, low: U8, since: float) -> str | None:
        assert self._reader is not None
        if (same := self.index.same_text(digest, since)) is not None:
            return same  # a text seen lately, word for word (a forwarded broadcast): no LSH walk
        for candidate in self.index.candidates(keys, low, since, VERIFY):
            if candidate.digest == digest:
                return candidate.cluster  # the same words (a forwarded broadcast): nothing to verify
            if candidate.estimate < self.config.cluster_threshold - 0.2:
                break  # ranked best first; the estimate's error at 64 permutations is well under 0.2
            row = self._recent_texts.get(candidate.report_id) or self._reader.execute(
                "SELECT raw_len, text FROM dedup_entries WHERE report_id=?", (candidate.report_id,)
            ).fetchone()
            if row is None:
                continue  # pruned meanwhile
            if similarity(found, self._stored_features(row[1], row[0])) >= self.config.cluster_threshold:
                return candidate.cluster
        return None


def create_tables(conn: sqlite3.Connection) -> None:
    # One statement at a time: executescript would COMMIT the writer's group transaction.
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
