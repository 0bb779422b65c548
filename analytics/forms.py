from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone

from analytics.models import Execution
from analytics.queries import Period

# A preset period ends now: its name, how it is called on the page, and how long it is.
PRESETS = {
    "24h": ("24 h", "Last 24 hours", timedelta(hours=24)),
    "48h": ("48 h", "Last 48 hours", timedelta(hours=48)),
    "7d": ("7 days", "Last 7 days", timedelta(days=7)),
    "30d": ("30 days", "Last 30 days", timedelta(days=30)),
    "90d": ("90 days", "Last 90 days", timedelta(days=90)),
}
MAX_CUSTOM_DAYS = 366
# Dates a dashboard can be asked about: far wider than any data, narrow enough that a period
# and the one before it stay within what dates can hold.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


class DayField(forms.DateField):
    widget = forms.DateInput(attrs={"type": "date"})
    default_validators = [
        MinValueValidator(FIRST_DAY, f"Choose a day from {FIRST_DAY:%Y-%m-%d}."),
        MaxValueValidator(LAST_DAY, f"Choose a day until {LAST_DAY:%Y-%m-%d}."),
    ]


class PeriodForm(forms.Form):
    """The one period a dashboard page shows: a preset ending now (`range`), or whole days of
    the user's time zone (`start` and `end`, which take precedence when given)."""

    # "custom" is what the days alone also say; the page's links never need it.
    range = forms.ChoiceField(
        choices=[*((key, short) for key, (short, _, _) in PRESETS.items()), ("custom", "Days")]
    )
    start = DayField(required=False, label="From")
    end = DayField(required=False, label="To")

    def __init__(self, params, *, default: str) -> None:
        data = {key: params.get(key, "") for key in ("range", "start", "end")}
        data["range"] = data["range"] or default
        super().__init__(data)
        self.default = default

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        wants_days = bool(start or end) or data.get("range") == "custom"
        if wants_days and not (start and end) and not self.errors:
            raise forms.ValidationError("Choose both a first and a last day.")
        if start and end:
            if end < start:
                raise forms.ValidationError("The last day is before the first day.")
            if (end - start).days >= MAX_CUSTOM_DAYS:
                raise forms.ValidationError(f"Choose at most {MAX_CUSTOM_DAYS} days.")
        return data

    @property
    def custom(self) -> bool:
        return self.is_valid() and bool(self.cleaned_data.get("start"))

    @property
    def preset(self) -> str:
        """The preset shown, or "" for custom days."""
        if self.custom:
            return ""
        return self.cleaned_data.get("range") if self.is_valid() else self.default

    def period(self, tz: ZoneInfo) -> Period:
        """The chosen period, or the default one when the form is invalid."""
        if self.custom:
            first, last = self.cleaned_data["start"], self.cleaned_data["end"]
            days = (last - first).days + 1
            start = datetime.combine(first, time.min, tzinfo=tz)
            end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
            before = first - timedelta(days=days), first - timedelta(days=1)
            return Period(start, end, _days(first, last), _days(*before))
        _, label, length = PRESETS[self.preset]
        # Whole hours, the rollups' grain: the current hour plus the ones before it.
        end = timezone.now()
        start = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1) - length
        return Period(start, end, label, f"the {label.removeprefix('Last ')} before")

    def query(self) -> dict[str, str]:
        """The period as address parameters."""
        if self.custom:
            return {key: self.cleaned_data[key].isoformat() for key in ("start", "end")}
        return {"range": self.preset}


def _days(first: date, last: date) -> str:
    if first == last:
        return f"{first:%b %-d, %Y}"
    if first.year != last.year:
        return f"{first:%b %-d, %Y} – {last:%b %-d, %Y}"
    return f"{first:%b %-d} – {last:%b %-d, %Y}"


class HistoryFilterForm(forms.Form):
    """What narrows the period's execution history (and its CSV): a breakdown's click sets
    one of the text fields."""

    status = forms.ChoiceField(
        choices=[("", "Any status"), *Execution.Status.choices], required=False
    )
    device = forms.ChoiceField(
        choices=[("", "Any device"), *[c for c in Execution.DeviceType.choices if c[0]]],
        required=False,
    )
    trigger = forms.CharField(required=False, max_length=200)
    path = forms.CharField(required=False, max_length=2048)
    utm_source = forms.CharField(required=False, max_length=200)
    utm_campaign = forms.CharField(required=False, max_length=200)
    page = forms.IntegerField(required=False, min_value=1, max_value=10_000)

    # Those a breakdown or the form sets, as the page lists them.
    NARROWING = ("status", "device", "trigger", "path", "utm_source", "utm_campaign")

    def filters(self) -> dict:
        return dict(self.cleaned_data) if self.is_valid() else {}
