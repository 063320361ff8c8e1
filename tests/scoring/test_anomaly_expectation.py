"""The per-home regression expectation of a day's use: its level and weekend gap come back from the
history, the days being judged are never in their own expectation, and earlier outliers do not bend
the fit."""

from __future__ import annotations

import numpy as np
import pytest

from gridjourney.scoring import anomaly_expectation as expectation

DAYS = 120


def _weekends() -> np.ndarray:
    return np.array([d % 7 in (5, 6) for d in range(DAYS)], dtype=bool)


def _home(seed: int, *, level: float = 2.0, gap: float = 0.3, noise: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level + gap * _weekends() + rng.normal(0, noise, DAYS)


def test_the_level_and_the_weekend_gap_come_back() -> None:
    log_use = _home(1)[None, :]
    level, gap, days = expectation.fit_expectation(log_use, _weekends())
    assert level[0, -1] == pytest.approx(2.0, abs=0.05)
    assert gap[0, -1] == pytest.approx(0.3, abs=0.08)
    assert days[0, -1] == expectation.FIT_DAYS
    # Too little history: no expectation at all rather than a guess.
    assert np.isnan(level[0, : expectation.MIN_FIT_DAYS]).all()


def test_the_fit_follows_the_recent_level() -> None:
    use = _home(2)
    use[60:] += 0.4  # the home moved to a higher level 60 days ago and stayed there
    level, _, _ = expectation.fit_expectation(use[None, :], _weekends())
    # Recent days weigh most: within a few half-lives the expectation has taken the new level.
    assert level[0, -1] == pytest.approx(2.4, abs=0.06)
    assert level[0, 62] < 2.1


def test_earlier_outliers_bend_the_fit_less_than_least_squares(monkeypatch: pytest.MonkeyPatch) -> None:
    use = _home(3)
    spoiled = use.copy()
    spoiled[90:95] += 1.5  # an earlier anomaly in the history
    clean_level, _, _ = expectation.fit_expectation(use[None, :], _weekends())
    robust, _, _ = expectation.fit_expectation(spoiled[None, :], _weekends())
    # not a mock: the same fit with its robust rounds turned off, the baseline the rounds must beat
    monkeypatch.setattr(expectation, "HUBER_ROUNDS", 0)
    plain, _, _ = expectation.fit_expectation(spoiled[None, :], _weekends())
    robust_shift = abs(robust[0, 100] - clean_level[0, 100])
    plain_shift = abs(plain[0, 100] - clean_level[0, 100])
    assert plain_shift > 0.3
    assert robust_shift < 0.7 * plain_shift


def test_no_day_of_the_window_is_in_its_own_expectation() -> None:
    use = _home(4)
    raised = use.copy()
    raised[100:105] += np.log(1.5)  # a +50 % week
    weekends = _weekends()
    residuals = []
    for series in (use, raised):
        level, gap, _ = expectation.fit_expectation(series[None, :], weekends)
        residuals.append(expectation.window_residuals(series[None, :], weekends, level, gap, 5))
    # On the week's last day, every day of the window is judged against the fit made before it began:
    # each residual is the planted rise over the clean residual, exactly.
    for j in range(5):
        rise = residuals[1][j][0, 104] - residuals[0][j][0, 104]
        assert rise == pytest.approx(np.log(1.5), abs=1e-9)


def test_a_missing_day_is_left_out() -> None:
    use = _home(5)
    use[40:50] = np.nan
    level, _, days = expectation.fit_expectation(use[None, :], _weekends())
    assert days[0, 60] == expectation.FIT_DAYS - 10
    assert level[0, 60] == pytest.approx(2.0, abs=0.06)
    residuals = expectation.window_residuals(use[None, :], _weekends(), level, np.zeros_like(level), 5)
    assert np.isnan(residuals[0][0, 45])


def test_meters_fitted_in_batches_get_the_same_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    homes = np.stack([_home(seed) for seed in range(6)])
    whole = expectation.fit_expectation(homes, _weekends())
    # not a mock: a smaller batch budget, so that 6 meters are fitted 4 and 2 at a time
    monkeypatch.setattr(expectation, "WINDOW_CELLS", DAYS * expectation.FIT_DAYS * 4)
    batched = expectation.fit_expectation(homes, _weekends())
    for one, other in zip(whole, batched, strict=True):
        np.testing.assert_array_equal(one, other)
