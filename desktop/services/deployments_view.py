"""Words for deployment actions: what each will do, said before it is done."""

from __future__ import annotations

from modelfleet.client._fleet import Agent, Deployment, DeploymentEvent, Target


def targets_text(targets: tuple[Target, ...]) -> str:
    """`credit v2` or `credit v1 90% / v2 10%`."""
    if not targets:
        return "nothing"
    model = targets[0].model_name
    if len(targets) == 1:
        return f"{model} v{targets[0].model_version}"
    return f"{model} " + " / ".join(f"v{t.model_version} {t.percent}%" for t in targets)


def agents_text(agents: list[Agent]) -> str:
    if not agents:
        return "no agent (it will wait for matching agents to enrol)"
    online = sum(a.state == "online" for a in agents)
    return f"{len(agents)} agent{'s' * (len(agents) != 1)} ({online} online)"


def deploy_text(
    name: str, environment: str, model: str, version: int, alias: str, selector: str,
    agents: list[Agent],
) -> str:  # fmt: skip
    what = f"{model} alias '{alias}'" if alias else f"{model} v{version}"
    scope = f" with selector {selector}" if selector else ""
    return (
        f"Deploy {what} as '{name}' to {environment}{scope}. It will reach "
        f"{agents_text(agents)}; an existing deployment '{name}' there is replaced."
    )


def rollback_text(deployment: Deployment, events: list[DeploymentEvent]) -> str:
    before = next((e for e in events if e.revision == deployment.revision - 1), None)
    to = f" ({targets_text(before.targets)})" if before is not None else ""
    return (
        f"Roll back '{deployment.name}' in {deployment.environment} from revision "
        f"{deployment.revision} ({targets_text(deployment.targets)}) to revision "
        f"{deployment.revision - 1}{to} on every agent it runs on."
    )


def traffic_text(deployment: Deployment, split: list[tuple[int, int]]) -> str:
    parts = " / ".join(f"v{v} {p}%" for v, p in split)
    return (
        f"Route the traffic of '{deployment.name}' in {deployment.environment} as {parts} "
        f"(now {targets_text(deployment.targets)})."
    )


def promote_text(deployment: Deployment, to_environment: str) -> str:
    return (
        f"Promote '{deployment.name}' ({targets_text(deployment.targets)}) from "
        f"{deployment.environment} to {to_environment}, replacing what {to_environment} "
        "serves under that name; the promotion policy of the environment applies."
    )


def undeploy_text(deployment: Deployment) -> str:
    return (
        f"Undeploy '{deployment.name}' from {deployment.environment}: every agent stops "
        f"serving {targets_text(deployment.targets)}. Requests to it will fail."
    )


def canary_split(
    deployment: Deployment, canary_version: int, percent: int
) -> list[tuple[int, int]]:
    """Stable = the version with the most traffic now; `percent` goes to the canary."""
    stable = max(deployment.targets, key=lambda t: t.percent).model_version
    if canary_version == stable or percent <= 0:
        return [(stable, 100)]
    if percent >= 100:
        return [(canary_version, 100)]
    return [(stable, 100 - percent), (canary_version, percent)]
