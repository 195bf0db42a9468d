"""Quick start: a three-step signup workflow, durable on a local SQLite file.

Run it twice: the second run finds the first run's results in reflow-demo.db.
"""

from __future__ import annotations

import sys

from reflow_actors import StepContext, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage


def create_user(ctx: StepContext[dict[str, str], None]) -> dict[str, str]:
    return {"user_id": "u-" + ctx.input["email"].split("@")[0]}


def send_welcome(ctx: StepContext[dict[str, str], dict[str, str]]) -> dict[str, str]:
    return {"sent_to": ctx.input["email"], "user_id": ctx.prev["user_id"]}


def start_trial(ctx: StepContext[dict[str, str], dict[str, str]]) -> dict[str, object]:
    return {"user_id": ctx.prev["user_id"], "trial_days": 14}


signup = (
    create_workflow("signup")
    .step("create-user", create_user)
    .step("send-welcome", send_welcome)
    .step("start-trial", start_trial)
)


def main(path: str = "reflow-demo.db") -> None:
    engine = create_engine(storage=SQLiteStorage(path), workflows=[signup])
    with engine:
        run = engine.enqueue(signup, {"email": "ada@example.com"})
        info = engine.wait(run.id, timeout=30)
    print(f"run {info.run.id}: {info.run.status}")
    for step in info.steps:
        print(f"  {step.name:<13} {step.status:<10} attempts={step.attempts} output={step.output}")


if __name__ == "__main__":
    main(*sys.argv[1:])
