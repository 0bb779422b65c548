"""The tracking endpoint's limits, per client IP and per site key, counted in fixed windows in
the shared cache. Both are counted in one Redis round trip (a Lua script); django-ratelimit,
which guards the login, takes two per limit."""

import functools
import ipaddress
import logging
import math
import re
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

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
    except Exception:
        logger.warning("rate limit cache unavailable; tracking limits not enforced", exc_info=True)
        return None
    over = zip(windows, counts, strict=True)
    waits = [wait for (_, _, allowed, wait), count in over if count > allowed]
    return max(waits) if waits else None


# Adds one to each counter (KEYS), giving a new one its window's lifetime (ARGV, seconds).
INCREMENT = """
local counts = {}
for i, key in ipairs(KEYS) do
    counts[i] = redis.call("INCR", key)
    if counts[i] == 1 then redis.call("EXPIRE", key, ARGV[i]) end
end
return counts
"""


def _increment(keys: list[tuple[str, int]]) -> list[int]:
    """Add one to each counter (created to expire with its window); the new values."""
    lifetimes = [period + 1 for _, period in keys]
    if hasattr(cache, "client"):  # django-redis
        from django_redis import get_redis_connection

        script = get_redis_connection().register_script(INCREMENT)
        counts = script(keys=[cache.make_key(key) for key, _ in keys], args=lifetimes)
        return [int(count) for count in counts]
    counts = []
    for (key, _), lifetime in zip(keys, lifetimes, strict=True):  # the one-process quick start
        cache.add(key, 0, lifetime)
        counts.append(cache.incr(key))
    return counts
