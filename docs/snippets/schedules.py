"""Durable schedules: every= and cron=, one run per occurrence however many engines poll."""

from datetime import datetime, timezone

from reflow_actors import StepContext, VirtualClock, create_engine, create_workflow
from reflow_actors.storage import MemoryStorage


def cleanup(ctx: StepContext) -> dict:
    return {"older_than_days": ctx.input["older_than_days"]}


cleanup_flow = create_workflow("cleanup").step("delete-old-rows", cleanup)


def at(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


if __name__ == "__main__":
    # --8<-- [start:setup]
    clock = VirtualClock(datetime(2025, 3, 3, 8, 30, tzinfo=timezone.utc))  # a Monday
    storage = MemoryStorage(clock=clock)  # shared by both engines, as a database file would be
    engine_a = create_engine(storage=storage, workflows=[cleanup_flow], clock=clock)
    engine_b = create_engine(storage=storage, workflows=[cleanup_flow], clock=clock)
    # --8<-- [end:setup]

    # --8<-- [start:register]
    hourly = engine_a.schedule(cleanup_flow, {"older_than_days": 30}, every="1h")
    weekdays = engine_a.schedule(
        cleanup_flow, {"older_than_days": 7}, cron="0 9 * * mon-fri", key="weekday-cleanup"
    )
    for schedule in engine_a.list_schedules():
        print(
            f"{schedule.key:<24} every={schedule.every} cron={schedule.cron!r:<18}"
            f" next={at(schedule.next_run_at)}"
        )
    # --8<-- [end:register]

    # --8<-- [start:fire]
    clock.advance(3600)  # 09:30: both schedules are due
    executed = engine_a.tick() + engine_b.tick()  # both engines fire due schedules, then claim
    print("runs created:", len(engine_a.list_runs()), "| executed:", executed)

    clock.advance(5 * 3600)  # 14:30: five hourly occurrences were missed while nobody polled
    engine_b.tick()
    print(
        "runs:",
        len(engine_a.list_runs()),
        "| hourly next:",
        at(next(s for s in engine_a.list_schedules() if s.key == hourly).next_run_at),
    )

    engine_b.unschedule(weekdays)  # removed for every engine
    print([s.key for s in engine_a.list_schedules()] == [hourly])
    # --8<-- [end:fire]
    engine_a.stop()
    engine_b.stop()
