"""Server-rendered SVG charts: geometry computed here, drawn by `_bar_chart.html` and
`_share_bars.html`. No chart library and no script: charts work without JavaScript and
under a strict Content Security Policy."""

from dataclasses import dataclass

from analytics.queries import DayCount

CHART_WIDTH = 720
CHART_HEIGHT = 170
LABEL_SPACE = 22
TOP_SPACE = 18
SIDE_SPACE = 24


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


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    plot_height: int
    bars: list[Bar]
    ticks: list[Tick]
    peak: int
    empty: bool


def daily_chart(days: list[DayCount]) -> BarChart:
    """Stacked bars per day: successes, and failures (errors and timeouts) on top."""
    plot = CHART_HEIGHT - LABEL_SPACE - TOP_SPACE
    peak = max((day.executions for day in days), default=0)
    slot = (CHART_WIDTH - 2 * SIDE_SPACE) / max(len(days), 1)
    bars = []
    for index, day in enumerate(days):
        total = day.executions * plot / peak if peak else 0
        failed = day.errors * plot / peak if peak else 0
        bars.append(
            Bar(
                x=round(SIDE_SPACE + index * slot + slot * 0.15, 2),
                width=round(slot * 0.7, 2),
                ok_y=round(TOP_SPACE + plot - total + failed, 2),
                ok_height=round(total - failed, 2),
                failed_y=round(TOP_SPACE + plot - total, 2),
                failed_height=round(failed, 2),
                title=f"{day.day:%a %b %-d}: {day.executions} executions, {day.errors} failed",
            )
        )
    step = max(1, len(days) // 6)
    ticks = [
        Tick(round(SIDE_SPACE + index * slot + slot / 2, 2), f"{day.day:%b %-d}")
        for index, day in enumerate(days)
        if index % step == 0
    ]
    return BarChart(CHART_WIDTH, CHART_HEIGHT, plot, bars, ticks, peak, peak == 0)


@dataclass(frozen=True)
class Share:
    label: str
    count: int
    percent: float
    width: float


def shares(items: list[tuple[str, int]], width: int = 240) -> list[Share]:
    """Horizontal bars for a breakdown, each with its share of the whole."""
    total = sum(count for _, count in items)
    if not total:
        return []
    peak = max(count for _, count in items)
    return [
        Share(
            label, count, 100 * count / total if total else 0, width * count / peak if peak else 0
        )
        for label, count in items
    ]
