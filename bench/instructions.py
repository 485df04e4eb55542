"""Instructions per report: the gateway under valgrind's callgrind, counted rather than timed.

On these shared 2-core machines one scenario timed twice in a row differs by up to ±20 % (see
bench/README.md), so a change worth 5 % cannot be seen in bench/ingest.py's rates. Callgrind counts
the instructions the gateway process executes, in every thread, and the count does not depend on
what else the machine is doing. Each scenario runs `lapor-gateway run` under callgrind with the
same wrk load as bench/ingest.py (its Lua scripts, its configuration):

1. start with instrumentation off (start-up at near full speed), switch it on, warm up;
2. zero the counters, load for --seconds, wait until every accepted report is confirmed on the
   queue, dump the counters;
3. report instructions per accepted report: in the event loop's thread, in the other threads
   (the outbox writer, thread-pool workers), in the commit process (gateway/commit_process.py,
   followed by valgrind into its own dump) and in all; and the commit process's write system
   calls and bytes written per report (from /proc/PID/io), the kernel's share that callgrind
   does not see.

Everything the process does in that window counts, background loops included, so a scenario is
compared with itself in another build, or with the calibration handler (the issue's hand-written
aiohttp + one confirmed publish), never read as an absolute cost. Valgrind runs the threads one
at a time, so group commits are smaller than at full speed: per-batch work weighs more here.

Two builds in one run (an A/B): --checkout names each build's directory; each scenario then runs
in every checkout at once (counts do not depend on the timing of other processes).

    .venv/bin/python bench/instructions.py [--scenarios calibration,api] [--seconds 20]
        [--checkout . --checkout ../other-build] [--json out.json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import SCENARIOS, GatewayRun, Sink, run_wrk, wait_published  # noqa: E402

CONNECTIONS = 8  # enough concurrency for group commits and publish batches; valgrind runs one thread at a time


def callgrind_control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def dump_totals(out: Path, gateway_pid: int, keep: Path | None, label: str) -> dict[str, int]:
    """Instructions from the dump files (``out.PID.PART-NN`` for thread NN of process PID): the
    gateway's main thread ("loop"), its other threads ("other"), and its child processes ("commit").

    With ``keep``, the dumps are copied there for callgrind_annotate (where they went, by function).
    """
    totals: dict[str, int] = {}
    for path in out.parent.glob(f"{out.name}.*"):
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, keep / f"{label}.{path.name}")
        match = re.search(r"\.(\d+)\.\d+-(\d+)$", path.name)
        summary = re.search(r"^(?:summary|totals): (\d+)", path.read_text(errors="replace"), re.M)
        if match and summary:
            pid, thread = int(match.group(1)), int(match.group(2))
            part = "commit" if pid != gateway_pid else "loop" if thread == 1 else "other"
            totals[part] = totals.get(part, 0) + int(summary.group(1))
    return totals


def writes(pid: int) -> tuple[int, int]:
    """Write system calls made and bytes passed to them so far by process ``pid``."""
    fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return int(fields["syscw"]), int(fields["wchar"])


async def count(
    scenario_name: str, checkout: Path, seconds: float, sink: Sink, keep: Path | None = None
) -> dict[str, Any]:
    scenario = SCENARIOS[scenario_name]
    workdir = Path(tempfile.mkdtemp(prefix=f"lapor-bench-ir-{scenario.name}-"))
    out = workdir / "callgrind.out"
    # Children too: the commit process is python started by the gateway, so valgrind follows it.
    wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
               "--trace-children=yes", f"--callgrind-out-file={out}.%p"]
    run = GatewayRun(scenario, workdir, sink, checkout=checkout, wrapper=wrapper)
    try:
        await run.start(timeout=300)
        assert run.process is not None
        pids = run.pids()  # the gateway, then its commit process (none for the calibration handler)
        load = scenario.prepare(workdir, run.url)
        for pid in pids:
            callgrind_control(pid, "--instr=on")
        await asyncio.to_thread(run_wrk, run.url, scenario, load, 3, CONNECTIONS)  # warm-up
        before = await wait_published(run)
        for pid in pids:
            callgrind_control(pid, "--zero")
        writes_before = [writes(pid) for pid in pids[1:]]
        await asyncio.to_thread(run_wrk, run.url, scenario, load, seconds, CONNECTIONS)
        reports = await wait_published(run) - before
        written = [tuple(b - a for a, b in zip(start, writes(pid), strict=True))
                   for pid, start in zip(pids[1:], writes_before, strict=True)]
        for pid in pids:
            callgrind_control(pid, "--dump")
        totals = await asyncio.to_thread(dump_totals, out, pids[0], keep, f"{scenario.name}.{checkout.name}")
        if not reports or "loop" not in totals:
            raise RuntimeError(f"{scenario.name}: nothing counted ({reports} reports, dump {totals})")
        loop, other, commit = totals["loop"], totals.get("other", 0), totals.get("commit", 0)
        return {
            "scenario": scenario.name,
            "checkout": str(checkout),
            "reports": int(reports),
            "instructions_per_report": round((loop + other + commit) / reports),
            "loop_thread": round(loop / reports),
            "other_threads": round(other / reports),
            "commit_process": round(commit / reports),
            "commit_write_calls_per_report": round(sum(calls for calls, _ in written) / reports, 2),
            "commit_bytes_written_per_report": round(sum(size for _, size in written) / reports),
        }
    finally:
        await run.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="calibration,api")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--checkout", type=Path, action="append",
                        help="a build's directory (repeat for an A/B); default: this one")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", type=Path, help="keep the callgrind dumps in this directory")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    checkouts = [path.resolve() for path in args.checkout or [ROOT]]
    sink = Sink()
    await sink.start()
    results: list[dict[str, Any]] = []
    try:
        for name in args.scenarios.split(","):
            counted = await asyncio.gather(
                *(count(name, checkout, args.seconds, sink, args.keep) for checkout in checkouts))
            for result in counted:
                result["relative_to_first_checkout"] = round(
                    result["instructions_per_report"] / counted[0]["instructions_per_report"], 4)
                print(json.dumps(result), flush=True)
            results += counted
    finally:
        await sink.stop()
    calibration = {r["checkout"]: r["instructions_per_report"] for r in results if r["scenario"] == "calibration"}
    for result in results:
        if result["checkout"] in calibration and result["scenario"] != "calibration":
            print(f"{result['scenario']} ({result['checkout']}): "
                  f"{result['instructions_per_report'] / calibration[result['checkout']]:.2f} x the calibration "
                  "handler's instructions per request", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
