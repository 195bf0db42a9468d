"""Driving the engine by messages from your own pykka actors."""

import threading
from dataclasses import dataclass

import pykka

from reflow_actors import Hooks, create_engine, create_workflow
from reflow_actors.messages import Enqueue, SendEvent, Tick
from reflow_actors.storage import SQLiteStorage

errors: list[BaseException] = []
reported = threading.Event()


def report(error: BaseException) -> None:
    errors.append(error)
    reported.set()


# --8<-- [start:workflow]
order = (
    create_workflow("order")
    .step("reserve", lambda ctx: {"order_id": ctx.input["order_id"]})
    .wait_for_event("paid")
    .step("ship", lambda ctx: {"shipped": True, "paid_cents": ctx.prev["cents"]})
)
engine = create_engine(
    storage=SQLiteStorage("actors-demo.db"), workflows=[order], hooks=Hooks(on_error=report)
)
# --8<-- [end:workflow]


# --8<-- [start:actor]
@dataclass(frozen=True)
class OrderPlaced:
    order_id: str


@dataclass(frozen=True)
class PaymentConfirmed:
    run_id: str
    cents: int


class Checkout(pykka.ThreadingActor):
    """An actor of your application that starts and steers workflow runs."""

    def __init__(self, dispatcher: pykka.ActorRef) -> None:
        super().__init__()
        self.dispatcher = dispatcher

    def on_receive(self, message: object) -> None:
        # tell, never a blocking ask, from inside an actor
        if isinstance(message, OrderPlaced):
            self.dispatcher.tell(Enqueue("order", {"order_id": message.order_id}, message.order_id))
        elif isinstance(message, PaymentConfirmed):
            self.dispatcher.tell(SendEvent(message.run_id, "paid", {"cents": message.cents}))


# --8<-- [end:actor]


if __name__ == "__main__":
    # --8<-- [start:run]
    engine.start()
    checkout = Checkout.start(engine.dispatcher)
    try:
        checkout.tell(OrderPlaced("o-7"))
        # Outside actors, ask with a timeout: Enqueue with the same key returns that run.
        run = engine.dispatcher.ask(Enqueue("order", {"order_id": "o-7"}, "o-7"), timeout=5)
        checkout.tell(PaymentConfirmed(run.id, 4900))
        info = engine.wait(run.id, timeout=30)
        print(info.run.status, info.step("ship").output)

        print("claimed now:", engine.dispatcher.ask(Tick(), timeout=5))  # nothing left to claim

        engine.dispatcher.tell(Enqueue("invoice", {}))  # not registered: the error goes to on_error
        reported.wait(timeout=5)
        print("on_error got:", repr(errors[0]))
    finally:
        checkout.stop()
        engine.stop()
    # --8<-- [end:run]
