import logging

from django_ratelimit.core import get_usage
from rest_framework.exceptions import Throttled
from rest_framework.request import Request

logger = logging.getLogger("analytics.tracking")


def enforce_tracking_limit(request: Request, *, group: str, key, rate: str) -> None:
    """Raise Throttled (429 with Retry-After) once `key` has used up `rate` in this window.

    Fails open: when the cache is down, executions are still counted rather than lost.
    """
    try:
        usage = get_usage(request, group=group, key=key, rate=rate, increment=True)
    except Exception:
        logger.warning("rate limit cache unavailable; %s not enforced", group, exc_info=True)
        return
    if usage is None or not usage["should_limit"]:
        return
    if usage["time_left"] < 0:
        # django-ratelimit's answer when it could not read the counter.
        logger.warning("rate limit counter unreadable; %s not enforced", group)
        return
    raise Throttled(wait=max(usage["time_left"], 1))
