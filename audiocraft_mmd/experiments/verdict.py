"""Whether the MMD codec shows the effect against its baseline: a sentence that says only what the numbers show."""
import typing as tp

from ..stats import mean_interval, paired_change
from .measure import failed_checks

MSSPEC_TOLERANCE = 0.05  # the verdict's bound on the MSSpec increase


def verdict(base_label: str, base: tp.Sequence[dict], label: str, other: tp.Sequence[dict]) -> str:
    """Says "the effect shows" only when the numbers show it, else which condition failed, with the numbers.

    The conditions: both codecs pass the working-codec checks at every seed, the delay-aligned I is
    lower with a 95 % interval of the paired change that excludes 0, and MSSpec rises by at most 5 %.
    """
    change = paired_change(base, other, 'tc_percent_delay')
    base_i, other_i = (mean_interval([r['tc_percent_delay'] for r in runs]) for runs in (base, other))
    msspec_base = mean_interval([r['msspec'] for r in base]).mean
    msspec_change = (mean_interval([r['msspec'] for r in other]).mean - msspec_base) / msspec_base
    dependence = (f"delay-aligned I {base_i.format('.3f')} % ({base_label}) vs {other_i.format('.3f')} % ({label}), "
                  f"paired change {change.format('.3f')} points over {change.n} seed(s)")
    problems = []
    for name, runs in ((base_label, base), (label, other)):
        failures = failed_checks(runs)
        if failures:
            problems.append(f"{name} is not a working codec ({'; '.join(failures)})")
    if change.n < 2:
        problems.append("one seed gives no interval (use --seeds 3 or more)")
    elif not (change.high < 0):
        problems.append("the interval of the change in delay-aligned I does not exclude no change"
                        if change.low <= 0 else "the delay-aligned I went up")
    if msspec_change > MSSPEC_TOLERANCE:
        problems.append(f"MSSpec rose by {100 * msspec_change:.1f} % (more than {100 * MSSPEC_TOLERANCE:g} %)")
    if not problems:
        return f"The effect shows: {dependence}, with MSSpec {100 * msspec_change:+.1f} %."
    return (f"The effect does not show at this scale: {'; '.join(problems)}. Measured: {dependence}; "
            f"MSSpec {100 * msspec_change:+.1f} %.")
