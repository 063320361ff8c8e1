"""ESPI LocalTimeParameters: the feed's standard and DST offsets, and its DST rules decoded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd


@dataclass(frozen=True)
class LocalTime:
    """LocalTimeParameters: standard offset, DST offset and the two DST rules (ESPI DstRuleType)."""

    tz_offset: int
    dst_offset: int
    dst_start_rule: int | None
    dst_end_rule: int | None

    def _rule_instant(self, rule: int, year: int) -> datetime | None:
        """The local (standard-time) moment a DstRuleType names in `year`; None when not decodable."""
        seconds, hours = rule & 0xFFF, (rule >> 12) & 0x1F
        weekday, day, operator, month = (
            (rule >> 17) & 0x7,
            (rule >> 20) & 0x1F,
            (rule >> 25) & 0x7,
            rule >> 28,
        )
        if not 1 <= month <= 12:
            return None
        if operator == 0:  # the day of the month itself
            date = datetime(year, month, max(day, 1))
        elif 1 <= weekday <= 7 and operator in (1, 2, 3, 4, 5, 6):
            first = datetime(year, month, 1)
            if operator == 1:  # the weekday on or after the day of the month
                first = datetime(year, month, max(day, 1))
            date = first + timedelta(days=(weekday - 1 - first.weekday()) % 7)
            if operator in (3, 4, 5):  # second, third, fourth occurrence
                date += timedelta(weeks=operator - 2)
            elif operator == 6:  # the last occurrence
                while (date + timedelta(weeks=1)).month == month:
                    date += timedelta(weeks=1)
        else:
            return None
        return date + timedelta(hours=hours, seconds=seconds)

    def wall_times(self, utc: pd.Series) -> pd.Series:
        """Local wall-clock times (naive) of UTC instants."""
        standard: pd.Series = utc.dt.tz_convert("UTC").dt.tz_localize(None) + pd.Timedelta(
            seconds=self.tz_offset
        )
        if not self.dst_offset or self.dst_start_rule is None or self.dst_end_rule is None:
            return standard
        in_dst = pd.Series(False, index=utc.index)
        for year in sorted(set(standard.dt.year.dropna().astype(int))):
            start = self._rule_instant(self.dst_start_rule, year)
            end = self._rule_instant(self.dst_end_rule, year)
            if start is None or end is None:
                return standard
            # The end rule is given in daylight time: in standard time it falls an offset earlier.
            end_standard = pd.Timestamp(end) - pd.Timedelta(seconds=self.dst_offset)
            this_year = standard.dt.year == year
            if start < end_standard:
                in_dst |= this_year & (standard >= start) & (standard < end_standard)
            else:  # southern hemisphere: DST spans the new year
                in_dst |= this_year & ((standard >= start) | (standard < end_standard))
        wall: pd.Series = standard + pd.to_timedelta(in_dst.astype(int) * self.dst_offset, unit="s")
        return wall
