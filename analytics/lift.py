"""The lift of a playbook on one goal: its exposed visitors against its holdout group.

Relative lift is the relative risk of converting minus one (exposed rate / held-out rate - 1).
Its 95% interval is the Katz log interval of the relative risk, and its p-value comes from the
two-sided Pearson chi-square test of the 2x2 table, which is the pooled two-proportion z-test
squared; scipy computes both. Both rest on a normal approximation that needs a handful of
conversions in each group, so nothing is estimated until each group has MIN_VISITORS visitors
and MIN_CONVERTERS converters. scipy is imported only when an estimate is made, so that the
web workers do not pay for its import at start-up.
"""

from dataclasses import dataclass, replace

MIN_VISITORS = 100  # per group
MIN_CONVERTERS = 5  # per group
CONFIDENCE_LEVEL = 0.95
SIGNIFICANCE_LEVEL = 0.05  # two-sided, matching the 95% interval


@dataclass(frozen=True)
class Lift:
    """The counts of both groups and, when there are enough, the lift measured from them."""

    exposed_visitors: int
    exposed_converters: int
    held_out_visitors: int
    held_out_converters: int
    lift: float | None  # relative lift: 0.12 means the exposed group converts 12% more often
    low: float | None  # 95% interval of the relative lift, same scale
    high: float | None
    p_value: float | None  # two-sided

    @property
    def exposed_rate(self) -> float | None:
        return _rate(self.exposed_converters, self.exposed_visitors)

    @property
    def held_out_rate(self) -> float | None:
        return _rate(self.held_out_converters, self.held_out_visitors)

    @property
    def enough(self) -> bool:
        """Whether both groups have the visitors and converters the approximation needs."""
        return _enough(self.exposed_visitors, self.exposed_converters) and _enough(
            self.held_out_visitors, self.held_out_converters
        )

    @property
    def significant(self) -> bool:
        return self.enough and self.p_value is not None and self.p_value < SIGNIFICANCE_LEVEL


def measure(
    exposed_visitors: int,
    exposed_converters: int,
    held_out_visitors: int,
    held_out_converters: int,
) -> Lift:
    """The lift of the exposed group over the held-out group; lift, low, high and p_value are
    None unless both groups are large enough (`Lift.enough`)."""
    _check_group("exposed", exposed_visitors, exposed_converters)
    _check_group("held-out", held_out_visitors, held_out_converters)
    counts = Lift(
        exposed_visitors,
        exposed_converters,
        held_out_visitors,
        held_out_converters,
        lift=None,
        low=None,
        high=None,
        p_value=None,
    )
    if not counts.enough:
        return counts
    lift, low, high = _relative_lift(
        exposed_visitors, exposed_converters, held_out_visitors, held_out_converters
    )
    p_value = _two_sided_p_value(
        exposed_visitors, exposed_converters, held_out_visitors, held_out_converters
    )
    return replace(counts, lift=lift, low=low, high=high, p_value=p_value)


def _relative_lift(
    exposed_visitors: int,
    exposed_converters: int,
    held_out_visitors: int,
    held_out_converters: int,
) -> tuple[float, float, float]:
    """Relative risk - 1 and its Katz (log) interval - 1."""
    from scipy.stats.contingency import relative_risk

    risk = relative_risk(
        exposed_cases=exposed_converters,
        exposed_total=exposed_visitors,
        control_cases=held_out_converters,
        control_total=held_out_visitors,
    )
    interval = risk.confidence_interval(confidence_level=CONFIDENCE_LEVEL)
    return float(risk.relative_risk) - 1, float(interval.low) - 1, float(interval.high) - 1


def _two_sided_p_value(
    exposed_visitors: int,
    exposed_converters: int,
    held_out_visitors: int,
    held_out_converters: int,
) -> float:
    """Pearson chi-square test of the 2x2 table, without Yates' correction."""
    from scipy.stats import chi2_contingency

    if exposed_converters == exposed_visitors and held_out_converters == held_out_visitors:
        return 1.0  # everyone converted: the groups cannot differ, and scipy rejects the table
    table = [
        [exposed_converters, exposed_visitors - exposed_converters],
        [held_out_converters, held_out_visitors - held_out_converters],
    ]
    return float(chi2_contingency(table, correction=False).pvalue)


def _rate(converters: int, visitors: int) -> float | None:
    return converters / visitors if visitors else None


def _enough(visitors: int, converters: int) -> bool:
    return visitors >= MIN_VISITORS and converters >= MIN_CONVERTERS


def _check_group(group: str, visitors: int, converters: int) -> None:
    if visitors < 0 or converters < 0:
        raise ValueError(f"{group} counts cannot be negative: {visitors=}, {converters=}")
    if converters > visitors:
        raise ValueError(f"{group} converters exceed visitors: {visitors=}, {converters=}")
