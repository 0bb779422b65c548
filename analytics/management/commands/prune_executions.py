import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from analytics.models import Execution


class Command(BaseCommand):
    help = (
        "Delete executions (and their action events) older than a number of days, in small "
        "batches of short transactions so that tracking never waits on them. Lifetime "
        "counters and the hourly rollup are kept: dashboards show the same counts afterwards."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=settings.EXECUTION_RETENTION_DAYS)
        parser.add_argument("--batch-size", type=int, default=2000)
        parser.add_argument("--pause", type=float, default=0.05, help="seconds between batches")

    def handle(self, *args, days: int, batch_size: int, pause: float, **options) -> None:
        if days < 1 or batch_size < 1:
            raise CommandError("--days and --batch-size must be at least 1.")
        cutoff = timezone.now() - timedelta(days=days)
        old = Execution.objects.filter(executed_at__lt=cutoff)
        deleted_executions = deleted_events = 0
        while True:
            # Oldest first by primary key: old rows sit at the start of that index.
            ids = list(old.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            with transaction.atomic():
                _, per_model = Execution.objects.filter(pk__in=ids).delete()
            deleted_executions += per_model.get("analytics.Execution", 0)
            deleted_events += per_model.get("analytics.AnalyticsEvent", 0)
            time.sleep(pause)
        self.stdout.write(
            f"Deleted {deleted_executions} executions and {deleted_events} events "
            f"older than {days} days ({cutoff:%Y-%m-%d %H:%M} UTC)."
        )
