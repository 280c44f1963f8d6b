"""App limits on the request path: admit or refuse, then settle what the request really used.

Per app, up to four limits (``AppLimits``): requests and tokens per minute through leases
(``leases.py``: no store call per request), dollars per UTC day and month against the spend
totals the sync loop brings every ``sync_interval_s``. A request reserves one request and
``input + max output`` tokens on admission; when it ends, the tokens are settled from ``usage``
and its dollars added to the app's spend. Refusals are OpenAI's 429s: ``rate_limit_exceeded``
(``type`` ``requests`` or ``tokens``) and ``insufficient_quota``, with ``Retry-After``. Every
answer to an app with per-minute limits carries OpenAI's ``x-ratelimit-*`` headers.

While the store is down, dollar budgets follow ``on_store_loss`` as the leases do: ``closed``
refuses with 503, ``open`` lets each replica spend its share of what was left at the last sync.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from gptoss_router.config.apps import AppConfig
from gptoss_router.config.store import StoreConfig
from gptoss_router.errors import QuotaExceeded, RateLimited, StoreUnavailable
from gptoss_router.metrics import RouterMetrics
from gptoss_router.routing.budget_periods import to_midnight, to_month_end
from gptoss_router.routing.leases import Granted, Lease
from gptoss_router.state.memory_store import MemoryStore
from gptoss_router.state.store import Store, spend_periods
from gptoss_router.state.store_health import StoreHealth

__all__ = ["Admission", "Ticket", "format_reset"]

WINDOW_S = 60.0
_MICROS = 1_000_000


def format_reset(seconds: float) -> str:
    """A reset time as OpenAI writes it: ``20ms``, ``7.66s``, ``2m59.56s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(round(seconds, 2), 60)
    text = f"{rest:.2f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


@dataclass(slots=True)
class _Quota:
    """One app's limits on this replica."""

    app: AppConfig
    requests: Lease | None
    tokens: Lease | None
    spent: tuple[int, int] = (0, 0)  # micro-dollars (day, month) at the last sync
    period: tuple[str, str] = ("", "")  # the day and month those totals are for
    pending: int = 0  # micro-dollars spent here and not yet synced
    sending: int = 0  # micro-dollars drained for syncs not yet answered, not yet in ``spent``

    @property
    def unsynced(self) -> int:
        """Micro-dollars spent here that the last totals do not hold yet."""
        return self.pending + self.sending


@dataclass(slots=True)
class Ticket:
    """An admitted request: what it reserved, and the headers its answer carries."""

    app: str
    headers: dict[str, str] = field(default_factory=dict)
    tokens_window: int = -1
    tokens_reserved: int = 0


class Admission:
    """Admits requests against their apps' limits and settles them."""

    def __init__(
        self,
        apps: list[AppConfig],
        store: Store,
        health: StoreHealth,
        metrics: RouterMetrics,
        *,
        config: StoreConfig | None,
        replicas: Callable[[], int],
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._metrics = metrics
        self._health = health
        self._wall = wall
        self._replicas = replicas
        self._tasks: set[asyncio.Task[None]] = set()
        fallback = MemoryStore()
        fraction = config.lease_fraction if config is not None else 1.0

        def lease(app: str, kind: str, limit: int | None) -> Lease | None:
            if limit is None:
                return None
            return Lease(
                f"{app}:{kind}",
                limit,
                window_s=WINDOW_S,
                # One replica alone holds no units another could want: lease the whole limit.
                fraction=fraction if health.shared else 1.0,
                store=store,
                health=health,
                fallback=fallback,
                replicas=replicas,
                spawn=self._spawn,
            )

        self._quotas = {
            a.name: _Quota(
                a,
                lease(a.name, "rpm", a.limits.requests_per_minute),
                lease(a.name, "tpm", a.limits.tokens_per_minute),
            )
            for a in apps
        }
        self.budget_apps = tuple(
            a.name
            for a in apps
            if a.limits.dollars_per_day is not None or a.limits.dollars_per_month is not None
        )

    async def admit(self, app: str, tokens: int) -> Ticket:
        """Admit one request of ``app`` that may use ``tokens``, or raise a 429 (or 503)."""
        quota = self._quotas.get(app)
        if quota is None:  # anonymous callers, or an app without limits
            self._metrics.app_requests.labels(app).inc()
            return Ticket(app)
        now = self._wall()
        ticket = Ticket(app)
        try:
            self._check_budget(quota, now)
        except QuotaExceeded as refused:  # the per-minute limits still say where they stand
            self._peek_headers(ticket, quota, now, "requests", "tokens")
            refused.add_headers(ticket.headers)
            raise
        fail_open = quota.app.limits.on_store_loss == "open"
        if quota.requests is not None:
            got = await quota.requests.acquire(1, now, fail_open=fail_open)
            self._add_headers(ticket, "requests", quota.requests, got)
            if got is None or not got.ok:
                self._peek_headers(ticket, quota, now, "tokens")
                self._refuse(quota, quota.requests, "requests", 1, got, ticket)
        if quota.tokens is not None:
            try:
                got = await quota.tokens.acquire(tokens, now, fail_open=fail_open)
            except BaseException:  # cancelled, or a bug: the request it took is not used
                self._give_back_request(quota, now)
                raise
            self._add_headers(ticket, "tokens", quota.tokens, got)
            if got is None or not got.ok:
                self._give_back_request(quota, now)
                self._refuse(quota, quota.tokens, "tokens", tokens, got, ticket)
            ticket.tokens_window, ticket.tokens_reserved = got.window, tokens
        self._metrics.app_requests.labels(app).inc()
        return ticket

    def settle(
        self, ticket: Ticket, *, input_tokens: int, output_tokens: int, dollars: float
    ) -> None:
        """The request of ``ticket`` is over, having used these tokens and dollars."""
        metrics = self._metrics
        if input_tokens:
            metrics.app_tokens.labels(ticket.app, "input").inc(input_tokens)
        if output_tokens:
            metrics.app_tokens.labels(ticket.app, "output").inc(output_tokens)
        if dollars:
            metrics.app_dollars.labels(ticket.app).inc(dollars)
        quota = self._quotas.get(ticket.app)
        if quota is None:
            return
        if quota.tokens is not None and ticket.tokens_reserved:
            quota.tokens.settle(
                ticket.tokens_window, ticket.tokens_reserved, input_tokens + output_tokens
            )
        quota.pending += round(dollars * _MICROS)

    def drain_spend(self) -> dict[str, int]:
        """Micro-dollars spent here since the last sync, per app, for the sync about to go out.

        They still count against the budget until the store's totals come back with them
        (``synced``), however many syncs fail meanwhile (the sync loop sends them again): a
        request admitted during the round trip must not find the spend gone from both."""
        out = {name: q.pending for name, q in self._quotas.items() if q.pending}
        for name, micros in out.items():
            quota = self._quotas[name]
            quota.pending, quota.sending = 0, quota.sending + micros
        return out

    def synced(self, totals: Mapping[str, tuple[int, int]], now: float) -> None:
        """The store's spend totals per app, for the day and month of ``now``; they hold what
        the sync sent."""
        period = spend_periods(now)
        for held in self._quotas.values():
            held.sending = 0
        for name, spent in totals.items():
            quota = self._quotas.get(name)
            if quota is not None:
                quota.spent, quota.period = spent, period

    async def close(self) -> None:
        """Wait for give-backs and charges still in flight (shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _check_budget(self, quota: _Quota, now: float) -> None:
        limits = quota.app.limits
        if limits.dollars_per_day is None and limits.dollars_per_month is None:
            return
        # While the shared store is down the totals are stale and the other replicas' spend
        # unseen: a budget that fails closed refuses; one that fails open lets this replica
        # spend its share of what was left (its unsynced spend counts once per replica).
        share = 1
        if self._health.shared and not self._health.up:
            if limits.on_store_loss == "closed":
                self._metrics.app_refusals.labels(quota.app.name, "store_unavailable").inc()
                raise StoreUnavailable(
                    "The router's state store is unreachable and this app's limits fail closed."
                )
            share = max(1, self._replicas())
        day, month = spend_periods(now)
        spent_day = quota.spent[0] if quota.period[0] == day else 0
        spent_month = quota.spent[1] if quota.period[1] == month else 0
        for budget, spent, name, reset in (
            (limits.dollars_per_day, spent_day, "dollars_per_day", to_midnight(now)),
            (limits.dollars_per_month, spent_month, "dollars_per_month", to_month_end(now)),
        ):
            if budget is None or spent + quota.unsynced * share < budget * _MICROS:
                continue
            self._metrics.app_refusals.labels(quota.app.name, name).inc()
            period = "day" if name == "dollars_per_day" else "month"
            raise QuotaExceeded(
                f"App {quota.app.name} has spent its budget of ${budget:g} for this {period} "
                f"(${(spent + quota.unsynced) / _MICROS:.4f}); it resets in {format_reset(reset)}.",
                retry_after=reset,
            )

    @staticmethod
    def _give_back_request(quota: _Quota, now: float) -> None:
        """The request unit an admission took at ``now`` is not used after all."""
        if quota.requests is not None:
            quota.requests.settle(math.floor(now / WINDOW_S), 1, 0)

    def _add_headers(self, ticket: Ticket, kind: str, lease: Lease, got: Granted | None) -> None:
        ticket.headers[f"x-ratelimit-limit-{kind}"] = str(lease.limit)
        if got is not None:
            ticket.headers[f"x-ratelimit-remaining-{kind}"] = str(got.remaining)
            ticket.headers[f"x-ratelimit-reset-{kind}"] = format_reset(got.reset_s)

    def _peek_headers(self, ticket: Ticket, quota: _Quota, now: float, *kinds: str) -> None:
        """The headers of the limits of ``kinds`` a refusal came before asking, as they stand:
        OpenAI's answers carry every limit's headers, refusals included."""
        for kind in kinds:
            lease = quota.requests if kind == "requests" else quota.tokens
            if lease is not None:
                self._add_headers(ticket, kind, lease, lease.peek(now))

    def _refuse(
        self,
        quota: _Quota,
        lease: Lease,
        kind: str,
        want: int,
        got: Granted | None,
        ticket: Ticket,
    ) -> NoReturn:
        limit = "requests_per_minute" if kind == "requests" else "tokens_per_minute"
        if got is None:
            self._metrics.app_refusals.labels(quota.app.name, "store_unavailable").inc()
            raise StoreUnavailable(
                "The router's state store is unreachable and this app's limits fail closed."
            )
        self._metrics.app_refusals.labels(quota.app.name, limit).inc()
        if kind == "tokens" and want > lease.limit:
            message = (
                f"Request too large for app {quota.app.name} on tokens per min (TPM): "
                f"Limit {lease.limit}, Requested {want}. Lower max_tokens or the input."
            )
        else:
            message = (
                f"Rate limit reached for app {quota.app.name} on {kind} per min: "
                f"Limit {lease.limit}, Remaining {got.remaining}, Requested {want}. "
                f"Please try again in {format_reset(got.retry_after_s)}."
            )
        raise RateLimited(message, kind=kind, retry_after=got.retry_after_s, headers=ticket.headers)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
