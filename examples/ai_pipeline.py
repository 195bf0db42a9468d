"""An AI pipeline whose paid model calls are never paid for twice, even across a crash.

    scrape -> summarize (paid) -> extract (paid) -> store

``summarize`` and ``extract`` stand in for LLM calls: each call records its
cost in a billing ledger (``<name>-app.sqlite``, next to the database). A
step's output is durable as soon as the step returns, so when the process
dies after ``summarize``, the next process reuses the stored summary instead
of calling the model again::

    python examples/ai_pipeline.py --crash-after-summarize   # dies as extract begins
    python examples/ai_pipeline.py                           # resumes: pays for extract only

The second invocation enqueues with the same idempotency key, so it gets the
crashed run back; the engine reclaims it once the dead process's lease
(``LEASE_SECONDS``) has expired. Running the script yet again finds the run
completed and pays nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from reflow_actors import Retry, StepContext, Workflow, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage

LEASE_SECONDS = 2.0
CENTS_PER_WORD = 1  # a pricey model
NOT_NAMES = frozenset({"The", "A", "An"})

PAGES = {
    "https://example.com/launch": (
        "Acme Corp launched Rocket Skates in Phoenix today. "
        "The skates reach forty miles per hour and ship in June. "
        "Wile Coyote, an early tester, called them unforgettable."
    ),
}


@dataclass(frozen=True)
class Page:
    """The workflow input: which page to process, and where the app keeps its data."""

    url: str
    app_db: str


class Scraped(TypedDict):
    url: str
    text: str


class Summary(TypedDict):
    summary: str
    cents: int


class Entities(TypedDict):
    entities: list[str]
    cents: int


class Stored(TypedDict):
    document_id: str


# --- the application's own database: billing ledger and documents ------------------------


def create_app_db(path: str) -> None:
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS llm_calls (step TEXT, url TEXT, cents INTEGER, pid INTEGER)"
        )
        connection.execute(
            "CREATE TABLE IF NOT EXISTS documents"
            " (url TEXT PRIMARY KEY, summary TEXT, entities TEXT)"
        )


def fake_llm(app_db: str, step: str, url: str, prompt: str) -> int:
    """Pretend to call a model: bill the call (committed at once, like a real invoice)."""
    cents = len(prompt.split()) * CENTS_PER_WORD
    with closing(sqlite3.connect(app_db)) as connection, connection:
        connection.execute(
            "INSERT INTO llm_calls (step, url, cents, pid) VALUES (?, ?, ?, ?)",
            (step, url, cents, os.getpid()),
        )
    return cents


# --- the workflow ---------------------------------------------------------------------------


def scrape(ctx: StepContext[Page, None]) -> Scraped:
    return Scraped(url=ctx.input.url, text=PAGES[ctx.input.url])


def summarize(ctx: StepContext[Page, Scraped]) -> Summary:
    cents = fake_llm(ctx.input.app_db, "summarize", ctx.input.url, ctx.prev["text"])
    first_sentence = ctx.prev["text"].split(". ")[0]
    return Summary(summary=first_sentence + ".", cents=cents)


def build_pipeline(crash_after_summarize: bool = False) -> Workflow[Page, Stored]:
    """The pipeline; ``crash_after_summarize`` kills the process as ``extract`` begins."""

    def extract(ctx: StepContext[Page, Summary]) -> Entities:
        if crash_after_summarize:
            print("simulated crash after summarize", flush=True)
            os._exit(1)  # as abrupt as kill -9: no cleanup at all
        # ctx.steps has every earlier output, here the scraped text.
        text: str = ctx.steps["scrape"]["text"]
        cents = fake_llm(ctx.input.app_db, "extract", ctx.input.url, text)
        names = re.findall(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)*", text)
        return Entities(entities=sorted(set(names) - NOT_NAMES), cents=cents)

    def store(ctx: StepContext[Page, Entities]) -> Stored:
        summary: str = ctx.steps["summarize"]["summary"]
        # An upsert: storing twice (after a crash right here) changes nothing.
        with closing(sqlite3.connect(ctx.input.app_db)) as connection, connection:
            connection.execute(
                "INSERT OR REPLACE INTO documents (url, summary, entities) VALUES (?, ?, ?)",
                (ctx.input.url, summary, ", ".join(ctx.prev["entities"])),
            )
        return Stored(document_id=ctx.input.url)

    return (
        create_workflow("ai-pipeline", input=Page)
        .step("scrape", scrape, retry=Retry(max_attempts=3, initial_delay=0.1))
        .step("summarize", summarize)
        .step("extract", extract)
        .step("store", store)
    )


# --- running it -----------------------------------------------------------------------------


def main(
    path: str = "ai-pipeline.db",
    crash_after_summarize: bool = False,
    url: str = "https://example.com/launch",
) -> dict[str, Any]:
    """Run (or resume) the pipeline for ``url``; return the run and every model call billed."""
    db = Path(path)
    app_db = str(db.with_name(f"{db.stem}-app.sqlite").resolve())
    create_app_db(app_db)
    pipeline = build_pipeline(crash_after_summarize)
    storage = SQLiteStorage(db)
    engine = create_engine(storage=storage, workflows=[pipeline], lease_duration=LEASE_SECONDS)
    try:
        run = engine.enqueue(pipeline, Page(url, app_db), idempotency_key=f"page:{url}")
        engine.start(poll_interval=0.2)
        info = engine.wait(run.id, timeout=60)
    finally:
        engine.stop()
        storage.close()

    with closing(sqlite3.connect(app_db)) as connection:
        calls = connection.execute(
            "SELECT step, cents, pid FROM llm_calls WHERE url = ? ORDER BY rowid", (url,)
        ).fetchall()
        document = connection.execute(
            "SELECT summary, entities FROM documents WHERE url = ?", (url,)
        ).fetchone()
    return {
        "run_id": info.run.id,
        "status": info.run.status.value,
        "attempts": {step.name: step.attempts for step in info.steps},
        "llm_calls": [{"step": step, "cents": cents, "pid": pid} for step, cents, pid in calls],
        "total_cents": sum(cents for _step, cents, _pid in calls),
        "document": None if document is None else {"summary": document[0], "entities": document[1]},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", default="ai-pipeline.db", help="the reflow database file")
    parser.add_argument("--crash-after-summarize", action="store_true")
    arguments = parser.parse_args()
    outcome = main(arguments.db, arguments.crash_after_summarize)
    print(f"run {outcome['run_id']}: {outcome['status']}")
    print(f"  step attempts: {outcome['attempts']}")
    for call in outcome["llm_calls"]:
        print(f"  paid {call['cents']} cents for {call['step']} (process {call['pid']})")
    print(f"  total: {outcome['total_cents']} cents")
    print(f"  stored: {outcome['document']}")
