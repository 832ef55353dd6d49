"""Binomial checkpointing (Griewank's Revolve schedule) for checkpointed loops.

A checkpointed loop of ``n`` steps keeps at most ``s`` snapshots of its state. The generated
adjoint asks this module for the next action, one at a time, and carries it out. An action
``(action, restore, first, last, slot)`` says: restore the state from snapshot ``restore``
first (unless it is -1), run steps ``first`` to ``last - 1`` without recording anything, and
then

* ``TAKE_SNAPSHOT``: copy the state (now at step ``last``) into snapshot ``slot``;
* ``RECORD_STEP``: run step ``last`` recording what its adjoint needs, then its adjoint;
* ``DONE``: nothing; every step has been reversed.

The schedule reverses the steps last to first and runs the fewest plain steps possible with
``s`` snapshots: with ``r`` the smallest integer such that ``C(s + r, s) >= n``, that is
``r * n - C(s + r, s + 1)`` (Griewank and Walther, ACM TOMS 26(1), 2000). Its state is a
small array (a stack of pending sub-schedules, O(s + r) entries), not a list of actions, so
memory stays bounded however long the loop is. Each pending sub-schedule yields exactly one
action, so the schedule costs a few integer operations per loop step.
"""

from __future__ import annotations

import numba
import numpy as np

from .exports import EXPORTS

__all__ = list(EXPORTS["checkpoint"])  # (the names: exports.py)

TAKE_SNAPSHOT = 0
RECORD_STEP = 1
DONE = 2

# Layout of a plan: a header, then a stack of tasks. A task reverses steps [a, b) given the
# state at a in snapshot ``slot`` (and in the loop's variables already when ``current`` is
# 1); the slots from ``slot`` to the last are at its disposal. It also carries its number of
# repetitions ``reps`` (the smallest r with C(snapshots + r, snapshots) >= b - a) and that
# binomial, ``reach``, so that splitting it takes a few integer operations.
_STACK_TOP, _SLOTS, _FIRST_SNAPSHOT = 0, 1, 2
_TASKS = 3
_TASK_SIZE = 6  # a, b, slot, current, reps, reach


@numba.njit(cache=True)
def _repetitions(steps, snapshots):
    """The smallest r with C(snapshots + r, snapshots) >= steps, and that binomial."""
    r = 0
    reach = 1
    while reach < steps:
        r += 1
        reach = reach * (snapshots + r) // r
    return r, reach


@numba.njit(cache=True)
def _fewer_repetitions(steps, snapshots, reps, reach):
    """Lower (reps, reach) from an upper bound to the smallest reps that still reaches steps."""
    while reps > 0:
        below = reach * reps // (snapshots + reps)  # C(snapshots + reps - 1, snapshots)
        if below < steps:
            break
        reps -= 1
        reach = below
    return reps, reach


@numba.njit(cache=True)
def revolve_slots(steps, snapshots):
    """The number of snapshot slots a loop of ``steps`` steps uses with ``snapshots``."""
    if snapshots < 1:
        raise ValueError("a checkpointed loop needs at least one snapshot")
    return max(1, min(snapshots, steps))


@numba.njit(cache=True)
def revolve_plan(steps, snapshots):
    """A fresh schedule for reversing ``steps`` loop steps with ``snapshots`` snapshots."""
    slots = revolve_slots(steps, snapshots)
    reps, reach = _repetitions(steps, slots)
    depth = slots + reps + 2
    plan = np.zeros(_TASKS + _TASK_SIZE * depth, dtype=np.int64)
    plan[_SLOTS] = slots
    plan[_FIRST_SNAPSHOT] = 1 if steps > 1 else 0  # the initial state goes into slot 0
    if steps > 0:
        _push(plan, 0, steps, 0, 1, reps, reach)
    return plan


@numba.njit(cache=True)
def _push(plan, a, b, slot, current, reps, reach):
    at = _TASKS + _TASK_SIZE * plan[_STACK_TOP]
    plan[at] = a
    plan[at + 1] = b
    plan[at + 2] = slot
    plan[at + 3] = current
    plan[at + 4] = reps
    plan[at + 5] = reach
    plan[_STACK_TOP] += 1


@numba.njit(cache=True)
def revolve_next(plan):
    """The next action of the schedule: ``(action, restore, first, last, slot)``."""
    if plan[_FIRST_SNAPSHOT]:
        plan[_FIRST_SNAPSHOT] = 0
        return TAKE_SNAPSHOT, -1, 0, 0, 0
    top = plan[_STACK_TOP] - 1
    if top < 0:
        return DONE, -1, 0, 0, 0
    plan[_STACK_TOP] = top
    at = _TASKS + _TASK_SIZE * top
    a = plan[at]
    b = plan[at + 1]
    slot = plan[at + 2]
    restore = -1 if plan[at + 3] else slot
    reps = plan[at + 4]
    reach = plan[at + 5]
    steps = b - a
    snapshots = plan[_SLOTS] - slot
    if steps == 1:
        return RECORD_STEP, restore, a, a, slot
    if snapshots == 1:
        # one snapshot: advance from it to the last step, record that step, repeat
        _push(plan, a, b - 1, slot, 0, steps - 2, steps - 1)
        return RECORD_STEP, restore, a, b - 1, slot
    # An optimal split (Griewank and Walther): advance by at least C(s + r - 2, s) and by
    # enough that the rest fits C(s + r - 1, s - 1), the reach of one snapshot fewer. Both
    # binomials follow from reach = C(s + r, s) by Pascal's rule.
    left_reach = reach * reps // (snapshots + reps)  # C(s + r - 1, s)
    right_reach = reach - left_reach  # C(s + r - 1, s - 1)
    shortest = left_reach * (reps - 1) // (snapshots + reps - 1)  # C(s + r - 2, s)
    advance = max(1, shortest, steps - right_reach)
    middle = a + advance
    left_reps, left_reach = _fewer_repetitions(advance, snapshots, reps - 1, left_reach)
    right_reps, right_reach = _fewer_repetitions(steps - advance, snapshots - 1, reps, right_reach)
    _push(plan, a, middle, slot, 0, left_reps, left_reach)
    _push(plan, middle, b, slot + 1, 1, right_reps, right_reach)
    return TAKE_SNAPSHOT, restore, a, middle, slot + 1
