from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone

from analytics.models import Execution
from analytics.queries import Period

RANGES = {
    "24h": ("24 hours", timedelta(hours=24)),
    "7d": ("7 days", timedelta(days=7)),
    "30d": ("30 days", timedelta(days=30)),
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


class RangeForm(forms.Form):
    """The period a dashboard shows: the last 24 h, 7 d or 30 d, or whole days in between."""

    range = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in RANGES.items()] + [("custom", "Custom")],
        required=False,
    )
    start = DayField(required=False)
    end = DayField(required=False)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("range") == "custom":
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                raise forms.ValidationError("A custom range needs a start and an end date.")
            if end < start:
                raise forms.ValidationError("The end date is before the start date.")
            if (end - start).days >= MAX_CUSTOM_DAYS:
                raise forms.ValidationError(f"A range covers at most {MAX_CUSTOM_DAYS} days.")
        return data

    @classmethod
    def for_request(cls, params, default: str) -> "RangeForm":
        """The form as the page shows it: the default range chosen when none was."""
        data = params.copy()
        if not data.get("range"):
            data["range"] = default
        form = cls(data)
        form.default = default
        return form

    default = "7d"

    def period(self, tz: ZoneInfo) -> Period:
        """The chosen period, or the default one when the form is invalid."""
        data = self.cleaned_data if self.is_valid() else {}
        choice = data.get("range") or self.default
        if choice == "custom":
            start = datetime.combine(data["start"], time.min, tzinfo=tz)
            end = datetime.combine(data["end"] + timedelta(days=1), time.min, tzinfo=tz)
            return Period(start, end, f"{data['start']:%b %-d} – {data['end']:%b %-d}")
        label, length = RANGES[choice]
        # Whole hours, the rollup's grain: the current hour plus the ones before it.
        end = timezone.now()
        start = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1) - length
        return Period(start, end, label)


class HistoryFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Any status"), *Execution.Status.choices], required=False
    )
    device = forms.ChoiceField(
        choices=[("", "Any device"), *[c for c in Execution.DeviceType.choices if c[0]]],
        required=False,
    )
    start = DayField(required=False)
    end = DayField(required=False)
    page = forms.IntegerField(required=False, min_value=1, max_value=10_000)

    def filters(self, tz: ZoneInfo) -> dict:
        """Cleaned filters with dates turned into moments in the user's time zone."""
        data = dict(self.cleaned_data) if self.is_valid() else {}
        if data.get("start"):
            data["start"] = datetime.combine(data["start"], time.min, tzinfo=tz)
        if data.get("end"):
            data["end"] = datetime.combine(data["end"] + timedelta(days=1), time.min, tzinfo=tz)
        return data
