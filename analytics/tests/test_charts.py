"""The chart's bars as drawn: one group per bucket, its title escaped, its geometry in SVG's own
number format, failures stacked on successes."""

import re
from datetime import UTC, datetime

from analytics.charts import HEIGHT, LABEL_SPACE, TOP_SPACE, bar_chart
from analytics.queries import Bucket, BucketCount, Span

MOMENT = datetime(2026, 12, 1, tzinfo=UTC)


def counts(*figures: tuple[int, int], title: str = "Dec 1") -> list[BucketCount]:
    bucket = Bucket(label="Dec 1", title=title, span=Span(MOMENT, MOMENT))
    return [BucketCount(bucket, executions, failed) for executions, failed in figures]


def drawn_bars(markup: str) -> list[dict]:
    groups = re.findall(r"<g><title>(.*?)</title>(.*?)</g>", markup)
    bars = []
    for title, rects in groups:
        shapes = {
            kind: {name: float(value) for name, value in re.findall(r'(\w+)="([\d.]+)"', attrs)}
            for kind, attrs in re.findall(r'<rect class="(ok|failed)"([^>]*)>', rects)
        }
        bars.append({"title": title, **shapes})
    return bars


def test_each_bucket_is_one_bar_with_its_failures_on_top_of_its_successes():
    chart = bar_chart(counts((10, 0), (20, 5), (0, 0)), "day")

    for drawing in (chart.wide, chart.narrow):
        bars = drawn_bars(str(drawing.bars_markup))
        assert [bar["title"] for bar in bars] == [
            "Dec 1: 10 executions, 0 failed",
            "Dec 1: 20 executions, 5 failed",
            "Dec 1: 0 executions, 0 failed",
        ]
        tallest = bars[1]
        assert tallest["failed"]["y"] == TOP_SPACE  # the peak's bar fills the plot
        assert tallest["failed"]["y"] + tallest["failed"]["height"] == tallest["ok"]["y"]
        bottom = HEIGHT - LABEL_SPACE
        assert tallest["ok"]["y"] + tallest["ok"]["height"] == bottom
        assert tallest["ok"]["height"] == 3 * tallest["failed"]["height"]  # 15 ok, 5 failed
        assert bars[2]["ok"]["height"] == bars[2]["failed"]["height"] == 0
        assert bars[0]["ok"]["x"] < bars[1]["ok"]["x"] < bars[2]["ok"]["x"] < drawing.width


def test_a_bars_title_is_escaped():
    chart = bar_chart(counts((3, 1), title='<script>"x"</script>'), "day")

    markup = str(chart.wide.bars_markup)

    assert "<script>" not in markup
    assert "&lt;script&gt;&quot;x&quot;&lt;/script&gt;: 3 executions" in markup


def test_the_page_draws_every_bar_in_both_drawings(as_alice, known_data):
    page = as_alice.get("/analytics/", {"range": "30d"})
    chart = page.context["chart"]

    html = page.content.decode()

    assert html.count('<rect class="ok"') == 2 * len(chart.counts)
    assert html.count('<rect class="failed"') == 2 * len(chart.counts)
