"""SaaS signup with compensation (the saga pattern).

    create-account -> charge-card -> provision -> send-welcome

Each step is durable: once it has returned, its output is on disk and the step
never runs again for that run, whatever crashes later. If a step fails for
good (after its retries), the workflow's ``.on_failure`` handler runs once and
*compensates*: it refunds what was charged and deletes the account, so a
failed signup leaves nothing half-done behind.

This script signs up two customers against fake in-process services: Ada,
whose signup completes, and Bob, who asks for a region that cannot be
provisioned, so his signup fails and is compensated::

    python examples/saas_signup.py [path/to/saas-signup.db]

``main()`` returns what happened (run statuses and the services' final state).
"""

from __future__ import annotations

import itertools
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, TypedDict

from reflow_actors import (
    Engine,
    FailureContext,
    Retry,
    StepContext,
    Workflow,
    create_engine,
    create_workflow,
)
from reflow_actors.storage import SQLiteStorage

PRICES_CENTS = {"starter": 900, "pro": 4900}


# --- the workflow's data --------------------------------------------------------------


@dataclass(frozen=True)
class Signup:
    """The workflow input. A dataclass schema: ``enqueue`` validates it with ``Signup(**value)``."""

    email: str
    plan: str
    region: str


# Step outputs are persisted, so they are plain data: TypedDicts are dicts.
class Account(TypedDict):
    account_id: str
    email: str


class Charge(TypedDict):
    charge_id: str
    account_id: str
    amount_cents: int


class Tenant(TypedDict):
    tenant_id: str
    region: str


class Welcome(TypedDict):
    sent_to: str
    tenant_id: str


# --- fake third-party services ------------------------------------------------------


class ProvisioningError(Exception):
    """The cloud provider could not create the tenant."""


@dataclass
class Services:
    """Stand-ins for an accounts database, a payment provider, a cloud API and a mailer.

    Every operation is idempotent (keyed by the customer's email): a step that
    runs again after a crash must not create a second account or charge twice.
    """

    unavailable_regions: frozenset[str] = frozenset({"mars-1"})
    accounts: dict[str, str] = field(default_factory=dict)  # email -> account id
    charges: dict[str, Charge] = field(default_factory=dict)  # email -> charge
    refunds: list[str] = field(default_factory=list)  # refunded charge ids
    tenants: dict[str, Tenant] = field(default_factory=dict)
    emails: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create_account(self, email: str) -> str:
        with self._lock:
            if email not in self.accounts:
                self.accounts[email] = f"acct_{next(self._ids)}"
                self.log.append(f"create account {email}")
            return self.accounts[email]

    def delete_account(self, email: str) -> None:
        with self._lock:
            if self.accounts.pop(email, None) is not None:
                self.log.append(f"delete account {email}")

    def charge(self, email: str, account_id: str, amount_cents: int) -> Charge:
        with self._lock:
            if email not in self.charges:
                charge_id = f"ch_{next(self._ids)}"
                self.charges[email] = Charge(
                    charge_id=charge_id, account_id=account_id, amount_cents=amount_cents
                )
                self.log.append(f"charge {email} {amount_cents}")
            return self.charges[email]

    def refund(self, email: str) -> None:
        with self._lock:
            charge = self.charges.get(email)
            if charge is not None and charge["charge_id"] not in self.refunds:
                self.refunds.append(charge["charge_id"])
                self.log.append(f"refund {email} {charge['amount_cents']}")

    def provision(self, email: str, region: str) -> Tenant:
        with self._lock:
            if region in self.unavailable_regions:
                self.log.append(f"provision {email} in {region} failed")
                raise ProvisioningError(f"no capacity in region {region}")
            tenant = self.tenants.setdefault(
                email, Tenant(tenant_id=f"tn_{next(self._ids)}", region=region)
            )
            self.log.append(f"provision {email} in {region}")
            return tenant

    def send_welcome(self, email: str) -> None:
        with self._lock:
            if email not in self.emails:
                self.emails.append(email)
                self.log.append(f"welcome {email}")


# --- the workflow ---------------------------------------------------------------------


def build_signup_workflow(services: Services) -> Workflow[Signup, Welcome]:
    """The signup workflow, bound to ``services``.

    Handlers are annotated ``StepContext[Input, Prev]``: a type checker then
    verifies that each step accepts what the step before it returns.
    """

    def create_account(ctx: StepContext[Signup, None]) -> Account:
        account_id = services.create_account(ctx.input.email)
        return Account(account_id=account_id, email=ctx.input.email)

    def charge_card(ctx: StepContext[Signup, Account]) -> Charge:
        amount = PRICES_CENTS[ctx.input.plan]
        return services.charge(ctx.input.email, ctx.prev["account_id"], amount)

    def provision(ctx: StepContext[Signup, Charge]) -> Tenant:
        return services.provision(ctx.input.email, ctx.input.region)

    def send_welcome(ctx: StepContext[Signup, Tenant]) -> Welcome:
        services.send_welcome(ctx.input.email)
        return Welcome(sent_to=ctx.input.email, tenant_id=ctx.prev["tenant_id"])

    def compensate(failure: FailureContext[Signup]) -> None:
        # Called once, after the run is marked failed. It gets the input and the
        # failed step, not the outputs, so each undo is keyed by the input and is
        # a no-op when there is nothing to undo.
        services.log.append(f"compensate {failure.input.email} after {failure.step_name}")
        services.refund(failure.input.email)
        services.delete_account(failure.input.email)

    return (
        create_workflow("saas-signup", input=Signup)
        .step("create-account", create_account)
        .step("charge-card", charge_card)
        # A provider hiccup deserves a second try; a real outage fails the run.
        .step("provision", provision, retry=Retry(max_attempts=2, initial_delay=0.05))
        .step("send-welcome", send_welcome)
        .on_failure(compensate)
    )


# --- running it -----------------------------------------------------------------------


def _outcome(engine: Engine, run_id: str, email: str, services: Services) -> dict[str, Any]:
    info = engine.get_run_status(run_id)
    assert info is not None
    failed = next((step for step in info.steps if step.status == "failed"), None)
    charge = services.charges.get(email)
    return {
        "run_id": run_id,
        "status": info.run.status.value,
        "steps": {step.name: (step.status.value, step.attempts) for step in info.steps},
        "failed_step": failed.name if failed else None,
        "error": failed.error if failed else None,
        "has_account": email in services.accounts,
        "charged_cents": charge["amount_cents"] if charge else 0,
        "refunded": charge is not None and charge["charge_id"] in services.refunds,
        "welcomed": email in services.emails,
    }


def main(path: str = "saas-signup.db") -> dict[str, Any]:
    """Sign up Ada (succeeds) and Bob (fails in provisioning, compensated); return the outcome."""
    services = Services()
    signup = build_signup_workflow(services)
    storage = SQLiteStorage(path)
    engine = create_engine(storage=storage, workflows=[signup])
    customers = {
        "ada@example.com": Signup("ada@example.com", "pro", "eu-west-1"),
        "bob@example.com": Signup("bob@example.com", "pro", "mars-1"),
    }
    try:
        runs = {
            email: engine.enqueue(signup, signup_input) for email, signup_input in customers.items()
        }
        # Drive the engine in this thread: tick() claims a run, executes it, and
        # returns once it has finished, including its on_failure handler. A
        # long-lived service would call engine.start() instead.
        while engine.tick():
            pass
        results = {email: _outcome(engine, run.id, email, services) for email, run in runs.items()}
        return {"customers": results, "log": list(services.log)}
    finally:
        engine.stop()
        storage.close()


if __name__ == "__main__":
    outcome = main(*sys.argv[1:])
    for email, result in outcome["customers"].items():
        print(f"{email}: {result['status']}")
        for name, (status, attempts) in result["steps"].items():
            print(f"  {name:<15} {status:<10} attempts={attempts}")
        if result["failed_step"]:
            print(f"  failed at {result['failed_step']}: {result['error']}")
        print(
            f"  account kept: {result['has_account']}, charged: {result['charged_cents']} cents, "
            f"refunded: {result['refunded']}, welcomed: {result['welcomed']}"
        )
    print("service log:")
    for line in outcome["log"]:
        print(f"  {line}")
