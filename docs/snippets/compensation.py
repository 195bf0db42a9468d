"""Compensation with on_failure, the error a failed step records, and resuming a failed run."""

from reflow_actors import FailureContext, Retry, StepContext, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage

ledger: list[str] = []
capacity = {"eu-1": 0}  # provisioning fails until capacity is added


# --8<-- [start:workflow]
def charge(ctx: StepContext) -> dict:
    ledger.append(f"charge {ctx.input['email']}")
    return {"charge_id": "ch_1", "cents": 4900}


def provision(ctx: StepContext) -> dict:
    region = ctx.input["region"]
    if capacity[region] == 0:
        raise RuntimeError(f"no capacity in {region}")
    return {"instance": f"{region}/i-1"}


def compensate(failure: FailureContext) -> None:
    # Called once, after the run was recorded failed: undo what succeeded.
    ledger.append(f"compensate after {failure.step_name}: {failure.error}")
    ledger.append(f"refund {failure.input['email']}")


signup = (
    create_workflow("signup")
    .step("charge", charge)
    .step("provision", provision, retry=Retry(max_attempts=2, initial_delay=0.05))
    .on_failure(compensate)
)
# --8<-- [end:workflow]

if __name__ == "__main__":
    # --8<-- [start:run]
    engine = create_engine(storage=SQLiteStorage("signup.db"), workflows=[signup])
    with engine:
        run = engine.enqueue(signup, {"email": "bob@example.com", "region": "eu-1"})
        info = engine.wait(run.id, timeout=30)
        print(info.run.status)
        for step in info.steps:
            print(f"  {step.name:<10} {step.status:<9} attempts={step.attempts} error={step.error}")
        print("ledger:", ledger)

        capacity["eu-1"] = 1  # fix the cause, then resume: "charge" is not run again
        engine.resume(run.id)
        info = engine.wait(run.id, timeout=30)
        print(info.run.status)
        for step in info.steps:
            print(f"  {step.name:<10} {step.status:<9} attempts={step.attempts} error={step.error}")
        print("ledger:", ledger)
    # --8<-- [end:run]
