"""Labelled attack scenarios and near-miss negatives covering the ten controls of the guide.

Firing scenarios sit in the hunt window (the last five days) unless they need history (weekly
digests, dormancy, the audit gap); every scenario labels the records it planted.
"""

from __future__ import annotations

import random

from cloudtrail_hunt.synth.identities import Org
from cloudtrail_hunt.synth.records import Ids
from cloudtrail_hunt.synth.scenarios import chains, guards, humans, hygiene, roles, root
from cloudtrail_hunt.synth.scenarios.base import CONTROLS, GUIDE, Ctx
from cloudtrail_hunt.synth.schedule import Schedule
from cloudtrail_hunt.synth.trail import Trail

__all__ = ["CONTROLS", "GUIDE", "Ctx", "plant_all", "run_all"]

_MODULES = (root, humans, roles, guards, hygiene, chains)


def plant_all(org: Org, sched: Schedule, trail: Trail, seed: int, extra_region: str) -> Ctx:
    """Add the scenario cast (users, keys) to `org` before any traffic is generated.

    Parameters
    ----------
    org, sched, trail
        The organisation, calendar and record collector of the run.
    seed
        Run seed; scenarios draw from their own RNG stream.
    extra_region
        A region outside the SCP allow-list used by the near-miss of aws-iam-08.

    Returns
    -------
    Ctx
        The scenario context, to pass to `run_all`.
    """
    ctx = Ctx(org, sched, trail, Ids(random.Random(f"{seed}/scenarios")), extra_region)
    for module in _MODULES:
        plant = getattr(module, "plant", None)
        if plant is not None:
            plant(ctx)
    return ctx


def run_all(ctx: Ctx) -> Ctx:
    """Emit every scenario's records and labels (after routine traffic exists)."""
    for module in _MODULES:
        module.run(ctx)
    return ctx
