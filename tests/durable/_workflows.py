"""Workflows shared by the multi-process tests and their worker processes.

Every handler records the pid of the process that ran it, so a test can tell
which process executed which step.
"""

from __future__ import annotations

import os
from typing import Any

from reflow_actors import create_workflow


def _pid(ctx: Any) -> dict[str, Any]:
    return {"pid": os.getpid(), "prev": ctx.prev}


BEAT = create_workflow("beat").step("record", _pid)
"""A one-step workflow for schedules."""

NAP = create_workflow("nap").step("before", _pid).sleep("nap", 2).step("after", _pid)
"""Sleeps 2 real seconds between two steps."""

APPROVAL = (
    create_workflow("approval").step("begin", _pid).wait_for_event("approved").step("finish", _pid)
)
"""Waits for the ``approved`` event between two steps."""

ALL = [BEAT, NAP, APPROVAL]
