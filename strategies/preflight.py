"""Pre-flight: before a deploy changes anything, every server it targets is checked.

A server passes when its connection works (the executor logs in, or finds its
working directory) and, where the deploy will move it in and out of rotation,
the load balancer answers and knows it. All servers are checked at once, and
the whole check takes at most the connection timeout: a server that has not
answered by then is unreachable. What pre-flight opened (SSH connections)
stays open for the deploy to use.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from strategies.plan import DeployPlan, ServerPlan
from strategies.ports import Clock, Executor, LbReport, LoadBalancer, LoadBalancerError

MAX_THREADS = 256
GRACE = 1.0  # on top of the connection timeout, for the load balancer's answer


@dataclass(frozen=True)
class PreflightReport:
    problems: tuple[tuple[str, str], ...]  # (server, one line), in plan order
    notes: tuple[str, ...]  # worth saying, not a problem: "web2 is already out of rotation"
    checked: int
    duration: float

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def unreachable(self) -> dict[str, str]:
        return dict(self.problems)


def preflight(
    plan: DeployPlan,
    executor: Executor,
    load_balancer: LoadBalancer,
    clock: Clock,
) -> PreflightReport:
    """Check every server of ``plan`` concurrently, within ``connection.connect_timeout``."""
    began = clock.monotonic()
    servers = plan.servers
    if not servers:
        return PreflightReport((), (), 0, 0.0)
    deadline = plan.app.connection.connect_timeout + GRACE
    pool = ThreadPoolExecutor(
        max_workers=min(len(servers), MAX_THREADS), thread_name_prefix="preflight"
    )
    try:
        futures = [pool.submit(_check, s, executor, load_balancer) for s in servers]
        wait(futures, timeout=deadline)
    finally:
        # Checks still running are bounded by their own timeouts; nobody waits for them.
        pool.shutdown(wait=False, cancel_futures=True)
    problems: list[tuple[str, str]] = []
    notes: list[str] = []
    for server_plan, future in zip(servers, futures, strict=True):
        problem, report = _result(future, deadline)
        if problem:
            problems.append((server_plan.name, problem))
        elif report in ("drained", "draining") and server_plan.leaves_lb:
            notes.append(
                f"{server_plan.name} is already out of rotation (the load balancer reports "
                f"{report}); the deploy puts it back once deployed"
            )
    notes += executor.notes()
    return PreflightReport(tuple(problems), tuple(notes), len(servers), clock.monotonic() - began)


def _check(
    server_plan: ServerPlan, executor: Executor, load_balancer: LoadBalancer
) -> tuple[str | None, LbReport | None]:
    report: LbReport | None = None
    if server_plan.runs_commands:
        problem = executor.check(server_plan.server)
        if problem:
            return f"unreachable: {problem}", None
    if server_plan.uses_lb:
        try:
            report = load_balancer.check(server_plan.server)
        except LoadBalancerError as exc:
            return f"load balancer: {exc}", None
    return None, report


def _result(
    future: Future[tuple[str | None, LbReport | None]], deadline: float
) -> tuple[str | None, LbReport | None]:
    if not future.done() or future.cancelled():
        waited = deadline - GRACE
        return f"unreachable: no answer within {waited:g}s (connection.connect_timeout)", None
    try:
        return future.result()
    except Exception as exc:  # an adapter bug must still give one line, not a traceback
        return f"internal error: {type(exc).__name__}: {exc}", None
