"""``python -m reflow_actors`` and the ``reflow`` console script, as real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.cli.conftest import Populated, run_reflow

pytestmark = pytest.mark.timeout(60)


def test_python_m_reflow_actors_help() -> None:
    done = run_reflow("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: reflow ")
    for command in ("runs", "events", "schedules", "worker", "demo", "exit codes:"):
        assert command in done.stdout


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("reflow")
    if not script.exists():
        pytest.skip("the reflow console script is not installed next to this interpreter")
    done = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("reflow-actors ")


def test_a_process_reads_json_and_fails_in_one_line(populated: Populated, tmp_path: Path) -> None:
    listed = run_reflow("runs", "list", "--db", populated.db, "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(orjson.loads(listed.stdout)["runs"]) == 4
    missing = run_reflow("runs", "show", "x", "--db", str(tmp_path / "nope.db"))
    assert missing.returncode == 3
    assert missing.stdout == ""
    assert missing.stderr == f"reflow: error: no database at {tmp_path / 'nope.db'}\n"
