"""The outbox as the commit point: exact duplicates, tracking-code collisions, group commit, isolation."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from gateway.commit import GroupCommit, InsertReport, RowInsert, WriterConnection, connect, defer
from gateway.ids import new_report_id, new_tracking_code
from gateway.outbox import RAW_MESSAGE, SCHEMA, Outbox, OutboxUnavailable, Outgoing, _report_row
from schemas import Channel, Raw, Report, Reporter, Source


def make_report(message_id: str, code: str = "LPR-ABCDEFGH") -> Report:
    return Report(
        id=new_report_id(), tracking_code=code, received_at=datetime.now(UTC), channel=Channel.WEB,
        source=Source(provider="api", inbound_address="web", message_id=message_id),
        reporter=Reporter(identity="web:anonymous"), body="jalan rusak",
    )


@pytest.fixture
async def outbox(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite3")
    box.open()
    yield box
    await box.close()


async def test_exact_duplicate_returns_the_original(outbox):
    first = await outbox.commit_report(make_report("m-1"))
    again = await outbox.commit_report(make_report("m-1", code="LPR-ZZZZZZZZ"))
    assert not first.duplicate and again.duplicate
    assert (again.id, again.tracking_code) == (first.id, first.tracking_code)
    assert again.outgoing is None
    assert outbox.status().total == 1


async def test_taken_tracking_code_is_redrawn(outbox):
    first = await outbox.commit_report(make_report("m-1", code="LPR-ABCDEFGH"))
    second = await outbox.commit_report(make_report("m-2", code="LPR-ABCDEFGH"))
    assert first.tracking_code == "LPR-ABCDEFGH"
    assert second.tracking_code != "LPR-ABCDEFGH" and not second.duplicate
    assert second.outgoing is not None
    assert f'"tracking_code":"{second.tracking_code}"'.encode() in second.outgoing.payload


async def test_concurrent_commits_share_transactions_and_duplicates_race_safely(outbox):
    reports = [make_report(f"m-{i % 100}", code=f"LPR-{'ABCDEFGH'[i % 8] * 8}") for i in range(400)]
    results = await asyncio.gather(*(outbox.commit_report(r) for r in reports))
    originals = [r for r in results if not r.duplicate]
    assert len(originals) == 100
    assert len({r.tracking_code for r in originals}) == 100
    by_key: dict[str, set[str]] = {}
    for report, result in zip(reports, results, strict=True):
        by_key.setdefault(report.source.message_id, set()).add(result.id)
    assert all(len(ids) == 1 for ids in by_key.values())


async def test_a_failing_operation_does_not_fail_its_batch_mates_and_runs_once(outbox):
    runs = 0

    def bad(conn: sqlite3.Connection) -> None:
        nonlocal runs
        runs += 1
        conn.execute("INSERT INTO reports (id) VALUES ('x')")  # violates NOT NULL

    results = await asyncio.gather(
        outbox.commit_report(make_report("ok-1")), outbox.transact(bad), outbox.commit_report(make_report("ok-2")),
        return_exceptions=True,
    )
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert runs == 1
    assert outbox.status().total == 2


async def test_a_repeat_among_new_reports_gets_its_original_and_the_new_ones_commit_once(outbox):
    original = await outbox.commit_report(make_report("seen-before"))
    batch = [make_report(f"new-{i}", code=new_tracking_code()) for i in range(30)]
    batch.insert(12, make_report("seen-before", code=new_tracking_code()))
    results = await asyncio.gather(*(outbox.commit_report(report) for report in batch))
    repeat = results[12]
    assert repeat.duplicate and (repeat.id, repeat.tracking_code) == (original.id, original.tracking_code)
    new = [result for result in results if not result.duplicate]
    assert len(new) == 30 and all(result.outgoing is not None for result in new)
    assert outbox.status().total == 31


def test_a_batch_of_new_reports_is_a_few_statements(tmp_path):
    # Each sqlite3 step hands the GIL to the event loop and back: per-report statements throttle intake.
    conn = connect(str(tmp_path / "o.sqlite3"), "FULL", WriterConnection)
    assert isinstance(conn, WriterConnection)
    conn.executescript(SCHEMA)
    group = GroupCommit(conn)

    def insert(message_id: str) -> InsertReport:
        report = make_report(message_id, code=new_tracking_code())
        return InsertReport(_report_row(report, Outgoing.of(report), held=False))

    group.run([insert("first")])  # fan-out triggers follow a first use
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    outcomes, problems = group.run([insert(f"m-{i}") for i in range(200)])
    assert problems == [] and outcomes == [(True, None)] * 200
    steps = [text for text, _firings in itertools.groupby(statements)]  # a trigger's firings trace as its statement
    inserts = [step for step in steps if step.startswith("INSERT INTO deferred_rows VALUES")]
    assert steps == ["BEGIN IMMEDIATE", *inserts, "COMMIT"], steps
    # Chunks of 128, 64 and 8 rows: a handful of statement texts, each prepared once and cached.
    assert [step.count("),(") + 1 for step in inserts] == [128, 64, 8]
    assert conn.execute("SELECT COUNT(*) FROM reports").fetchone()[0] == 201
    conn.close()


async def test_an_operation_with_statements_of_its_own_commits_with_the_deferred_rows(outbox):
    await outbox.commit_report(make_report("first", code=new_tracking_code()))

    def tag(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO kv (key, value) VALUES ('tag', 'x')")
        defer(conn, RAW_MESSAGE, ("a" * 64, "text/plain", b"deferred beside a statement"))

    def tag_and_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO kv (key, value) VALUES ('failed', 'x')")
        defer(conn, RAW_MESSAGE, ("b" * 64, "text/plain", b"deferred by a failing operation"))
        raise ValueError("fails after its statement")

    results = await asyncio.gather(outbox.transact(tag), outbox.transact(tag_and_fail),
                                   outbox.commit_report(make_report("second", code=new_tracking_code())),
                                   return_exceptions=True)
    assert isinstance(results[1], ValueError)
    assert await outbox.get_value("tag") == "x" and outbox.raw_original("a" * 64) is not None
    assert await outbox.get_value("failed") is None and outbox.raw_original("b" * 64) is None
    assert outbox.status().total == 2


async def test_rows_deferred_by_a_failing_operation_are_not_committed_its_batch_mates_are(outbox, tmp_path):
    def bad(conn: sqlite3.Connection) -> None:
        defer(conn, RAW_MESSAGE, ("f" * 64, "text/plain", b"from the failing operation"))
        raise ValueError("this operation fails after deferring a row")

    def raw_report(message_id: str) -> Report:
        digest = hashlib.sha256(message_id.encode()).hexdigest()
        return make_report(message_id).model_copy(update={
            "raw": Raw(content_type="text/plain", size=len(message_id), sha256=digest, ref=f"outbox:raw/{digest}")})

    results = await asyncio.gather(
        *(outbox.commit_report(raw_report(f"ok-{i}"), f"ok-{i}".encode(), "text/plain") for i in range(50)),
        outbox.transact(bad),
        return_exceptions=True,
    )
    assert isinstance(results[-1], ValueError)
    assert outbox.status().total == 50
    for i in range(50):
        assert outbox.raw_original(hashlib.sha256(f"ok-{i}".encode()).hexdigest()) == ("text/plain", f"ok-{i}".encode())
    assert outbox.raw_original("f" * 64) is None
    writer = connect(str(tmp_path / "other.sqlite3"), "FULL", WriterConnection)
    GroupCommit(writer)
    with pytest.raises(RuntimeError):
        defer(writer, RAW_MESSAGE, ("e" * 64, "text/plain", b"outside any operation"))
    writer.close()


async def test_commits_are_durable_across_reopen(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    box.open()
    committed = await box.commit_report(make_report("m-1"))
    await box.close()
    again = Outbox(tmp_path / "o.sqlite3")
    again.open()
    try:
        rows = again.unpublished(10)
        assert [row.id for _seq, row in rows] == [committed.id]
        await again.mark_published([committed.id])
        assert again.status().unpublished == 0
    finally:
        await again.close()


async def test_reading_the_unpublished_rows_does_not_walk_the_published_ones(outbox):
    """The publisher sweeps the outbox every few seconds and /metrics reads its status: both must cost
    what is unpublished, not what the outbox has ever held (a year of a province: 200k rows)."""
    first = await outbox.commit_report(make_report("m-first"))
    await outbox.commit_report(make_report("m-held", code=new_tracking_code()), held=True)

    def vm_steps(read: Callable[[], object]) -> int:
        """sqlite's virtual-machine steps for ``read``: what it walks, whatever the machine's speed."""
        steps = 0

        def count() -> int:
            nonlocal steps
            steps += 1
            return 0

        def connect() -> sqlite3.Connection:
            conn = original()
            conn.set_progress_handler(count, 1)
            return conn

        original = outbox._connect
        outbox._connect = connect
        try:
            read()
        finally:
            outbox._connect = original
        return steps

    async def publish_more(count: int) -> None:
        committed = await asyncio.gather(*(outbox.commit_report(make_report(f"p-{n}", code=new_tracking_code()))
                                           for n in range(count)))
        await outbox.mark_published([report.id for report in committed])

    costs: dict[str, list[int]] = {"sweep": [], "status": []}
    for published in (0, 3_000):
        await publish_more(published)
        costs["sweep"].append(vm_steps(lambda: outbox.unpublished(100)))
        costs["status"].append(vm_steps(outbox.status))
    status = outbox.status()
    assert (status.total, status.unpublished, status.held) == (3_002, 2, 1)
    assert [row.id for _seq, row in outbox.unpublished(100)] == [first.id]  # the held one waits for its media
    # COUNT(*) of the total walks one index; everything else must stay flat.
    assert costs["sweep"][1] < costs["sweep"][0] + 50, costs
    assert costs["status"][1] < costs["status"][0] + 3_000 * 10, costs


async def test_once_the_commit_process_ends_reports_commit_in_the_writer_thread(outbox, tmp_path):
    first = await outbox.commit_report(make_report("m-1", code=new_tracking_code()))
    lock = sqlite3.connect(tmp_path / "outbox.sqlite3", isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the commit process blocks on the write lock, mid-commit
    blocked = asyncio.create_task(outbox.commit_report(make_report("m-2", code=new_tracking_code())))
    await asyncio.sleep(0.3)
    process = outbox._process
    with capture_logs() as logs:
        process.process.kill()
        with pytest.raises(OutboxUnavailable, match="commit process has ended"):
            await blocked  # unknown whether it committed: the channel answers "try again"
    lock.rollback()
    lock.close()
    assert [entry["event"] for entry in logs] == [
        "outbox commit process ended; reports now commit in the writer thread"]
    assert outbox.writable()

    retried = await outbox.commit_report(make_report("m-2", code=new_tracking_code()))
    repeat = await outbox.commit_report(make_report("m-1", code=new_tracking_code()))
    assert not retried.duplicate and (repeat.duplicate, repeat.id) == (True, first.id)
    await outbox.mark_published([first.id, retried.id])
    assert (outbox.status().total, outbox.status().unpublished) == (2, 0)


async def test_an_operation_that_cannot_be_pickled_fails_alone(outbox):
    lambda_failure, committed = await asyncio.gather(
        outbox.commit(lambda conn: conn.execute("SELECT 1")),
        outbox.commit_report(make_report("m-1", code=new_tracking_code())),
        return_exceptions=True,
    )
    assert isinstance(lambda_failure, OutboxUnavailable) and "cannot go to the commit process" in str(lambda_failure)
    assert not isinstance(committed, BaseException) and not committed.duplicate
    assert outbox.status().total == 1


async def test_without_a_commit_process_the_writer_thread_commits_everything(tmp_path, monkeypatch):
    def no_process(*_args: object) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr("gateway.outbox.CommitProcess", no_process)
    box = Outbox(tmp_path / "outbox.sqlite3")
    with capture_logs() as logs:
        box.open()
    try:
        assert logs[0]["event"] == "outbox commit process ended; reports now commit in the writer thread"
        assert "not started" in logs[0]["reason"]
        first = await box.commit_report(make_report("m-1", code=new_tracking_code()))
        repeat = await box.commit_report(make_report("m-1", code=new_tracking_code()))
        assert (repeat.duplicate, repeat.id) == (True, first.id)
        await box.mark_published([first.id])
        assert (box.status().total, box.status().unpublished) == (1, 0)
    finally:
        await box.close()


async def test_a_commit_handed_over_as_the_outbox_closes_is_still_committed(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite3")
    box.open()
    await box.commit_report(make_report("m-1", code=new_tracking_code()))
    last = asyncio.create_task(box.commit_report(make_report("m-2", code=new_tracking_code())))
    await asyncio.sleep(0)  # handed over: its write to the commit process is scheduled, not yet made
    await box.close()  # as at shutdown, when the publisher's last confirmations are still on the way
    assert not (await last).duplicate
    again = Outbox(tmp_path / "outbox.sqlite3")
    assert again.status().total == 2


def with_raw(message_id: str) -> tuple[Report, bytes]:
    digest = hashlib.sha256(message_id.encode()).hexdigest()
    report = make_report(message_id, code=new_tracking_code()).model_copy(update={
        "raw": Raw(content_type="text/plain", size=len(message_id), sha256=digest, ref=f"outbox:raw/{digest}")})
    return report, message_id.encode()


async def test_a_failed_commit_in_the_commit_process_is_logged_here_and_answered_unavailable(outbox, tmp_path):
    report, raw = with_raw("m-1")
    await outbox.commit_report(report, raw, "text/plain")
    damage = sqlite3.connect(tmp_path / "outbox.sqlite3")
    damage.execute("DROP TABLE raw_messages")  # the next report's raw original has nowhere to go
    damage.commit()
    damage.close()
    report, raw = with_raw("m-2")
    with capture_logs() as logs, pytest.raises(OutboxUnavailable, match="outbox commit failed: no such table"):
        await outbox.commit_report(report, raw, "text/plain")
    assert [(entry["event"], entry["batch"]) for entry in logs] == [("outbox commit failed", 1)]
    assert "raw_messages" in logs[0]["error"]
    assert outbox.status().total == 1  # nothing of the failed batch is stored


async def test_an_ended_commit_process_is_started_again(outbox):
    await outbox.commit_report(make_report("m-1", code=new_tracking_code()))
    first = outbox._process
    first.process.kill()
    with capture_logs() as logs:
        for _ in range(500):  # ended, noticed, and after PROCESS_RESTART_INITIAL (1 s) started again
            if outbox._process is not first and outbox.commit_process_up:
                break
            await asyncio.sleep(0.01)
    assert outbox._process is not first and outbox.commit_process_up
    assert logs[0]["event"] == "outbox commit process ended; reports now commit in the writer thread"
    assert logs[0]["restart_in"] == 1.0
    committed = await outbox.commit_report(make_report("m-2", code=new_tracking_code()))
    assert not committed.duplicate and outbox.commit_process_up  # through the new process
    assert first.process.poll() is not None  # the old one is gone, reaped


def test_a_group_commit_reports_what_the_operator_must_hear_of(tmp_path):
    conn = connect(str(tmp_path / "o.sqlite3"), "FULL", WriterConnection)
    assert isinstance(conn, WriterConnection)
    group = GroupCommit(conn)
    unusable = RowInsert("select", ("a",))  # a keyword for a table: neither its INSERT nor its trigger parses

    def defer_into_it(conn: sqlite3.Connection) -> None:
        defer(conn, unusable, (1,))

    outcomes, problems = group.run([defer_into_it])
    assert isinstance(outcomes[0][1], OutboxUnavailable)
    assert [(event, fields.get("table")) for event, fields in problems] == [
        ("outbox commit failed", None), ("outbox fan-out trigger not created", "select")]
    conn.close()
