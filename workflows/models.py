import re
import secrets
import uuid
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, Q

from workflows.definitions import validate_actions, validate_triggers


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


class SiteQuerySet(models.QuerySet):
    def for_user(self, user) -> "SiteQuerySet":
        return self.filter(owner=user) if user.is_authenticated else self.none()

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


class WorkflowQuerySet(models.QuerySet):
    def for_user(self, user) -> "WorkflowQuerySet":
        return self.filter(owner=user) if user.is_authenticated else self.none()

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
    # Lifetime counter, raised with F() by analytics.services.record_execution only.
    executions = models.PositiveBigIntegerField(default=0, editable=False)
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


class Profile(models.Model):
    """A marketer's preferences: the time zone dates and days are shown in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone})"
