"""Binomial checkpointing (Griewank's Revolve schedule) for checkpointed loops.

A checkpointed loop of ``n`` steps keeps at most ``s`` snapshots of its state. The generated
adjoint asks this module for the next action, one at a time, and carries it out:

* ``TAKE_SNAPSHOT``: copy the loop state into snapshot ``slot``;
* ``RESTORE``: copy snapshot ``slot`` back into the loop state;
* ``ADVANCE``: run steps ``first`` to ``last - 1`` without recording anything;
* ``RECORD_STEP``: run step ``first`` recording what its adjoint needs, then its adjoint;
* ``DONE``: every step has been reversed.

The schedule reverses the steps last to first and runs the fewest plain steps possible with
``s`` snapshots: with ``r`` the smallest integer such that ``C(s + r, s) >= n``, that is
``r * n - C(s + r, s + 1)`` (Griewank and Walther, ACM TOMS 26(1), 2000). Its state is a
small array (a stack of pending sub-schedules, O(s + r) entries), not a list of actions, so
memory stays bounded however long the loop is.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "ADVANCE",
    "DONE",
    "RECORD_STEP",
    "RESTORE",
    "TAKE_SNAPSHOT",
    "revolve_next",
    "revolve_plan",
    "revolve_slots",
]

TAKE_SNAPSHOT = 0
RESTORE = 1
ADVANCE = 2
RECORD_STEP = 3
DONE = 4

# Layout of a plan: a header, a queue of up to 4 actions produced by one task, then a stack
# of tasks. A task reverses steps [a, b) given the state at a in snapshot ``slot`` (and in
# the loop's variables already when ``current`` is 1), with ``snapshots`` slots from
# ``slot`` on at its disposal.
_STACK_TOP, _QUEUED, _NEXT = 0, 1, 2
_QUEUE = 3
_QUEUE_SIZE = 4
_TASKS = _QUEUE + 4 * _QUEUE_SIZE
_TASK_SIZE = 5  # a, b, snapshots, slot, current


@numba.njit(cache=True)
def _binomial_reach(snapshots, repetitions):
    """C(snapshots + repetitions, snapshots): the most steps reversible with these numbers."""
    if repetitions < 0:
        return 0
    reach = 1
    for k in range(1, repetitions + 1):
        reach = reach * (snapshots + k) // k
    return reach


@numba.njit(cache=True)
def _repetitions(steps, snapshots):
    """The smallest r with C(snapshots + r, snapshots) >= steps."""
    r = 0
    reach = 1
    while reach < steps:
        r += 1
        reach = reach * (snapshots + r) // r
    return r


@numba.njit(cache=True)
def _split(steps, snapshots):
    """How many steps to advance before the next snapshot (an optimal choice, snapshots >= 2)."""
    r = _repetitions(steps, snapshots)
    advance = max(1, _binomial_reach(snapshots, r - 2))
    return max(advance, steps - _binomial_reach(snapshots - 1, r))


@numba.njit(cache=True)
def revolve_slots(steps, snapshots):
    """The number of snapshot slots a loop of ``steps`` steps uses with ``snapshots``."""
    if snapshots < 1:
        raise ValueError("a checkpointed loop needs at least one snapshot")
    return max(1, min(snapshots, steps))


@numba.njit(cache=True)
def revolve_plan(steps, snapshots):
    """A fresh schedule for reversing ``steps`` loop steps with ``snapshots`` snapshots."""
    snapshots = revolve_slots(steps, snapshots)
    depth = snapshots + _repetitions(steps, snapshots) + 2
    plan = np.zeros(_TASKS + _TASK_SIZE * depth, dtype=np.int64)
    if steps > 1:
        _queue(plan, TAKE_SNAPSHOT, 0, 0, 0)
    if steps > 0:
        _push(plan, 0, steps, snapshots, 0, 1)
    return plan


@numba.njit(cache=True)
def _queue(plan, action, first, last, slot):
    at = _QUEUE + 4 * plan[_QUEUED]
    plan[at] = action
    plan[at + 1] = first
    plan[at + 2] = last
    plan[at + 3] = slot
    plan[_QUEUED] += 1


@numba.njit(cache=True)
def _push(plan, a, b, snapshots, slot, current):
    at = _TASKS + _TASK_SIZE * plan[_STACK_TOP]
    plan[at] = a
    plan[at + 1] = b
    plan[at + 2] = snapshots
    plan[at + 3] = slot
    plan[at + 4] = current
    plan[_STACK_TOP] += 1


@numba.njit(cache=True)
def _expand(plan):
    """Turn the task on top of the stack into queued actions and smaller tasks."""
    plan[_STACK_TOP] -= 1
    at = _TASKS + _TASK_SIZE * plan[_STACK_TOP]
    a, b, snapshots, slot, current = (
        plan[at],
        plan[at + 1],
        plan[at + 2],
        plan[at + 3],
        plan[at + 4],
    )
    if not current:
        _queue(plan, RESTORE, a, a, slot)
    if b - a == 1:
        _queue(plan, RECORD_STEP, a, b, slot)
    elif snapshots == 1:
        # one snapshot: advance from it to the last step, record that step, repeat
        _queue(plan, ADVANCE, a, b - 1, slot)
        _queue(plan, RECORD_STEP, b - 1, b, slot)
        _push(plan, a, b - 1, 1, slot, 0)
    else:
        middle = a + _split(b - a, snapshots)
        _queue(plan, ADVANCE, a, middle, slot)
        _queue(plan, TAKE_SNAPSHOT, middle, middle, slot + 1)
        _push(plan, a, middle, snapshots, slot, 0)
        _push(plan, middle, b, snapshots - 1, slot + 1, 1)


@numba.njit(cache=True)
def revolve_next(plan):
    """The next action of the schedule: ``(action, first, last, slot)``."""
    while plan[_NEXT] == plan[_QUEUED]:
        plan[_QUEUED] = 0
        plan[_NEXT] = 0
        if plan[_STACK_TOP] == 0:
            return DONE, 0, 0, 0
        _expand(plan)
    at = _QUEUE + 4 * plan[_NEXT]
    plan[_NEXT] += 1
    return plan[at], plan[at + 1], plan[at + 2], plan[at + 3]
