import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from workflows.models import Goal, OwnedQuerySet, Workflow

MAX_EXECUTION_TIME_MS = 3_600_000


class Execution(models.Model):
    """One run of a playbook on a visitor's page, as reported by the site script."""

    class Status(models.TextChoices):
        SUCCESS = "success", "Success"
        ERROR = "error", "Error"
        TIMEOUT = "timeout", "Timeout"

    class DeviceType(models.TextChoices):
        DESKTOP = "desktop", "Desktop"
        MOBILE = "mobile", "Mobile"
        TABLET = "tablet", "Tablet"
        __empty__ = "Unknown"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Both foreign keys are indexed by the composite indexes below.
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="execution_records", db_index=False
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="executions",
        db_index=False,
    )
    status = models.CharField(max_length=10, choices=Status)
    execution_time_ms = models.IntegerField()
    page_url = models.CharField(max_length=2048, blank=True)
    session_id = models.CharField(max_length=128, blank=True)
    device_type = models.CharField(max_length=10, choices=DeviceType, blank=True)
    trigger_name = models.CharField(max_length=200, blank=True)
    # The spec's optional `userId`: whoever the site says the visitor is.
    client_user_id = models.CharField(max_length=128, blank=True)
    # The site script's own id for this run; a retry carries it again and is not counted twice.
    client_execution_id = models.CharField(max_length=64, null=True, blank=True)
    executed_at = models.DateTimeField()
    received_at = models.DateTimeField()

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-executed_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["success", "error", "timeout"]),
                name="execution_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(device_type__in=["", "desktop", "mobile", "tablet"]),
                name="execution_device_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(execution_time_ms__gte=0, execution_time_ms__lte=MAX_EXECUTION_TIME_MS),
                name="execution_time_ms_in_range",
            ),
            models.UniqueConstraint(
                fields=["owner", "client_execution_id"],
                condition=Q(client_execution_id__isnull=False),
                name="execution_client_id_unique_per_owner",
            ),
        ]
        indexes = [
            # Execution history of one playbook, newest first.
            models.Index(fields=["workflow", "-executed_at"], name="execution_workflow_time_idx"),
            # An owner's executions in a time range (dashboards, analytics).
            models.Index(fields=["owner", "executed_at"], name="execution_owner_time_idx"),
        ]

    def __str__(self) -> str:
        return self.execution_id

    @property
    def execution_id(self) -> str:
        return self.public_execution_id(self.public_id)

    @staticmethod
    def public_execution_id(public_id: uuid.UUID) -> str:
        """The id the API shows for the execution with this `public_id`."""
        return f"exec-{public_id.hex}"


class AnalyticsEvent(models.Model):
    """One action of an execution: what it touched, how long it took, and any error."""

    class EventType(models.TextChoices):
        ACTION_EXECUTED = "action_executed", "Action executed"
        ACTION_FAILED = "action_failed", "Action failed"

    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="analytics_events", db_index=False
    )
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="events")
    event_type = models.CharField(max_length=20, choices=EventType)
    element_selector = models.CharField(max_length=1000, blank=True)
    page_url = models.CharField(max_length=2048, blank=True)
    # {"name", "config", "executionTimeMs", "error"} of the action as reported.
    event_data = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["execution_id", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(event_type__in=["action_executed", "action_failed"]),
                name="analytics_event_type_valid",
            ),
        ]
        indexes = [
            # Per-action performance of one playbook over a time range.
            models.Index(fields=["workflow", "created_at"], name="event_workflow_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_event_type_display()} {self.element_selector}"


# What every rollup row adds up, in one order for the SQL and the dashboards.
ROLLUP_SUMS = ("executions", "errors", "timeouts", "desktop", "mobile", "tablet", "total_time_ms")


class RollupRow(models.Model):
    """What a rollup row adds up for one playbook over its stretch of time."""

    # Both foreign keys are indexed by each rollup's composite indexes.
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, db_index=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False)
    executions = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    timeouts = models.PositiveIntegerField(default=0)
    desktop = models.PositiveIntegerField(default=0)
    mobile = models.PositiveIntegerField(default=0)
    tablet = models.PositiveIntegerField(default=0)
    total_time_ms = models.PositiveBigIntegerField(default=0)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        abstract = True


class HourlyStat(RollupRow):
    """One playbook's executions in one hour (UTC): what dashboards read instead of raw rows.

    Kept by the write path in the same transaction as the execution, so its sums always equal
    the counters; retention may delete old executions and leaves these rows alone."""

    hour = models.DateTimeField()

    class Meta:
        ordering = ["hour"]
        constraints = [
            # Also the index for one playbook's chart over a range.
            models.UniqueConstraint(fields=["workflow", "hour"], name="hourly_stat_workflow_hour"),
        ]
        indexes = [
            # An owner's totals, charts and top playbooks over a range.
            models.Index(fields=["owner", "hour"], name="hourly_stat_owner_hour_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id} @ {self.hour:%Y-%m-%d %H}:00"


class DailyStat(RollupRow):
    """One playbook's executions in one UTC day: the hourly rows of that day added up, kept in
    the same transaction. Long ranges read these, and hourly rows only at their edges."""

    day = models.DateField()

    class Meta:
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "day"], name="daily_stat_workflow_day"),
        ]
        indexes = [
            models.Index(fields=["owner", "day"], name="daily_stat_owner_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id} @ {self.day:%Y-%m-%d}"


# A visitor id as the site script makes it (random, first-party): nothing else is stored.
VISITOR_ID_MAX = 64


class Exposure(models.Model):
    """A visitor whose page met a playbook's triggers, once per playbook: in its exposed group
    (the actions applied) or held out (nothing applied). The first group seen is kept."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, db_index=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False)
    visitor_id = models.CharField(max_length=VISITOR_ID_MAX)
    held_out = models.BooleanField()
    exposed_at = models.DateTimeField()

    objects = OwnedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "visitor_id"], name="exposure_workflow_visitor"
            ),
        ]
        indexes = [
            # A converting visitor's exposures.
            models.Index(fields=["visitor_id"], name="exposure_visitor_idx"),
        ]

    def __str__(self) -> str:
        group = "held out of" if self.held_out else "exposed to"
        return f"{self.visitor_id} {group} {self.workflow_id}"


class Conversion(models.Model):
    """A visitor reaching a goal: at most one per visitor, goal and UTC day."""

    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, db_index=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False)
    visitor_id = models.CharField(max_length=VISITOR_ID_MAX)
    day = models.DateField()
    converted_at = models.DateTimeField()
    received_at = models.DateTimeField()
    page_url = models.CharField(max_length=2048, blank=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["goal", "visitor_id", "day"], name="conversion_once_a_day"
            ),
        ]
        indexes = [
            # An exposed visitor's earlier-delivered conversions.
            models.Index(fields=["visitor_id"], name="conversion_visitor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.visitor_id} reached {self.goal_id} on {self.day}"


class Attribution(models.Model):
    """A visitor exposed to (or held out of) a playbook who reached a goal after that: counted
    once per playbook, goal and visitor, whatever the days and the order of delivery."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, db_index=False)
    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, db_index=False)
    visitor_id = models.CharField(max_length=VISITOR_ID_MAX)
    held_out = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "goal", "visitor_id"], name="attribution_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.visitor_id}: {self.workflow_id} -> {self.goal_id}"


class LiftTally(models.Model):
    """How many of a playbook's exposed (or held-out) visitors reached a goal: the Attribution
    rows counted, kept in the same transaction."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, db_index=False)
    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, db_index=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False)
    held_out = models.BooleanField()
    converters = models.PositiveBigIntegerField(default=0)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "goal", "held_out"], name="lift_tally_group"
            ),
        ]
        indexes = [models.Index(fields=["owner"], name="lift_tally_owner_idx")]

    def __str__(self) -> str:
        return f"{self.workflow_id} -> {self.goal_id}: {self.converters}"


class GoalDailyStat(models.Model):
    """One goal's conversions in one UTC day, kept in the same transaction as they are."""

    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, db_index=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False)
    day = models.DateField()
    conversions = models.PositiveIntegerField(default=0)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(fields=["goal", "day"], name="goal_daily_stat_goal_day"),
        ]
        indexes = [models.Index(fields=["owner", "day"], name="goal_daily_stat_owner_day_idx")]

    def __str__(self) -> str:
        return f"{self.goal_id} @ {self.day:%Y-%m-%d}"


class NotCounted(models.Model):
    """Executions and conversions the site script posted from a known bot, by day (UTC) and
    by the bot's name: left out of every count, shown so that nothing vanishes unexplained."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False)
    day = models.DateField()
    reason = models.CharField(max_length=100)
    executions = models.PositiveBigIntegerField(default=0)
    conversions = models.PositiveBigIntegerField(default=0)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["day", "reason"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "day", "reason"], name="not_counted_owner_day_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason} @ {self.day:%Y-%m-%d}"
