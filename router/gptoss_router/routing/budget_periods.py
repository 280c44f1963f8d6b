"""How long until an app's dollar budgets reset: the end of the UTC day and of the month."""

from __future__ import annotations

import calendar
import time

__all__ = ["to_midnight", "to_month_end"]


def to_midnight(now: float) -> float:
    """Seconds from ``now`` to the next UTC midnight."""
    return 86400 - now % 86400


def to_month_end(now: float) -> float:
    """Seconds from ``now`` to the first moment of the next UTC month (at least one)."""
    year, month = time.gmtime(now)[:2]
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return max(1.0, calendar.timegm((year, month, 1, 0, 0, 0)) - now)
