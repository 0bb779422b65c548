"""The start-of-request health check of a persistent PostgreSQL connection."""

import os
import select
import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection, connections

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def session(monkeypatch):
    """The live psycopg connection, with every cursor it opens counted."""
    connection.ensure_connection()
    raw = connection.connection
    opened = []
    cursor = raw.cursor
    monkeypatch.setattr(raw, "cursor", lambda *a, **k: opened.append(a) or cursor(*a, **k))
    connection.health_check_done = False
    return raw, opened


def test_a_quiet_idle_connection_passes_without_a_round_trip(session):
    raw, opened = session

    connection.close_if_health_check_failed()

    assert connection.connection is raw
    assert opened == []
    assert connection.health_check_done


def test_a_connection_the_server_ended_is_replaced_before_it_is_used(session):
    raw, _ = session
    ended_pid = raw.info.backend_pid
    database = settings.DATABASES["default"]
    with psycopg.connect(
        host=database["HOST"], port=database["PORT"], user=database["USER"],
        dbname=database["NAME"], autocommit=True,
    ) as admin:  # fmt: skip
        admin.execute("SELECT pg_terminate_backend(%s)", [ended_pid])
    deadline = time.monotonic() + 5
    while not select.select([raw.pgconn.socket], [], [], 0.1)[0]:
        assert time.monotonic() < deadline, "the server's goodbye never arrived"

    connection.close_if_health_check_failed()

    assert connection.connection is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != ended_pid


def test_a_connection_inside_a_transaction_gets_the_full_check(session):
    raw, opened = session
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
    opened.clear()
    connection.health_check_done = False

    try:
        connection.close_if_health_check_failed()
    finally:
        raw.rollback()

    assert opened, "SELECT 1 was not sent"
    assert connection.connection is raw


def test_a_connection_on_a_high_file_descriptor_is_checked_too():
    # select() refuses descriptors past 1,023; a busy process (threads, many sockets) has them.
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        connection.close()
        connection.ensure_connection()
        assert connection.connection.pgconn.socket > 1024
        connection.health_check_done = False

        connection.close_if_health_check_failed()

        assert connection.health_check_done
        assert connection.connection is not None
    finally:
        connection.close()
        for descriptor in spare:
            os.close(descriptor)


def test_django_still_checks_a_persistent_connection_the_way_this_backend_overrides(monkeypatch):
    """The backend overrides Django internals (close_if_health_check_failed and the
    health_check_done/health_check_enabled flags it reads): if a Django upgrade renames or
    stops calling them, this fails instead of every request quietly paying a round trip, or
    none being checked."""
    from django.db.backends.base.base import BaseDatabaseWrapper

    from tracker.postgres.base import DatabaseWrapper

    assert DatabaseWrapper.close_if_health_check_failed is not (
        BaseDatabaseWrapper.close_if_health_check_failed
    )
    connection.ensure_connection()
    wrapper = connections["default"]
    assert isinstance(wrapper, DatabaseWrapper)
    assert {"health_check_done", "health_check_enabled"} <= vars(wrapper).keys()
    checked = []
    quiet = DatabaseWrapper._idle_and_quiet
    monkeypatch.setattr(
        DatabaseWrapper, "_idle_and_quiet", lambda self: checked.append(1) or quiet(self)
    )
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    connection.health_check_enabled = True
    connection.health_check_done = False  # as at the start of each request

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")

    assert checked == [1]
    assert connection.health_check_done
