"""Intervals for response rates and for the ratio of two rates: closed forms, documented.

SciPy is not a dependency of Steward, and these need nothing beyond the normal quantile, which the
standard library has (`statistics.NormalDist`).

- A rate x/n gets the **Wilson score interval** (Wilson 1927): unlike the textbook p ± z·√(p(1-p)/n)
  it stays inside [0, 1] and keeps its coverage for small n and for rates near 0 or 1.
- The ratio of two rates (x1/n1) / (x2/n2) gets the **Katz log interval** (Katz et al. 1978): the
  log of the ratio is close to normal with standard error √(1/x1 − 1/n1 + 1/x2 − 1/n2), so the
  interval is exp(ln RR ± z·SE). It needs at least one response on both sides; without one there is
  no interval, and so no claim.
"""

import math
from dataclasses import dataclass
from statistics import NormalDist

CONFIDENCE = 0.95


def z_for(confidence: float = CONFIDENCE) -> float:
    """The two-sided normal quantile: 1.959964 for 95%."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def excludes(self, value: float) -> bool:
        return value < self.low or value > self.high


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> Interval | None:
    """The rate successes/trials with its Wilson score interval; None without trials."""
    if trials <= 0:
        return None
    if not 0 <= successes <= trials:
        raise ValueError("successes must lie between 0 and the number of trials")
    z = z_for(confidence)
    rate = successes / trials
    denominator = 1 + z * z / trials
    centre = (rate + z * z / (2 * trials)) / denominator
    half_width = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / denominator
    # At 0 or n successes the bound is exactly 0 or 1; say so rather than leave a rounding residue.
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == trials else min(1.0, centre + half_width)
    return Interval(rate, low, high)


def rate_ratio_interval(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, confidence: float = CONFIDENCE
) -> Interval | None:
    """(a's rate) / (b's rate) with its Katz log interval; None when a side has no trials or no successes."""
    if min(trials_a, trials_b) <= 0 or min(successes_a, successes_b) <= 0:
        return None
    ratio = (successes_a / trials_a) / (successes_b / trials_b)
    standard_error = math.sqrt(1 / successes_a - 1 / trials_a + 1 / successes_b - 1 / trials_b)
    spread = z_for(confidence) * standard_error
    return Interval(ratio, math.exp(math.log(ratio) - spread), math.exp(math.log(ratio) + spread))
