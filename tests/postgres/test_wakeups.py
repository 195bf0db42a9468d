"""LISTEN/NOTIFY: work made claimable anywhere wakes subscribers; the listener survives drops."""

from __future__ import annotations

import threading

import pytest

from reflow_actors.records import RunStatus
from tests.postgres.conftest import admin
from tests.postgres.helpers import Make, make_run

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def make(make_storage: Make) -> Make:
    return make_storage


# -- LISTEN/NOTIFY ---------------------------------------------------------------------


class Wakeups:
    """Counts callbacks; ``wait_for(n)`` blocks until ``n`` arrived."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = threading.Condition()

    def __call__(self) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.count >= count, timeout=timeout):
                raise AssertionError(
                    f"expected {count} wake-ups within {timeout}s, got {self.count}"
                )


@pytest.mark.timeout(60)
def test_enqueue_delivery_and_requeue_elsewhere_wake_a_subscriber(make: Make) -> None:
    listener, other = make(), make()
    wakeups = Wakeups()
    unsubscribe = listener.subscribe_wakeups(wakeups)
    wakeups.wait_for(1)  # once LISTEN is in effect, subscribers look once
    seen = wakeups.count

    other.create_run(make_run())  # an enqueue
    wakeups.wait_for(seen + 1)
    seen = wakeups.count

    lease = other.claim_next_run(["test"])
    assert lease is not None
    assert lease.lease_id is not None
    other.wait_run("run_1", lease.lease_id, "e", None)
    other.deliver_event("run_1", "e", 1)  # wakes the waiting run
    wakeups.wait_for(seen + 1)
    seen = wakeups.count

    other.update_run_status("run_1", RunStatus.FAILED)
    other.requeue_run("run_1")
    wakeups.wait_for(seen + 1)

    unsubscribe()
    unsubscribe()  # idempotent
    assert not [
        t for t in threading.enumerate() if t.name == f"reflow-pg-listen[{listener.schema}]"
    ]


@pytest.mark.timeout(60)
def test_the_listener_reconnects_after_its_connection_is_killed(
    make: Make, dsn: str, schema: str
) -> None:
    listener, other = make(), make()
    wakeups = Wakeups()
    listener.subscribe_wakeups(wakeups)
    wakeups.wait_for(1)
    query = "SELECT pid FROM pg_stat_activity WHERE query = %s AND datname = current_database()"
    listen = f'LISTEN "{listener.channel}"'
    with admin(dsn) as connection:
        (pid,) = connection.execute(query, (listen,)).fetchone()
        connection.execute("SELECT pg_terminate_backend(%s)", (pid,))
    wakeups.wait_for(2, timeout=10)  # reconnected: subscribers look again
    with admin(dsn) as connection:
        rows = connection.execute(query, (listen,)).fetchall()
    assert [row[0] for row in rows] != [pid]
    assert len(rows) == 1
    seen = wakeups.count
    other.create_run(make_run())
    wakeups.wait_for(seen + 1)
