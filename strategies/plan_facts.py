"""What a plan will do, as plain data: what an approver approves.

Two plans with the same facts run the same way (same servers in the same
order, same steps, commands, timeouts and waits, same strategy and
parallelism, same failure policy). An approval keeps the facts of the plan it
showed; when the approved deploy starts, it is planned again and run only if
the facts are the same, and otherwise the changes are listed and the approver
is asked again.
"""

from __future__ import annotations

import json
from typing import Any

from strategies.plan import DeployPlan


def plan_facts(plan: DeployPlan) -> dict[str, Any]:
    deploy = plan.app.deploy
    return {
        "strategy": plan.strategy,
        "ref": plan.ref,
        "servers": [s.name for s in plan.servers],
        "workers": plan.workers,
        "migrations_server": plan.migrations_server,
        "waits": [w.seconds for w in plan.waits],
        "on_failure": [deploy.on_failure, str(deploy.max_failures or "")],
        "load_balancer": plan.app.load_balancer.type,
        "steps": {
            s.name: [[st.kind, st.command or "", st.timeout, st.seconds] for st in s.steps]
            for s in plan.servers
        },
    }


def facts_text(plan: DeployPlan) -> str:
    return json.dumps(plan_facts(plan), sort_keys=True)


_WORDS = {
    "strategy": "strategy",
    "ref": "ref",
    "servers": "servers",
    "workers": "servers at once",
    "migrations_server": "migrations server",
    "waits": "load balancer waits",
    "on_failure": "failure policy",
    "load_balancer": "load balancer",
    "steps": "steps (commands, timeouts or waits)",
}


def plan_changes(approved: str, now: DeployPlan) -> list[str]:
    """What differs between the approved facts and ``now``'s: ``strategy: serial → parallel``."""
    old = json.loads(approved) if approved else {}
    new = json.loads(facts_text(now))
    changes = []
    for key, word in _WORDS.items():
        if old.get(key) == new.get(key):
            continue
        if key == "steps":
            changes.append(f"{word} changed")
        else:
            changes.append(f"{word}: {_show(old.get(key))} → {_show(new.get(key))}")
    return changes


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)
