"""Run the chaos and contention sessions and print the published tables.

    python -m tests.chaos           # the short sessions CI runs (about a minute)
    python -m tests.chaos --long    # 1,000 runs / 200+ kills, and 4 x 2,500 contention

Run it from the repository root. It exits 1 if any invariant was broken (the
violations are listed under the tables). ``--keep DIR`` keeps the databases,
ledgers and worker logs for inspection; ``--seed`` fixes the kill timing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from tests.chaos import driver
from tests.chaos.invariants import Findings
from tests.contention import driver as contention
from tests.contention.driver import ContentionFindings


def _chaos_ok(found: Findings, config: driver.ChaosConfig) -> bool:
    return (
        not found.violations
        and found.duplicates == 0
        and found.lost == 0
        and found.mismatched == 0
        and not found.errors
        and found.kills["driver"] >= config.kills
        and found.kills["self"] >= config.self_kills
    )


def _contention_ok(found: ContentionFindings, config: contention.ContentionConfig) -> bool:
    return (
        found.completed == found.enqueued == config.processes * config.runs
        and found.lost == 0
        and found.double_completed == 0
        and found.unexplained_duplicates == 0
        and found.storage_errors == 0
        and not found.errors
        and found.exit_codes == [0] * config.processes
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--long", action="store_true", help="the long sessions")
    parser.add_argument("--seed", type=int, default=None, help="fix the kill timing")
    parser.add_argument("--keep", type=Path, default=None, help="keep the session files here")
    parser.add_argument("--only", choices=["chaos", "contention"], default=None)
    args = parser.parse_args(argv)

    if args.long:
        sessions = [driver.LONG_EXTERNAL, driver.LONG_SELF_KILL]
        pressure = contention.LONG
    else:
        sessions = [driver.SHORT_EXTERNAL, driver.SHORT_SELF_KILL]
        pressure = contention.SHORT
    sessions = [dataclasses.replace(config, seed=args.seed) for config in sessions]
    root = args.keep or Path(tempfile.mkdtemp(prefix="reflow-chaos-"))
    print(f"# reflow-actors chaos ({'long' if args.long else 'short'} mode)")
    print(
        f"python {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs; files in {root}\n",
        flush=True,
    )
    started = time.monotonic()
    healthy = True

    if args.only in (None, "chaos"):
        rows = []
        for index, config in enumerate(sessions):
            print(f"running chaos session: {config.name} ...", file=sys.stderr, flush=True)
            found = driver.run_session(config, root / f"chaos-{index}")
            rows.append((config, found))
            healthy &= _chaos_ok(found, config)
        print("## Chaos: SIGKILL at random moments\n")
        print(driver.table(rows))
        print()
        for config, found in rows:
            for violation in found.violations:
                print(f"- VIOLATION ({config.name}): {violation}")
            if found.errors:
                print(f"- errors reported ({config.name}): {dict(found.errors)}")

    if args.only in (None, "contention"):
        print(f"running contention session: {pressure.name} ...", file=sys.stderr, flush=True)
        found_c = contention.run_contention(pressure, root / "contention")
        healthy &= _contention_ok(found_c, pressure)
        print("## Contention: processes sharing one SQLite file\n")
        print(contention.table([(pressure, found_c)]))
        print()
        if found_c.errors:
            print(f"- errors seen by users: {dict(found_c.errors)}")

    print(f"total {time.monotonic() - started:.0f} s; invariants {'held' if healthy else 'BROKEN'}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
