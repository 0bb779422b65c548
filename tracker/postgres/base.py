"""Django's PostgreSQL backend with a health check that costs no round trip while the
connection is quiet."""

import select

from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper
from psycopg import pq


class DatabaseWrapper(PostgreSQLDatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        # Django checks a persistent connection with `SELECT 1` at the start of each request:
        # a round trip as long as the tracking statement itself. A server that ends a session
        # (restart, idle timeout, pg_terminate_backend) first sends why and then closes the
        # socket, and an idle session receives nothing else, so a socket with nothing to read
        # is one the server still holds. Anything waiting gets Django's full check.
        if not self.health_check_done and self._idle_and_quiet():
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _idle_and_quiet(self) -> bool:
        if self.connection is None or not self.health_check_enabled or self.pool:
            return False
        pgconn = self.connection.pgconn
        if pgconn.status != pq.ConnStatus.OK:
            return False
        if pgconn.transaction_status != pq.TransactionStatus.IDLE:
            return False
        return not _readable(pgconn.socket)


def _readable(descriptor: int) -> bool:
    if not hasattr(select, "poll"):  # Windows, whose select() has no limit on descriptor numbers
        return bool(select.select([descriptor], [], [], 0)[0])
    # poll(), not select(): select() refuses descriptors past 1,023.
    poller = select.poll()
    poller.register(descriptor, select.POLLIN)
    return bool(poller.poll(0))
