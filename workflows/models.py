import re
import secrets
import uuid
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q

from workflows.definitions import TEXT_MATCHES, validate_actions, validate_triggers
from workflows.selectors import selector_problem


def validate_time_zone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(f"{value!r} is not a time zone name like Europe/Paris.")


def new_site_key() -> str:
    return "sk_" + secrets.token_urlsafe(24)


# What a site key can look like: anything else (NUL, surrogates, spaces) is no site's key.
SITE_KEY_FORM = re.compile(r"[A-Za-z0-9_-]{1,64}")


# The origin of a sandboxed iframe or a file: any page can make one, so a site must list it.
OPAQUE_ORIGIN = "null"


def normalize_origin(value: str) -> str:
    """Return `scheme://host[:port]` in lower case (or `null`), or raise ValidationError."""
    if value.strip() == OPAQUE_ORIGIN:
        return OPAQUE_ORIGIN
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"{value!r} is not an origin like https://www.example.com.")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValidationError(f"{value!r} must be an origin only, without a path.")
    try:
        port = parts.port
    except ValueError:
        raise ValidationError(f"{value!r} has an invalid port.") from None
    host = parts.hostname.lower()
    default_port = {"http": 80, "https": 443}[parts.scheme]
    suffix = f":{port}" if port and port != default_port else ""
    return f"{parts.scheme}://{host}{suffix}"


class OwnedQuerySet(models.QuerySet):
    """Rows that belong to a user through their `owner`."""

    def for_user(self, user) -> "OwnedQuerySet":
        return self.filter(owner=user) if user.is_authenticated else self.none()


class SiteQuerySet(OwnedQuerySet):
    def by_key(self, key: str, origin: str | None = None) -> "Site | None":
        """The site with this key, its owner loaded with `is_active` only (the rest on first
        use), and for an origin `origin_allowed`; None for an unknown or malformed key. One
        query."""
        if not isinstance(key, str) or not SITE_KEY_FORM.fullmatch(key):
            return None
        sites = self.select_related("owner").only(
            *[field.name for field in self.model._meta.concrete_fields], "owner__is_active"
        )
        if origin is not None:
            allowed = SiteOrigin.objects.filter(site=OuterRef("pk"), origin=origin)
            sites = sites.annotate(origin_allowed=Exists(allowed))
        site = sites.filter(site_key=key).first()
        if site is not None and origin is None:
            site.origin_allowed = None
        return site


class Site(models.Model):
    """A marketer's website: the site script authenticates with its public key."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sites"
    )
    name = models.CharField(max_length=200)
    site_key = models.CharField(max_length=64, unique=True, default=new_site_key, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SiteQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def masked_key(self) -> str:
        """The key as log lines show it: enough to tell keys apart, not enough to use one."""
        return mask_site_key(self.site_key)


def mask_site_key(key: str) -> str:
    return f"{key[:7]}…" if len(key) > 7 else "…"


class SiteOrigin(models.Model):
    """An origin (scheme, host, port) whose pages may post executions for a site."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="origins")
    origin = models.CharField(max_length=255)

    class Meta:
        ordering = ["origin"]
        constraints = [
            models.UniqueConstraint(fields=["site", "origin"], name="site_origin_unique"),
        ]
        indexes = [
            # CORS preflight: "does any site allow this origin?"
            models.Index(fields=["origin"], name="site_origin_origin_idx"),
        ]

    def __str__(self) -> str:
        return self.origin

    def clean(self) -> None:
        self.origin = normalize_origin(self.origin)


class WorkflowQuerySet(OwnedQuerySet):
    def active(self) -> "WorkflowQuerySet":
        return self.filter(status=Workflow.Status.ACTIVE)


class Workflow(models.Model):
    """A playbook: when its triggers match on a site's page, its actions edit the page."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"

    class TriggerMatch(models.TextChoices):
        ALL = "all", "All triggers"
        ANY = "any", "Any trigger"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Both foreign keys are indexed by the composite indexes below.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="workflows",
        db_index=False,
    )
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, related_name="workflows", db_index=False
    )
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status, default=Status.ACTIVE)
    trigger_match = models.CharField(max_length=3, choices=TriggerMatch, default=TriggerMatch.ALL)
    triggers = models.JSONField(default=list, blank=True, validators=[validate_triggers])
    actions = models.JSONField(default=list, validators=[validate_actions])
    # The share of visitors kept from the actions, to measure the playbook's lift against.
    holdout_percent = models.PositiveSmallIntegerField(
        "holdout group (%)", default=0, validators=[MaxValueValidator(100)]
    )
    # Lifetime counters, raised by analytics.services only.
    executions = models.PositiveBigIntegerField(default=0, editable=False)
    exposed_visitors = models.PositiveBigIntegerField(default=0, editable=False)
    held_out_visitors = models.PositiveBigIntegerField(default=0, editable=False)
    last_run = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkflowQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["active", "paused"]), name="workflow_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(trigger_match__in=["all", "any"]), name="workflow_trigger_match_valid"
            ),
            models.CheckConstraint(
                condition=Q(holdout_percent__lte=100), name="workflow_holdout_percent_valid"
            ),
        ]
        indexes = [
            # The site script's config: a site's active playbooks.
            models.Index(fields=["site", "status"], name="workflow_site_status_idx"),
            # An owner's playbooks. Not by `executions`: every tracked run updates the counter,
            # and an index on it would rule out PostgreSQL's HOT updates (no index writes).
            models.Index(fields=["owner", "name"], name="workflow_owner_name_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.site_id and self.owner_id and self.site.owner_id != self.owner_id:
            raise ValidationError({"site": "The site must belong to the playbook's owner."})

    @property
    def selectors(self) -> set[str]:
        return {action["selector"] for action in self.actions if action.get("selector")}

    def sharing_selectors(self) -> list[tuple["Workflow", list[str]]]:
        """The site's other active playbooks that change an element this one changes too (one
        query): on a page where both run, the last one to apply wins."""
        if self.status != self.Status.ACTIVE or not self.selectors:
            return []
        others = Workflow.objects.filter(site_id=self.site_id).active().exclude(pk=self.pk)
        shared = [(other, sorted(self.selectors & other.selectors)) for other in others]
        return [(other, selectors) for other, selectors in shared if selectors]


goal_event = RegexValidator(
    r"^[A-Za-z0-9_.:-]{1,100}$", "Use only letters, digits and _ . : - (at most 100)."
)


class Goal(models.Model):
    """What a marketer wants visitors of a site to do: playbooks' lift is measured against it.

    The site script counts a conversion when the visitor clicks an element matching
    `selector` (click), opens a page whose path matches `path` (page), or when the page calls
    `workflowSystem.goal(event)` (call)."""

    class Kind(models.TextChoices):
        CLICK = "click", "A click on an element"
        PAGE = "page", "A visit to a page"
        CALL = "call", "A call from the page"

    class PathMatch(models.TextChoices):
        EQUALS = "equals", "is"
        CONTAINS = "contains", "contains"
        STARTS_WITH = "starts_with", "starts with"

    # The fields each kind uses; the others stay blank.
    FIELDS_OF_KIND = {"click": ("selector",), "page": ("match", "path"), "call": ("event",)}

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="goals", db_index=False
    )
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="goals")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=5, choices=Kind)
    selector = models.CharField(max_length=1000, blank=True)
    match = models.CharField("path match", max_length=11, choices=PathMatch, blank=True)
    path = models.CharField(max_length=2048, blank=True)
    event = models.CharField(max_length=100, blank=True, validators=[goal_event])
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["click", "page", "call"]), name="goal_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(match__in=["", *TEXT_MATCHES]), name="goal_match_valid"
            ),
            models.CheckConstraint(
                condition=(Q(kind="click") & ~Q(selector=""))
                | (Q(kind="page") & ~Q(match="") & ~Q(path=""))
                | (Q(kind="call") & ~Q(event="")),
                name="goal_has_what_its_kind_needs",
            ),
        ]
        indexes = [models.Index(fields=["owner", "name"], name="goal_owner_name_idx")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.site_id and self.owner_id and self.site.owner_id != self.owner_id:
            errors["site"] = "The site must belong to the goal's owner."
        needed = self.FIELDS_OF_KIND.get(self.kind, ())
        for name in ("selector", "match", "path", "event"):
            if name not in needed:
                setattr(self, name, "")
            elif not getattr(self, name).strip():
                errors[name] = (
                    f"A goal of this kind needs a {self._meta.get_field(name).verbose_name}."
                )
        if self.kind == self.Kind.CLICK and self.selector.strip():
            problem = selector_problem(self.selector)
            if problem:
                errors["selector"] = problem
        if errors:
            raise ValidationError(errors)

    @property
    def description(self) -> str:
        """What counts as reaching the goal, in words."""
        if self.kind == self.Kind.CLICK:
            return f"A click on {self.selector}"
        if self.kind == self.Kind.PAGE:
            return f"A visit to a page whose path {self.get_match_display()} {self.path}"
        return f'The page calls workflowSystem.goal("{self.event}")'


class Profile(models.Model):
    """A marketer's preferences: the time zone dates and days are shown in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone})"
