"""Formatting for dashboard numbers and dates; the values themselves are computed in views."""

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import capfirst

register = template.Library()


@register.filter
def badge(status: str) -> str:
    """A status as its coloured badge: "error" -> Error, in the error colour. A filter rather
    than an included template: long tables show one per row."""
    return format_html('<span class="badge badge-{}">{}</span>', status, capfirst(status))


@register.filter
def ms(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 1000:
        return f"{value / 1000:.1f} s"
    return f"{value:.0f} ms"


@register.filter
def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}%"


@register.filter
def signed(value: float | None, unit: str = "%") -> str:
    """A change: +12.5% / −3.0 pts; nothing when there is no earlier figure."""
    if value is None:
        return "no earlier data"
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return f"{sign}{abs(value):.1f}{unit}"


@register.filter
def last_run(moment: datetime | None) -> str:
    """'Today 14:05', 'Yesterday 09:12' or 'Mar 3, 2026', in the current time zone."""
    if moment is None:
        return "Never"
    local = timezone.localtime(moment)
    today = timezone.localdate()
    if local.date() == today:
        return f"Today {local:%H:%M}"
    if local.date() == today - timedelta(days=1):
        return f"Yesterday {local:%H:%M}"
    return f"{local:%b} {local.day}, {local.year}"


@register.filter
def rate(value: float | None) -> str:
    """A share from 0 to 1 as a percentage: 0.0512 -> 5.12%."""
    return "–" if value is None else f"{100 * value:.2f}%"


@register.filter
def relative(value: float | None) -> str:
    """A relative change from 0: 0.125 -> +12.5%, -0.03 -> −3.0%."""
    return signed(None if value is None else 100 * value)


@register.filter
def p_value(value: float | None) -> str:
    if value is None:
        return "–"
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


@register.filter
def count(value: int) -> str:
    """A count as it is: what the template engine shows, without its localization machinery,
    which long tables of counts would pay for in every cell."""
    return str(value)
