"""Near-duplicate check at scale: N stored fingerprints, then timed checks; p50/p99 and RSS.

    .venv/bin/python bench/dedup_scale.py                  # 1,000,000 entries, 5,000 checks
    .venv/bin/python bench/dedup_scale.py --entries 100000 --queries 2000

Builds the dedup tables of a fresh outbox database with synthetic Indonesian complaints
(27 problem templates x generated streets, villages and numbers; ~3 entries per phone),
all inside the cluster window so the whole million sits in the LSH index (the worst case).
Then it starts DuplicateFinder the way the gateway does (rebuild from the store) and times
``check()`` for a mix of resends by known phones, other people's reports of known events,
short template texts and new complaints. Entries are written with plain SQL rather than
through the intake so that building a million takes minutes; the check path is the real one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.config import DedupConfig
from gateway.dedup import DuplicateFinder, create_tables, lsh_code, pack_lsh, signature
from gateway.ids import new_report_id
from gateway.outbox import Outbox
from normalizer.draft import Draft
from normalizer.fingerprint import comparison_tokens, fingerprint_of
from schemas import Channel
from tests.dedup.build_pairs import PROBLEMS, SMS_ABBREVIATIONS, TEMPLATES, abbreviate, typo

SYLLABLES = ["ma", "ra", "su", "ka", "ja", "di", "ti", "ba", "nga", "sa", "pu", "wi", "lo", "ne", "har", "jo",
             "ker", "tan", "san", "mu", "li", "ya", "ben", "gan", "do", "ro", "ci", "pa", "te", "bu"]
KINDS = ["Jl.", "Gang", "Desa", "Kelurahan", "Perumahan", "Kampung"]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def place(rng: random.Random) -> str:
    return (f"{rng.choice(KINDS)} {name(rng)} RT {rng.randint(1, 15):02d} RW {rng.randint(1, 9):02d} "
            f"Kecamatan {name(rng)}")


def complaint(rng: random.Random) -> str:
    return rng.choice(PROBLEMS).format(loc=place(rng))


def draft(body: str, phone: str | None) -> Draft:
    return Draft(channel=Channel.SMS, provider="bench", inbound_address="1708", message_id=None,
                 received_at=datetime.now(UTC), body=body, phone=phone, identity=f"tel:{phone}" if phone else None)


def build(path: Path, entries: int, now: float, seed: int) -> list[tuple[str, str, str]]:
    """Write ``entries`` rows; return a sample of (report id, phone, body) to resend later."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    create_tables(conn)
    conn.execute("COMMIT")
    sample: list[tuple[str, str, str]] = []
    started = time.monotonic()
    batch: list[tuple[object, ...]] = []
    aliases: list[tuple[str, str]] = []
    persons = max(1, entries // 3)
    for index in range(entries):
        body = complaint(rng)
        phone = f"+62812{rng.randrange(persons):07d}"
        tokens = comparison_tokens(body)
        keys, low = lsh_code(signature(" ".join(tokens)))
        report_id = new_report_id()
        seen = now - 2 * 86_400 + index * (2 * 86_400 / entries)  # oldest first, all inside the windows
        batch.append((report_id, f"tel:{phone}", seen, report_id, fingerprint_of(tokens), len(body), " ".join(tokens),
                      pack_lsh(keys, low)))
        aliases.append((f"tel:{phone}", f"tel:{phone}"))
        if rng.random() < 2000 / entries:
            sample.append((report_id, phone, body))
        if len(batch) == 20_000 or index == entries - 1:
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO dedup_entries (report_id, identity, seen_at, cluster, digest, raw_len, text,"
                             " lsh) VALUES (?,?,?,?,?,?,?,?)", batch)
            conn.executemany("INSERT OR IGNORE INTO dedup_alias (alias, person) VALUES (?,?)", aliases)
            conn.execute("COMMIT")
            batch.clear()
            aliases.clear()
            done = index + 1
            print(f"\r  stored {done:>9,} ({done / (time.monotonic() - started):,.0f}/s)", end="", flush=True)
    print()
    conn.close()
    return sample


def queries(
    sample: list[tuple[str, str, str]], count: int, persons: int, rng: random.Random
) -> list[tuple[str, Draft]]:
    out: list[tuple[str, Draft]] = []
    for index in range(count):
        kind = ("resend", "same_event", "template", "new")[index % 4]
        _id, phone, body = rng.choice(sample)
        if kind == "resend":
            out.append((kind, draft(typo(abbreviate(body, rng), rng, 2), phone)))
        elif kind == "same_event":
            out.append((kind, draft(body, f"+62813{rng.randrange(persons):07d}")))
        elif kind == "template":
            out.append((kind, draft(rng.choice(TEMPLATES)[0] + " " + rng.choice(list(SMS_ABBREVIATIONS)),
                                    f"+62812{rng.randrange(persons):07d}")))
        else:
            out.append((kind, draft(complaint(rng), f"+62812{rng.randrange(persons):07d}")))
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def measure(path: Path, entries: int, count: int, sample: list[tuple[str, str, str]], now: float,
                  rng: random.Random) -> None:
    outbox = Outbox(path, "OFF")
    outbox.open()
    config = DedupConfig(cluster_capacity=max(entries, 1024))
    before = rss_mb()
    finder = DuplicateFinder(outbox, config, clock=lambda: now)
    started = time.monotonic()
    await finder.open()
    rebuilt = time.monotonic() - started
    after_open = rss_mb()
    print(f"rebuild from store: {rebuilt:.2f}s for {finder.index.count:,} entries; "
          f"RSS {before:.0f} MB -> {after_open:.0f} MB (+{after_open - before:.0f} MB for the index)")

    timings: dict[str, list[float]] = {}
    cpu: list[float] = []  # CPU time of the check alone: what the wall time is on an idle machine
    outcomes: dict[str, int] = {}
    workload = queries(sample, count, max(1, entries // 3), rng)
    for _kind, item in workload[:200]:  # warm caches (SQLite pages, lru) like a running gateway
        await finder.check(item, new_report_id())
    finder._pending.clear()
    for kind, item in workload:
        report_id = new_report_id()
        started, started_cpu = time.perf_counter(), time.thread_time()
        result = await finder.check(item, report_id)
        elapsed = (time.perf_counter() - started) * 1000
        cpu.append((time.thread_time() - started_cpu) * 1000)
        finder.settle(report_id, stored=False)  # not committed: the store stays at exactly N entries
        timings.setdefault(kind, []).append(elapsed)
        if result.duplicate_of:
            outcomes[f"{kind}:duplicate"] = outcomes.get(f"{kind}:duplicate", 0) + 1
        elif result.cluster and result.cluster != report_id:
            outcomes[f"{kind}:clustered"] = outcomes.get(f"{kind}:clustered", 0) + 1
    every = [t for values in timings.values() for t in values]
    print(f"check() over {len(every):,} queries: p50 {statistics.median(every):.3f} ms, "
          f"p99 {percentile(every, 0.99):.3f} ms, max {max(every):.3f} ms")
    print(f"  CPU time: p50 {statistics.median(cpu):.3f} ms, p99 {percentile(cpu, 0.99):.3f} ms "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs during the run)")
    for kind, values in timings.items():
        print(f"  {kind:<10} p50 {statistics.median(values):.3f} ms  p99 {percentile(values, 0.99):.3f} ms")
    print(f"outcomes: {dict(sorted(outcomes.items()))}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RSS now {rss_mb():.0f} MB, peak {peak:.0f} MB (the peak includes building the {entries:,} rows)")
    finder.close()
    await outbox.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=5_000)
    args = parser.parse_args()
    rng = random.Random(11)  # not the builder's seed 7: new complaints must not replay stored ones
    now = time.time()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "outbox.sqlite3"
        print(f"building {args.entries:,} stored fingerprints in {path}")
        started = time.monotonic()
        # In a child process, so the RSS measured below is the gateway-like process alone.
        with ProcessPoolExecutor(1) as pool:
            sample = pool.submit(build, path, args.entries, now, 7).result()
        print(f"built in {time.monotonic() - started:.0f}s; database {path.stat().st_size / 1e6:.0f} MB")
        asyncio.run(measure(path, args.entries, args.queries, sample, now, rng))


if __name__ == "__main__":
    main()
