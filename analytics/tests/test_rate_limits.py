import pytest

from analytics.models import Execution
from analytics.tests.helpers import execution_body, post_execution

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_window")]


def test_the_ip_limit_answers_429_with_retry_after(client, alice_workflow, settings):
    settings.TRACKING_RATELIMIT_IP = "3/m"
    body = execution_body(alice_workflow)

    statuses = [
        post_execution(
            client, body, site=alice_workflow.site, REMOTE_ADDR="203.0.113.9"
        ).status_code
        for _ in range(3)
    ]
    limited = post_execution(client, body, site=alice_workflow.site, REMOTE_ADDR="203.0.113.9")
    other_ip = post_execution(client, body, site=alice_workflow.site, REMOTE_ADDR="203.0.113.10")

    assert statuses == [201, 201, 201]
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["success"] is False
    assert "rateLimit" in limited.json()["errors"]
    assert other_ip.status_code == 201
    assert Execution.objects.count() == 4


def test_the_site_limit_counts_every_ip_of_one_site(
    client, alice_workflow, charlie_workflow, settings
):
    settings.TRACKING_RATELIMIT_SITE = "2/m"
    body = execution_body(alice_workflow)

    first = post_execution(client, body, site=alice_workflow.site, REMOTE_ADDR="198.51.100.1")
    second = post_execution(client, body, site=alice_workflow.site, REMOTE_ADDR="198.51.100.2")
    third = post_execution(client, body, site=alice_workflow.site, REMOTE_ADDR="198.51.100.3")
    other_site = post_execution(
        client, execution_body(charlie_workflow), site=charlie_workflow.site
    )

    assert [first.status_code, second.status_code, third.status_code] == [201, 201, 429]
    assert int(third["Retry-After"]) >= 1
    assert other_site.status_code == 201
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 2


@pytest.mark.redis
def test_limits_are_kept_in_the_shared_redis_cache(client, alice_workflow, settings):
    from django.core.cache import caches
    from django_redis.cache import RedisCache

    cache = caches["default"]
    assert isinstance(cache, RedisCache)
    settings.TRACKING_RATELIMIT_IP = "1/m"
    post_execution(client, execution_body(alice_workflow), site=alice_workflow.site)

    assert any(b"rl:" in key or b"ratelimit" in key for key in cache.client.get_client().keys("*"))


def test_tracking_fails_open_when_the_cache_is_down(client, alice_workflow, settings):
    settings.TRACKING_RATELIMIT_IP = "1/m"
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }

    responses = [
        post_execution(client, execution_body(alice_workflow), site=alice_workflow.site)
        for _ in range(3)
    ]

    assert [r.status_code for r in responses] == [201, 201, 201]
    alice_workflow.refresh_from_db()
    assert alice_workflow.executions == 3


@pytest.mark.redis
def test_a_redis_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    client, alice_workflow, settings, caplog, monkeypatch
):
    from analytics import ratelimits

    monkeypatch.setattr(ratelimits, "OUTAGE", ratelimits.Outage())  # none under way
    real = settings.CACHES
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    body = execution_body(alice_workflow)

    with caplog.at_level("INFO", logger="analytics.tracking"):
        during = [post_execution(client, body, site=alice_workflow.site) for _ in range(20)]
        settings.CACHES = real
        after = post_execution(client, body, site=alice_workflow.site)

    lines = [record for record in caplog.records if record.name == "analytics.tracking"]
    assert {response.status_code for response in during} == {201} and after.status_code == 201
    assert len(lines) == 2
    assert lines[0].getMessage().startswith("rate limit cache unavailable (ConnectionError")
    assert "rate limit cache back after" in lines[1].getMessage()
    assert "20 tracking requests were not limited" in lines[1].getMessage()
    assert not any(record.exc_info for record in lines)


@pytest.mark.redis
def test_limits_count_after_redis_forgets_the_script_or_drops_the_connection(
    client, alice_workflow, settings
):
    import redis as redis_py

    admin = redis_py.Redis.from_url(settings.REDIS_URL)
    settings.TRACKING_RATELIMIT_IP = "3/m"
    body = execution_body(alice_workflow)

    first = post_execution(client, body, site=alice_workflow.site)
    admin.script_flush()  # as after a Redis restart: EVALSHA no longer knows the script
    second = post_execution(client, body, site=alice_workflow.site)
    cut = admin.client_kill_filter(skipme=True)  # every connection but this one
    third = post_execution(client, body, site=alice_workflow.site)
    fourth = post_execution(client, body, site=alice_workflow.site)

    # Counted every time: had a failure been let through (fail open), the fourth would pass.
    assert cut >= 1
    assert [first.status_code, second.status_code, third.status_code] == [201, 201, 201]
    assert fourth.status_code == 429


@pytest.mark.redis
def test_concurrent_requests_are_each_counted_once(settings):
    import threading

    from analytics import ratelimits

    keys = [("track-rl:ip:60:1:thread-test", 60), ("track-rl:site:60:1:thread-test", 60)]
    start = threading.Barrier(8)
    counts = []

    def count():
        start.wait()
        for _ in range(5):
            counts.append(ratelimits._increment(keys))

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Every increment saw a count of its own: none lost, none counted twice.
    assert sorted(ip for ip, _ in counts) == list(range(1, 41))
    assert sorted(site for _, site in counts) == list(range(1, 41))


def test_an_unreachable_redis_is_tried_once_per_request(
    client, alice_workflow, settings, monkeypatch
):
    from redis.connection import Connection

    attempts = []
    connect = Connection._connect  # opens the socket, on every attempt
    monkeypatch.setattr(Connection, "_connect", lambda self: attempts.append(1) or connect(self))
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }

    response = post_execution(client, execution_body(alice_workflow), site=alice_workflow.site)

    # Each attempt can cost a whole connect timeout while Redis is away.
    assert response.status_code == 201
    assert len(attempts) == 1


@pytest.mark.redis
def test_each_thread_counts_on_a_connection_of_its_own(alice_workflow, settings):
    import threading

    from analytics import ratelimits

    settings.TRACKING_RATELIMIT_IP = "1000/m"
    keys = [("track-rl:ip:60:1:thread-test", 60)]
    connections, counts = [], []

    def count():
        counts.extend(ratelimits._increment(keys))
        connections.append(ratelimits._own.connection)

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    count()  # and this thread again, on its own connection

    assert sorted(counts) == [1, 2, 3, 4, 5]
    assert len({id(connection) for connection in connections}) == 5


def test_a_forked_worker_counts_on_a_connection_of_its_own(alice_workflow, settings):
    from analytics import ratelimits

    keys = [("track-rl:ip:60:1:fork-test", 60)]
    ratelimits._increment(keys)
    parents = ratelimits._own.connection
    ratelimits._own.pid = -1  # as in a process forked after its parent had counted

    assert ratelimits._increment(keys) == [2]
    assert ratelimits._own.connection is not parents


@pytest.mark.redis
def test_the_redis_py_parts_the_limiter_sends_through_are_still_there():
    """The limiter sends on a connection of its own, made from the pool's class and settings
    (redis-py's ConnectionPool.connection_class and connection_kwargs, Connection.send_command,
    read_response, is_connected and disconnect): an upgrade that changes them fails here."""
    from django.core.cache import cache

    pool = cache.client.get_client(write=True).connection_pool
    connection = pool.connection_class(**pool.connection_kwargs)

    connection.send_command("PING")
    assert connection.read_response() in (b"PONG", "PONG")
    assert connection.is_connected
    connection.disconnect()
    assert not connection.is_connected
