"""``reflow events send ID NAME JSON``: delivered durably, validated only with ``--app``."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from reflow_actors import Engine, RunStatus
from reflow_actors.storage import SQLiteStorage
from tests.cli.conftest import Populated, Result, run_status, snapshot

pytestmark = pytest.mark.timeout(30)

Cli = Callable[..., Result]


def _buffered(path: Path, run_id: str) -> object:
    storage = SQLiteStorage(path)
    try:
        taken = storage.take_event(run_id, "approved")
        return None if taken is None else taken.payload
    finally:
        storage.close()


def test_send_wakes_a_waiting_run_without_validating(cli: Cli, populated: Populated) -> None:
    result = cli(
        "events", "send", populated.waiting, "approved", '{"by": "eve"}', "--db", populated.db
    )
    assert result.code == 0, result.err
    assert f'delivered event "approved" to run {populated.waiting} (run is pending)' in result.out
    assert "not validated" in result.out
    assert run_status(populated.path, populated.waiting) == "pending"


def test_a_delivered_event_completes_the_run(
    cli: Cli, populated: Populated, writer: Callable[[Path], Engine]
) -> None:
    assert (
        cli(
            "events", "send", populated.waiting, "approved", '{"by": "eve"}', "--db", populated.db
        ).code
        == 0
    )
    engine = writer(populated.path)
    engine.start(poll_interval=0.05)
    info = engine.wait(populated.waiting, timeout=10)
    assert info.run.status is RunStatus.COMPLETED
    assert info.steps[-1].output == {"approved_by": "eve"}


def test_send_reads_the_payload_from_stdin(
    cli: Cli, populated: Populated, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"by": "stdin", "n": [1, 2.5, null]}'))
    result = cli(
        "events", "send", populated.pending, "approved", "-", "--db", populated.db, "--json"
    )
    assert result.code == 0, result.err
    document = result.json()
    assert document["event"] == "approved"
    assert document["validated"] is False
    assert document["run"]["status"] == "pending"
    assert _buffered(populated.path, populated.pending) == {"by": "stdin", "n": [1, 2.5, None]}


def test_send_with_app_validates_and_stores_nothing_when_invalid(
    cli: Cli, populated: Populated
) -> None:
    before = snapshot(populated.path)[0]
    bad = cli(
        "events", "send", populated.waiting, "approved", '{"by": 7}',
        "--db", populated.db, "--app", "tests.cli.flows:engine",
    )  # fmt: skip
    assert bad.code == 5
    assert bad.err.startswith("reflow: error: ")
    assert len(bad.err.splitlines()) == 1
    assert run_status(populated.path, populated.waiting) == "waiting"
    assert snapshot(populated.path)[0] == before
    good = cli(
        "events", "send", populated.waiting, "approved", '{"by": "eve"}',
        "--db", populated.db, "--app", "tests.cli.flows:engine", "--json",
    )  # fmt: skip
    assert good.code == 0, good.err
    assert good.json()["validated"] is True
    assert good.json()["run"]["status"] == "pending"


def test_send_with_app_refuses_an_event_the_workflow_does_not_wait_for(
    cli: Cli, populated: Populated
) -> None:
    result = cli(
        "events", "send", populated.waiting, "rejected", "{}",
        "--db", populated.db, "--app", "tests.cli.flows:engine",
    )  # fmt: skip
    assert result.code == 5
    assert "rejected" in result.err


@pytest.mark.parametrize("payload", ["{not json", "", "[1,"])
def test_bad_json_is_invalid_input(cli: Cli, populated: Populated, payload: str) -> None:
    result = cli("events", "send", populated.waiting, "approved", payload, "--db", populated.db)
    assert result.code == 5
    assert "is not valid JSON" in result.err
    assert "Traceback" not in result.err
    assert run_status(populated.path, populated.waiting) == "waiting"


@pytest.mark.parametrize("which", ["completed", "failed"])
def test_events_for_finished_runs_are_refused(cli: Cli, populated: Populated, which: str) -> None:
    result = cli(
        "events", "send", getattr(populated, which), "approved", "{}", "--db", populated.db
    )
    assert result.code == 1
    assert "events go only to runs that have not finished" in result.err


def test_events_for_unknown_runs_are_not_found(cli: Cli, populated: Populated) -> None:
    result = cli("events", "send", "nope", "approved", "{}", "--db", populated.db)
    assert result.code == 3
    assert result.err == f"reflow: error: no run nope in {populated.db}\n"
