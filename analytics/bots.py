"""Known bots, by their user agent, from crawlerdetect's maintained list (a port of
CrawlerDetect): what the site script posts from them is not counted."""

import functools
import threading

from crawlerdetect import CrawlerDetect

# Enough of a user agent to recognise a bot; longer ones are cut, so that a client cannot make
# each check (or the cache below) as costly as it likes.
USER_AGENT_CHECKED = 512

_detector = CrawlerDetect()
_lock = threading.Lock()  # the detector keeps its last match on itself


@functools.lru_cache(maxsize=4096)
def _bot_name(user_agent: str) -> str | None:
    with _lock:
        if not _detector.isCrawler(user_agent):
            return None
        return str(_detector.getMatches() or "unnamed bot")[:100]


def bot_name(user_agent: str) -> str | None:
    """The bot's name (e.g. "Googlebot") when `user_agent` is a known bot's, else None. Browsers'
    user agents repeat, so each one is checked once."""
    return _bot_name(user_agent[:USER_AGENT_CHECKED]) if user_agent else None
