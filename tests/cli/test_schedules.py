"""``reflow schedules list`` and ``reflow schedules remove KEY``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.cli.conftest import Populated, Result

pytestmark = pytest.mark.timeout(30)

Cli = Callable[..., Result]


def test_list_shows_every_schedule_by_key(cli: Cli, populated: Populated) -> None:
    result = cli("schedules", "list", "--db", populated.db)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["KEY", "WORKFLOW", "EVERY/CRON", "NEXT", "RUN"]
    assert lines[1].split()[:4] == ["often", "greet", "every", "1h30m"]
    assert lines[2].split()[:7] == ["weekly", "greet", "cron", "0", "9", "*", "*"]


def test_list_json(cli: Cli, populated: Populated) -> None:
    document = cli("schedules", "list", "--db", populated.db, "--json").json()
    often, weekly = document["schedules"]
    assert (often["key"], often["every"], often["cron"]) == ("often", 5400.0, None)
    assert (weekly["key"], weekly["every"], weekly["cron"]) == ("weekly", None, "0 9 * * 1")
    assert weekly["input"] == {"name": "cron"}
    assert isinstance(weekly["next_run_at"], int)
    assert weekly["next_run_at_iso"].endswith("Z")


def test_remove_then_not_found(cli: Cli, populated: Populated) -> None:
    removed = cli("schedules", "remove", "weekly", "--db", populated.db)
    assert removed.code == 0, removed.err
    assert removed.out == "removed schedule 'weekly'\n"
    keys = [
        s["key"]
        for s in cli("schedules", "list", "--db", populated.db, "--json").json()["schedules"]
    ]
    assert keys == ["often"]
    again = cli("schedules", "remove", "weekly", "--db", populated.db)
    assert again.code == 3
    assert again.err == f"reflow: error: no schedule 'weekly' in {populated.db}\n"


def test_remove_json(cli: Cli, populated: Populated) -> None:
    assert cli("schedules", "remove", "often", "--db", populated.db, "--json").json() == {
        "removed": "often"
    }
