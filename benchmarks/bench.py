"""The reflow-actors benchmark suite: throughput, dispatch latency, memory, history size.

Run it from the repository root after ``pip install -e .``::

    python benchmarks/bench.py                 # the full table (a few minutes)
    python benchmarks/bench.py --quick         # one pass, fewer runs: a smoke check
    python benchmarks/bench.py --only full     # one storage mode
    python benchmarks/bench.py --json out.json # also write the raw measurements

Every measurement runs in a fresh subprocess (so peak RSS belongs to it alone)
and is repeated ``--passes`` times; the table shows the median and the spread
(max - min, as a percentage of the median) and warns when the spread is wide.

Workloads (the ones reflow-ts publishes figures for): 2,000 runs, concurrency
25, trivial steps; 1-step and 5-step workflows; storage ``memory``, SQLite
``normal`` (survives a process crash) and SQLite ``full`` (fsync per commit,
survives power loss).

- enqueue/s: 2,000 ``engine.enqueue`` calls from one thread, engine not started.
- runs/s, steps/s: 2,000 enqueued runs drained by a started engine, from
  ``start()`` until every run is ``completed`` (each step durable before the next).
- dispatch latency: engine started (poll interval 1 s) and idle; time from
  ``enqueue`` returning... to the first step's handler starting, p50 and p99.
- peak RSS of the process that drained the runs; RSS after 2,000 and after
  20,000 runs through one engine (it should stay flat).
- history: runs/s with 1,000,000 finished runs already in the SQLite file,
  against the same workload on an empty file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_worker.py"
WIDE_SPREAD = 0.15


def run_worker(args: list[str], timeout: float = 900) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; return its JSON result."""
    done = subprocess.run(
        [sys.executable, str(WORKER), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark worker {args} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def summarize(values: list[float]) -> dict[str, float]:
    """Median and relative spread of a list of measurements."""
    median = statistics.median(values)
    spread = (max(values) - min(values)) / median if median else 0.0
    return {"median": median, "spread": spread, "min": min(values), "max": max(values)}


def measure(
    args: list[str], key: str, passes: int
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Repeat a worker measurement and summarize one of its numbers."""
    results = [run_worker(args) for _ in range(passes)]
    return summarize([float(result[key]) for result in results]), results


def cell(summary: dict[str, float], digits: int = 0) -> str:
    """``median ±spread%`` with a warning mark when the spread is wide."""
    mark = " (!)" if summary["spread"] > WIDE_SPREAD else ""
    return f"{summary['median']:,.{digits}f} ±{summary['spread'] * 100:.0f}%{mark}"


def machine() -> str:
    """One line describing where the numbers were measured."""
    cpus = os.cpu_count()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    python = platform.python_version()
    return f"{platform.system()} {platform.machine()}, {cpus} cores ({model}), Python {python}"


def fsync_rate(directory: str) -> float:
    """Raw APSW commits/s (WAL, synchronous=FULL, one row per commit) on this disk."""
    return float(run_worker(["raw-fsync", "--dir", directory])["commits_per_s"])


def main(argv: list[str] | None = None) -> int:
    """Run the suite and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=25)
    parser.add_argument("--only", choices=["memory", "normal", "full"], action="append")
    parser.add_argument("--quick", action="store_true", help="one pass, 500 runs, no history")
    parser.add_argument("--history", type=int, default=1_000_000, help="finished runs to preload")
    parser.add_argument("--no-history", action="store_true")
    parser.add_argument("--json", type=Path, help="write every raw measurement here")
    parser.add_argument("--dir", default=None, help="where to put database files")
    options = parser.parse_args(argv)
    if options.quick:
        options.passes, options.runs, options.no_history = 1, 500, True
    modes = options.only or ["memory", "normal", "full"]
    workdir = options.dir or tempfile.mkdtemp(prefix="reflow-bench-")
    raw: dict[str, Any] = {"machine": machine(), "runs": options.runs, "results": {}}
    common = ["--runs", str(options.runs), "--concurrency", str(options.concurrency)]
    common += ["--dir", workdir]

    print(f"reflow-actors benchmark — {raw['machine']}")
    print(f"{options.runs:,} runs, concurrency {options.concurrency}, {options.passes} pass(es)")
    print(f"raw APSW on this disk (WAL, FULL, 1 row/commit): {fsync_rate(workdir):,.0f} commits/s")
    print()
    header = (
        "| storage | enqueue/s | 1 step: runs/s | 5 steps: runs/s | 5 steps: steps/s "
        "| dispatch p50 / p99 (ms) | peak RSS (MB) |"
    )
    print(header)
    print("|" + "---|" * 7)
    for mode in modes:
        base = ["--mode", mode, *common]
        enqueue, _ = measure(["enqueue", *base], "enqueue_per_s", options.passes)
        one, one_raw = measure(["drain", "--steps", "1", *base], "runs_per_s", options.passes)
        five, five_raw = measure(["drain", "--steps", "5", *base], "runs_per_s", options.passes)
        steps = summarize([float(result["steps_per_s"]) for result in five_raw])
        latency_raw = [run_worker(["latency", *base]) for _ in range(options.passes)]
        p50 = summarize([result["p50_ms"] for result in latency_raw])
        p99 = summarize([result["p99_ms"] for result in latency_raw])
        rss = max(result["peak_rss_mb"] for result in one_raw + five_raw)
        print(
            f"| {mode} | {cell(enqueue)} | {cell(one)} | {cell(five)} | {cell(steps)} "
            f"| {cell(p50, 2)} / {cell(p99, 2)} | {rss:.0f} |"
        )
        raw["results"][mode] = {
            "enqueue": enqueue,
            "runs_1_step": one,
            "runs_5_steps": five,
            "steps_5_steps": steps,
            "dispatch_p50_ms": p50,
            "dispatch_p99_ms": p99,
            "peak_rss_mb": rss,
        }
    print()
    if not options.no_history and any(mode in modes for mode in ("normal", "full")):
        mode = "full" if "full" in modes else "normal"
        history = run_worker(
            ["history", "--mode", mode, "--history", str(options.history), *common], timeout=3600
        )
        ratio = history["with_history_runs_per_s"] / history["empty_runs_per_s"]
        print(
            f"history ({mode}): {history['empty_runs_per_s']:,.0f} runs/s on an empty file, "
            f"{history['with_history_runs_per_s']:,.0f} runs/s with {options.history:,} finished "
            f"runs ({ratio:.0%}); claim query {history['claim_ms']:.2f} ms"
        )
        raw["history"] = history
    rss = run_worker(["rss", "--mode", modes[-1], "--dir", workdir, "--concurrency", "25"])
    growth = rss["rss_after_20000_mb"] / rss["rss_after_2000_mb"] - 1
    print(
        f"RSS ({modes[-1]}): {rss['rss_after_2000_mb']:.0f} MB after 2,000 runs, "
        f"{rss['rss_after_20000_mb']:.0f} MB after 20,000 ({growth:+.0%})"
    )
    raw["rss"] = rss
    if options.json:
        options.json.write_text(json.dumps(raw, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
