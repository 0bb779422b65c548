"""analytics.lift: published worked examples, simulated experiments, and edge cases.

No database: these tests only call `measure` on counts.
"""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2, norm

from analytics import lift
from analytics.lift import Lift, measure

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def without_minimums(monkeypatch):
    """Published examples from small trials fall below the minimums; lower them to reach them."""
    monkeypatch.setattr(lift, "MIN_VISITORS", 1)
    monkeypatch.setattr(lift, "MIN_CONVERTERS", 1)


def risk_ratio(result: Lift, bound: str = "lift") -> float:
    """The relative risk (or one of its bounds) behind a relative lift."""
    return getattr(result, bound) + 1


# Published worked examples


def test_katz_interval_reproduces_altman_relative_risk_example(without_minimums):
    """Altman DG. Practical Statistics for Medical Research. London: Chapman & Hall; 1991.
    Section 10.11.1, Table 10.23 (Kurjak et al., 1978): an Apgar score below 7 in 2 of 16
    babies with symmetric and 33 of 91 with asymmetric growth retardation. Published:
    relative risk 0.345, log_e RR -1.0651, SE(log_e RR) = sqrt(1/a - 1/(a+c) + 1/b - 1/(b+d))
    = 0.676, and a 90% interval of 0.11 to 1.05 from log_e RR -/+ 1.645 SE.

    `measure` gives a 95% interval only, so the test recovers log_e RR and its standard error
    from it and rebuilds Altman's 90% interval.
    """
    result = measure(16, 2, 91, 33)

    log_rr = math.log(risk_ratio(result))
    log_low = math.log(risk_ratio(result, "low"))
    log_high = math.log(risk_ratio(result, "high"))
    standard_error = (log_high - log_low) / (2 * norm.ppf(0.975))
    z_90 = norm.ppf(0.95)

    assert round(risk_ratio(result), 3) == 0.345
    assert round(log_rr, 4) == -1.0651
    assert (log_low + log_high) / 2 == pytest.approx(log_rr)
    assert round(standard_error, 3) == 0.676
    assert round(math.exp(log_rr - z_90 * standard_error), 2) == 0.11
    assert round(math.exp(log_rr + z_90 * standard_error), 2) == 1.05


def test_p_value_reproduces_altman_chi_squared_example():
    """Altman DG. Practical Statistics for Medical Research. London: Chapman & Hall; 1991.
    Section 10.7, Table 10.10 (Centerwall et al., 1986): erosion of dental enamel in 32 of 150
    swimmers swimming 6 hours a week or more and in 17 of 144 swimming less. Published:
    X^2 = 4.802 (P < 0.05); with Yates' correction it would be 4.140.
    """
    result = measure(150, 32, 144, 17)

    assert round(chi2.isf(result.p_value, df=1), 3) == 4.802
    assert result.p_value < 0.05


def test_p_value_reproduces_altman_two_proportion_example(without_minimums):
    """Altman DG. Practical Statistics for Medical Research. London: Chapman & Hall; 1991.
    Sections 10.3.2 and 10.7.1 (Lewith and Machin, 1981): pain improved in 9 of 12 patients
    given infra-red stimulation and 4 of 13 given placebo. Published: pooled z = 2.21,
    P = 0.027 (X^2 = 4.891); with the continuity correction P = 0.070.
    """
    result = measure(12, 9, 13, 4)

    assert round(norm.isf(result.p_value / 2), 2) == 2.21
    assert round(result.p_value, 3) == 0.027


def test_p_value_reproduces_openintro_two_proportion_example():
    """Diez DM, Cetinkaya-Rundel M, Barr CD. OpenIntro Statistics, 4th edition. OpenIntro; 2019.
    Section 6.2, exercise "HIV in sub-Saharan Africa" (6.29) and its solution in Appendix A:
    virologic failure in 26 of 120 women given nevirapine and 10 of 120 given lopinavir.
    Published: pooled proportion 0.15, Z = 2.89, p-value = 0.0039.
    https://www.openintro.org/book/os/ (source: github.com/OpenIntroStat/openintro-statistics)

    The book reads its p-value off Z rounded to 2.89; the unrounded p-value is 0.0038.
    """
    result = measure(120, 26, 120, 10)

    assert round(norm.isf(result.p_value / 2), 2) == 2.89
    assert result.p_value == pytest.approx(0.0039, abs=1e-4)


# Simulated experiments


def simulate(
    seed: int, exposed_rate: float, held_out_rate: float, experiments: int = 2000
) -> list[Lift]:
    """`experiments` experiments of 5,000 visitors a group, converting at the given true rates."""
    visitors = 5000
    rng = np.random.default_rng(seed)
    exposed = rng.binomial(visitors, exposed_rate, experiments)
    held_out = rng.binomial(visitors, held_out_rate, experiments)
    return [
        measure(visitors, int(exposed_converters), visitors, int(held_out_converters))
        for exposed_converters, held_out_converters in zip(exposed, held_out, strict=True)
    ]


def test_a_a_experiments_are_significant_about_5_percent_of_the_time():
    results = simulate(seed=20240501, exposed_rate=0.05, held_out_rate=0.05)

    false_positive_rate = np.mean([result.p_value < 0.05 for result in results])
    interval_excludes_zero = np.mean([result.low > 0 or result.high < 0 for result in results])

    assert 0.035 <= false_positive_rate <= 0.065
    assert 0.035 <= interval_excludes_zero <= 0.065
    assert abs(interval_excludes_zero - false_positive_rate) <= 0.01
    assert np.mean([result.significant for result in results]) == false_positive_rate


def test_a_known_lift_is_recovered():
    true_lift = 0.06 / 0.05 - 1
    results = simulate(seed=20240502, exposed_rate=0.06, held_out_rate=0.05)

    coverage = np.mean([result.low <= true_lift <= result.high for result in results])
    median_lift = np.median([result.lift for result in results])

    assert 0.93 <= coverage <= 0.97
    assert median_lift == pytest.approx(true_lift, abs=0.02)


# Edge cases


@pytest.mark.parametrize(
    "counts",
    [
        pytest.param((99, 10, 1000, 50), id="too few exposed visitors"),
        pytest.param((1000, 50, 99, 10), id="too few held-out visitors"),
        pytest.param((1000, 4, 1000, 50), id="too few exposed converters"),
        pytest.param((1000, 50, 1000, 4), id="too few held-out converters"),
    ],
)
def test_below_the_minimum_nothing_is_estimated(counts):
    result = measure(*counts)

    assert result.enough is False
    assert result.significant is False
    assert (result.lift, result.low, result.high, result.p_value) == (None, None, None, None)
    assert result.exposed_rate == counts[1] / counts[0]
    assert result.held_out_rate == counts[3] / counts[2]


def test_at_the_minimum_the_lift_is_estimated():
    result = measure(lift.MIN_VISITORS, lift.MIN_CONVERTERS, lift.MIN_VISITORS, lift.MIN_CONVERTERS)

    assert result.enough is True
    assert result.lift == 0.0
    assert result.p_value == pytest.approx(1.0)


def test_no_visitors_gives_no_rates():
    result = measure(0, 0, 0, 0)

    assert result.exposed_rate is None
    assert result.held_out_rate is None
    assert result.enough is False
    assert result.lift is None


@pytest.mark.parametrize(
    "counts",
    [
        pytest.param((-1, 0, 100, 10), id="negative exposed visitors"),
        pytest.param((100, -1, 100, 10), id="negative exposed converters"),
        pytest.param((100, 10, -1, 0), id="negative held-out visitors"),
        pytest.param((100, 10, 100, -1), id="negative held-out converters"),
        pytest.param((100, 101, 100, 10), id="more exposed converters than visitors"),
        pytest.param((100, 10, 100, 101), id="more held-out converters than visitors"),
    ],
)
def test_impossible_counts_are_refused(counts):
    with pytest.raises(ValueError):
        measure(*counts)


def test_a_clear_positive_effect_is_significant():
    result = measure(10_000, 1000, 10_000, 500)

    assert result.significant is True
    assert result.lift == pytest.approx(1.0)
    assert 0 < result.low < result.lift < result.high
    assert result.p_value < 1e-6


def test_a_clear_negative_effect_is_significant():
    result = measure(10_000, 500, 10_000, 1000)

    assert result.significant is True
    assert result.lift == pytest.approx(-0.5)
    assert result.low < result.lift < result.high < 0


def test_everyone_converting_in_both_groups_is_no_difference():
    result = measure(200, 200, 300, 300)

    assert result.lift == 0.0
    assert result.p_value == 1.0
    assert result.significant is False


def test_numbers_are_python_floats():
    result = measure(1000, 60, 1200, 50)

    for number in (
        result.lift,
        result.low,
        result.high,
        result.p_value,
        result.exposed_rate,
        result.held_out_rate,
    ):
        assert type(number) is float


def test_importing_the_module_does_not_import_scipy():
    check = "import sys, analytics.lift; sys.exit('scipy' in sys.modules)"

    completed = subprocess.run([sys.executable, "-c", check], cwd=REPO_ROOT, check=False)

    assert completed.returncode == 0
