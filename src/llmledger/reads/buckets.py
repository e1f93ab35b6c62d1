"""The time buckets every series uses (Calls and Spend alike), in UTC.

A call's bucket is first an integer key computed from `epoch_us(start_time)` (integer arithmetic
is about ten times cheaper than date_trunc over a million TIMESTAMPTZ values); only the few
grouped rows are turned back into bucket starts by `start_sql`. Weeks start on Monday
(1970-01-01 was a Thursday, three days after one). A month's key is its day: a query that uses
months groups the day rows again by their start, so percentiles, which cannot be summed again,
take hour, day or week only.
"""

from __future__ import annotations

from datetime import date

from llmledger.errors import StoreError

BUCKETS = ("hour", "day", "week", "month")

_DAY = "(epoch_us(start_time) // 86400000000)"
_KEY = {
    "hour": "(epoch_us(start_time) // 3600000000)",
    "day": _DAY,
    "week": f"({_DAY} - ({_DAY} + 3) % 7)",
    "month": _DAY,
}
_START = {
    "hour": "to_timestamp({k} * 3600)",
    "day": "to_timestamp({k} * 86400)",
    "week": "to_timestamp({k} * 86400)",
    "month": "CAST(date_trunc('month', CAST(to_timestamp({k} * 86400) AS TIMESTAMP)) AS TIMESTAMPTZ)",
}


def bucket_for(start: date, end: date) -> str:
    """Hourly up to 3 days, daily up to ~6 months, weekly beyond."""
    days = (end - start).days + 1
    return "hour" if days <= 3 else "day" if days <= 190 else "week"


def check(bucket: str, allowed: tuple[str, ...] = BUCKETS) -> str:
    if bucket not in allowed:
        raise StoreError(f"unknown time bucket {bucket!r}; expected one of {', '.join(allowed)}")
    return bucket


def key_sql(bucket: str) -> str:
    """An integer per call, the same for every call of one bucket (for a month: of one day)."""
    return _KEY[check(bucket)]


def start_sql(bucket: str, key: str = "k") -> str:
    """The bucket's start (TIMESTAMPTZ, UTC) from the column `key` holding `key_sql(bucket)`."""
    return _START[check(bucket)].format(k=key)
