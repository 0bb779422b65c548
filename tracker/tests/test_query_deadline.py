"""The app's own deadline on a query (the hung-database case itself is in analytics'
test_faults, on a throwaway cluster)."""

import pytest
from django.db import OperationalError, connection

from tracker.middleware import QueryDeadline

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_a_query_past_the_deadline_is_abandoned():
    deadline = QueryDeadline(0.3)
    with (
        pytest.raises(OperationalError),
        connection.execute_wrapper(deadline),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT pg_sleep(3)")


def test_a_deadline_of_zero_is_no_deadline_as_in_postgresql():
    deadline = QueryDeadline(0)
    with connection.execute_wrapper(deadline), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(0.5), 1")
        assert cursor.fetchone()[1] == 1
    assert deadline.watchdog is None
