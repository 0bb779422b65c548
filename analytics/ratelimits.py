"""The tracking endpoint's limits, per client IP and per site key, counted in fixed windows in
the shared cache. Both are counted in one Redis round trip (a Lua script); django-ratelimit,
which guards the login, takes two per limit."""

import functools
import hashlib
import ipaddress
import logging
import math
import os
import re
import threading
import time
from time import monotonic

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

logger = logging.getLogger("analytics.tracking")

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@functools.lru_cache(maxsize=32)
def parse_rate(rate: str) -> tuple[int, int]:
    """`"1200/m"` -> (1200, 60); also `"10/5m"`, as django-ratelimit reads its rates."""
    match = re.fullmatch(r"(\d+)/(\d*)([smhd])", rate)
    if match is None:
        raise ValueError(f"Not a rate: {rate!r} (expected e.g. 1200/m)")
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1) * UNIT_SECONDS[unit]


def check_tracking_rates() -> None:
    for name in ("TRACKING_RATELIMIT_IP", "TRACKING_RATELIMIT_SITE"):
        try:
            parse_rate(getattr(settings, name))
        except ValueError as problem:
            raise ImproperlyConfigured(f"{name}: {problem}") from None


def client_ip(request: HttpRequest) -> str:
    """The client's address (from RATELIMIT_IP_META_KEY behind a proxy); IPv6 by /64, since
    one client usually holds a whole /64."""
    meta_key = settings.RATELIMIT_IP_META_KEY
    address = request.META.get(meta_key or "REMOTE_ADDR", "").strip()
    if ":" in address:
        try:
            return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
        except ValueError:
            pass
    return address


def tracking_retry_after(request: HttpRequest, site_key: str | None) -> int | None:
    """Count this request against the IP limit and, when it names one, its site key's limit.
    Seconds until the client may retry when either is used up, else None.

    Fails open: when the cache is down, executions are still counted rather than lost.
    """
    limits = [("ip", client_ip(request), settings.TRACKING_RATELIMIT_IP)]
    if site_key:
        limits.append(("site", site_key[:64], settings.TRACKING_RATELIMIT_SITE))
    now = time.time()
    windows = []
    for scope, value, rate in limits:
        allowed, period = parse_rate(rate)
        window = int(now // period)
        key = f"track-rl:{scope}:{period}:{window}:{value}"
        windows.append((key, period, allowed, max(1, math.ceil(period - now % period))))
    try:
        counts = _increment([(key, period) for key, period, _, _ in windows])
    except Exception as error:
        OUTAGE.failed(error)
        return None
    OUTAGE.answered()
    over = zip(windows, counts, strict=True)
    waits = [wait for (_, _, allowed, wait), count in over if count > allowed]
    return max(waits) if waits else None


class Outage:
    """The cache as the limits see it, logged once when it goes (no traceback: one per request
    would flood the log), counted while it is gone, and logged once when it is back."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.since: float | None = None
        self.requests = 0

    def failed(self, error: Exception) -> None:
        with self.lock:
            if self.since is None:
                self.since, self.requests = monotonic(), 0
                logger.warning(
                    "rate limit cache unavailable (%s: %s); tracking limits are not enforced"
                    " until it is back",
                    type(error).__name__,
                    error,
                )
            self.requests += 1

    def answered(self) -> None:
        if self.since is None:  # the common case, without the lock
            return
        with self.lock:
            if self.since is not None:
                logger.warning(
                    "rate limit cache back after %.0f s; %d tracking requests were not limited",
                    monotonic() - self.since,
                    self.requests,
                )
                self.since = None


OUTAGE = Outage()


# Adds one to each counter (KEYS), giving a new one its window's lifetime (ARGV, seconds).
INCREMENT = """
local counts = {}
for i, key in ipairs(KEYS) do
    counts[i] = redis.call("INCR", key)
    if counts[i] == 1 then redis.call("EXPIRE", key, ARGV[i]) end
end
return counts
"""
INCREMENT_SHA = hashlib.sha1(INCREMENT.encode()).hexdigest()


def _increment(keys: list[tuple[str, int]]) -> list[int]:
    """Add one to each counter (created to expire with its window); the new values."""
    lifetimes = [period + 1 for _, period in keys]
    if hasattr(cache, "client"):  # django-redis
        names = [cache.make_key(key) for key, _ in keys]
        counts = _run_increment(cache.client.get_client(write=True), names, lifetimes)
        return [int(count) for count in counts]
    counts = []
    for (key, _), lifetime in zip(keys, lifetimes, strict=True):  # the one-process quick start
        cache.add(key, 0, lifetime)
        counts.append(cache.incr(key))
    return counts


def _run_increment(client, keys: list[str], lifetimes: list[int]) -> list[int]:
    """INCREMENT on this thread's own connection, sent directly: redis-py's command path (a
    pool checkout with its bookkeeping, the retry wrapper, the script object) costs more CPU
    than the round trip itself (docs/scaling.md)."""
    connection = _own_connection(client.connection_pool)
    kept = connection.is_connected
    try:
        return _evaluate(connection, keys, lifetimes)
    except Exception as error:
        connection.disconnect()  # a reply may still be on its way: never read it as the next
        if not (kept and isinstance(error, RedisConnectionError)):
            raise  # a Redis that cannot be reached is tried once per request, not twice
    # Closed since its last use (a Redis restart, an idle timeout): once more, reconnected.
    return _evaluate(connection, keys, lifetimes)


class _OwnConnection(threading.local):
    pool = pid = connection = None


_own = _OwnConnection()


def _own_connection(pool):
    """A connection with the pool's settings that this thread keeps, outside the pool: it
    closes when the thread ends, and a forked worker opens its own."""
    if _own.pool is not pool or _own.pid != os.getpid():
        _own.pool, _own.pid = pool, os.getpid()
        _own.connection = pool.connection_class(**pool.connection_kwargs)
    return _own.connection


def _evaluate(connection, keys: list[str], lifetimes: list[int]) -> list[int]:
    connection.send_command("EVALSHA", INCREMENT_SHA, len(keys), *keys, *lifetimes)
    try:
        return connection.read_response()
    except NoScriptError:  # a Redis that has not seen the script since it started
        connection.send_command("EVAL", INCREMENT, len(keys), *keys, *lifetimes)
        return connection.read_response()
