"""The code ``docs/postgres.md`` shows runs against a real server and does what the page says.

The page's examples use a placeholder server and the default schema; here the
placeholder becomes the test server and the test's own schema, and nothing
else in the code changes.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import reflow_actors.conformance
from reflow_actors import create_workflow
from reflow_actors.records import RunStatus, StepResult, StepStatus, WorkflowRun
from reflow_actors.storage import SQLiteStorage
from reflow_actors.storage.postgres import PostgresStorage
from tests.postgres.conftest import admin

pytestmark = [pytest.mark.postgres]

PAGE = Path(__file__).resolve().parents[2] / "docs" / "postgres.md"
PLACEHOLDER = '"postgresql://reflow@db.internal/app"'
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")


def blocks(language: str) -> list[str]:
    """The page's fenced code blocks in ``language``, dedented, in page order."""
    found: list[str] = []
    lines = PAGE.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening and opening.group(2) == language:
            body: list[str] = []
            index += 1
            while not FENCE.match(lines[index]):
                body.append(lines[index])
                index += 1
            found.append(textwrap.dedent("\n".join(body)))
        index += 1
    return found


def block(language: str, containing: str) -> str:
    (only,) = [code for code in blocks(language) if containing in code]
    return only


def test_the_page_shows_the_blocks_these_tests_run() -> None:
    assert len(blocks("python")) == 3
    assert len(blocks("sql")) == 2


@pytest.mark.timeout(60)
def test_the_opening_example_runs_a_workflow(dsn: str, schema: str) -> None:
    code = block("python", "create_engine(storage=storage")
    assert PLACEHOLDER in code
    code = code.replace(PLACEHOLDER, repr(dsn)).replace('schema="reflow"', f'schema="{schema}"')
    order = create_workflow("order").step("charge", lambda ctx: {"charged": ctx.input})
    namespace: dict[str, Any] = {"order": order}
    exec(compile(code, str(PAGE), "exec"), namespace)
    namespace["storage"].close()
    with admin(dsn) as connection:
        row = connection.execute(
            f'SELECT status FROM "{schema}".workflow_runs WHERE workflow = %s', ("order",)
        ).fetchone()
    assert row is not None  # enqueued; the engine may or may not have finished it on exit


def test_the_retention_query_deletes_old_finished_runs_with_their_rows(
    make_storage: Callable[..., PostgresStorage], dsn: str, schema: str
) -> None:
    storage = make_storage()
    for run_id, status, updated in (
        ("old-done", "completed", 1),
        ("old-failed", "failed", 1),
        ("old-pending", "pending", 1),
        ("new-done", "completed", 2**50),
    ):
        storage.create_run(WorkflowRun(run_id, "w", {}, None, RunStatus(status), 1, updated))
        storage.save_step_result(StepResult("a", StepStatus.COMPLETED, 1, run_id=run_id))
        storage.deliver_event(run_id, "e", 1)
    query = block("sql", "DELETE FROM reflow.workflow_runs").replace("reflow.", f'"{schema}".')
    with admin(dsn) as connection:
        connection.execute(query)
    assert sorted(run.id for run in storage.list_runs()) == ["new-done", "old-pending"]
    for gone in ("old-done", "old-failed"):
        assert storage.get_step_results(gone) == []
        assert storage.take_event(gone, "e") is None
    assert storage.take_event("old-pending", "e") is not None


@pytest.mark.timeout(60)
def test_the_copy_recipe_moves_a_sqlite_file(
    dsn: str, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = SQLiteStorage("reflow.db")
    source.initialize()
    source.create_run(WorkflowRun("r1", "w", {"n": 1}, "key-1", RunStatus.PENDING, 1, 1))
    source.close()
    code = block("python", "copy_storage(source, target)")
    assert PLACEHOLDER in code
    code = code.replace(PLACEHOLDER, f"{dsn!r}, schema={schema!r}")
    namespace: dict[str, Any] = {}
    exec(compile(code, str(PAGE), "exec"), namespace)
    report = namespace["report"]
    assert (report.runs, report.runs_skipped, report.exact) == (1, 0, True)
    target = PostgresStorage(dsn, schema=schema)
    try:
        copied = target.get_run("r1")
        assert copied is not None
        assert (copied.input, copied.idempotency_key) == ({"n": 1}, "key-1")
    finally:
        target.close()


@pytest.mark.timeout(60)
def test_the_conformance_recipe_runs_and_cleans_up(
    dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = block("python", "for case in CASES")
    # The whole suite runs in test_conformance.py; a few cases show the recipe works.
    monkeypatch.setattr(reflow_actors.conformance, "CASES", reflow_actors.conformance.CASES[:5])
    exec(compile(code, str(PAGE), "exec"), {"dsn": dsn})
    with admin(dsn) as connection:
        left = connection.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'conformance_%'"
        ).fetchone()
    assert left == (0,)
