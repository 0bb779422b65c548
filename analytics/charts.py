"""Server-rendered SVG charts: geometry (and the bars' markup) computed here, drawn by
`_bar_chart.html` and `_share_bars.html`. No chart library and no script: charts work without
JavaScript and under a strict Content Security Policy. Each chart is drawn twice, for wide and
for narrow screens (the stylesheet shows one), so that its text stays readable when the chart
shrinks."""

from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from analytics.queries import BucketCount

HEIGHT = 170
LABEL_SPACE = 24
TOP_SPACE = 20
SIDE_SPACE = 12


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    ok_y: float
    ok_height: float
    failed_y: float
    failed_height: float
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


# A bar: its title (the bucket and its counts), its successes, and its failures on top.
BAR_MARKUP = (
    '<g><title>{title}</title><rect class="ok" x="{x}" y="{ok_y}" width="{width}"'
    ' height="{ok_height}" rx="2"></rect><rect class="failed" x="{x}" y="{failed_y}"'
    ' width="{width}" height="{failed_height}" rx="2"></rect></g>'
)


@dataclass(frozen=True)
class Drawing:
    width: int
    height: int
    font_size: int
    bars: list[Bar]
    ticks: list[Tick]

    @property
    def bars_markup(self) -> SafeString:
        """The bars as SVG, drawn here rather than by the template: a long period has hundreds
        of them, and the template engine's work per value made them most of a page's. Only the
        title is text; every other value is a number computed here, so it needs no escaping."""
        return mark_safe(
            "\n".join(
                BAR_MARKUP.format_map(vars(bar) | {"title": escape(bar.title)}) for bar in self.bars
            )
        )


@dataclass(frozen=True)
class BarChart:
    counts: list[BucketCount]  # also shown as a table
    wide: Drawing
    narrow: Drawing
    peak: int
    summary: str  # what the chart says, for screen readers

    @property
    def empty(self) -> bool:
        return self.peak == 0


def bar_chart(counts: list[BucketCount], per: str) -> BarChart:
    """Stacked bars per bucket (`per` is "hour" or "day"): successes, and failures (errors and
    timeouts) on top."""
    peak = max((count.executions for count in counts), default=0)
    busiest = max(counts, key=lambda count: count.executions, default=None)
    summary = f"Executions per {per}: none"
    if busiest and peak:
        total = sum(count.executions for count in counts)
        summary = (
            f"Executions per {per}: {total} in all, the most ({peak}) at {busiest.bucket.title}"
        )
    return BarChart(
        counts,
        wide=_drawing(counts, peak, width=720, font_size=12, ticks=8),
        narrow=_drawing(counts, peak, width=360, font_size=15, ticks=4),
        peak=peak,
        summary=summary,
    )


def _drawing(counts: list[BucketCount], peak: int, *, width: int, font_size: int, ticks: int):
    plot = HEIGHT - LABEL_SPACE - TOP_SPACE
    slot = (width - 2 * SIDE_SPACE) / max(len(counts), 1)
    bars = []
    for index, count in enumerate(counts):
        total = count.executions * plot / peak if peak else 0
        failed = count.failed * plot / peak if peak else 0
        bars.append(
            Bar(
                x=round(SIDE_SPACE + index * slot + slot * 0.15, 2),
                width=round(slot * 0.7, 2),
                ok_y=round(TOP_SPACE + plot - total + failed, 2),
                ok_height=round(total - failed, 2),
                failed_y=round(TOP_SPACE + plot - total, 2),
                failed_height=round(failed, 2),
                title=f"{count.bucket.title}: {count.executions} executions, {count.failed} failed",
            )
        )
    step = max(1, -(-len(counts) // ticks))
    labels = [
        Tick(round(SIDE_SPACE + index * slot + slot / 2, 2), count.bucket.label)
        for index, count in enumerate(counts)
        if index % step == 0
    ]
    return Drawing(width, HEIGHT, font_size, bars, labels)


@dataclass(frozen=True)
class Share:
    label: str
    count: int
    percent: float
    width: float
    url: str = ""  # the history narrowed to it, when a click can narrow it


def shares(items: list[tuple[str, int]], width: int = 240) -> list[Share]:
    """Horizontal bars for a breakdown, each with its share of the whole."""
    total = sum(count for _, count in items)
    if not total:
        return []
    peak = max(count for _, count in items)
    return [
        Share(label, count, 100 * count / total, width * count / peak if peak else 0)
        for label, count in items
    ]
