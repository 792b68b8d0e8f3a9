"""Windows as local-day bounds: which events a leaf counts for each assignment, and which day is bit 0 of its mask.

Everything day-based is in the operator's time zone. The calendar period (or rolling run of days) is the one holding
as_of; for an assignment that ended before as_of it is the one holding the assignment's last instant, so that an
ended mission shows (and completes on) its own last period."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from questline.kit.errors import Invalid
from questline.rules.criteria import MAX_DAYS, Window

MICROSECOND = dt.timedelta(microseconds=1)
TIME = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Clock:
    """When and where a batch is evaluated. `running`: every assignment ends after as_of, so the period holding
    as_of is one constant for all (the common case, which needs no per-row time-zone conversion)."""

    as_of: dt.datetime
    zone: str
    running: bool

    @classmethod
    def of(cls, as_of: dt.datetime, zone: str, missions: pl.DataFrame) -> Clock:
        if as_of.tzinfo is None or as_of.utcoffset() is None:
            raise Invalid("as_of must carry a time zone (e.g. UTC)", field="as_of")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid(
                f"unknown time zone {zone!r}: use an IANA name like Europe/London", field="timezone"
            ) from None
        ends = missions.get_column("ends_at").min() if missions.height else None
        running = bool(ends is None or ends > as_of)  # type: ignore[operator]
        return cls(as_of.astimezone(dt.UTC), zone, running)

    @property
    def today(self) -> dt.date:
        """as_of's local date."""
        return self.as_of.astimezone(ZoneInfo(self.zone)).date()

    def day(self, instant: pl.Expr) -> pl.Expr:
        """The local date of a UTC instant."""
        return instant.dt.convert_time_zone(self.zone).dt.date()

    def days(self, instants: pl.Series) -> pl.Series:
        """The local dates of UTC instants. Missions mostly share a few start and end times (those assigned in one
        run), so the conversion (~40 ns a row) is done once per distinct time when that saves work."""
        distinct = instants.unique()
        if distinct.len() * 4 > instants.len():
            return instants.dt.convert_time_zone(self.zone).dt.date()
        return instants.replace_strict(distinct, distinct.dt.convert_time_zone(self.zone).dt.date())


def with_days(missions: pl.DataFrame, clock: Clock) -> pl.DataFrame:
    """`missions` with `_start_day` and `_last_day`: the local days of its first and last instants."""
    return missions.with_columns(
        _start_day=clock.days(missions.get_column("starts_at")),
        _last_day=clock.days(missions.get_column("ends_at") - MICROSECOND),
    )


def reference_day(clock: Clock) -> pl.Expr:
    """The local day whose period the window is: as_of's, or the assignment's last day if it ended before as_of."""
    if clock.running:
        return pl.lit(clock.today)
    ended = pl.col("ends_at") <= pl.lit(clock.as_of, dtype=TIME)
    return pl.when(ended).then(pl.col("_last_day")).otherwise(pl.lit(clock.today))


def day_bounds(window: Window, clock: Clock) -> tuple[pl.Expr, pl.Expr] | None:
    """The first and last local day of the window before clipping to the mission; None for the mission window."""
    ref = reference_day(clock)
    if window.kind == "rolling":
        return ref - pl.duration(days=(window.days or 1) - 1), ref
    if window.kind == "daily":
        return ref, ref
    if window.kind == "weekly":
        monday = ref.dt.truncate("1w")
        return monday, monday + pl.duration(days=6)
    if window.kind == "monthly":
        return ref.dt.month_start(), ref.dt.month_end()
    return None


def first_day(window: Window, clock: Clock) -> pl.Expr:
    """The window's first local day, clipped to the mission start: bit 0 of a day mask (needs `with_days`)."""
    start = pl.col("_start_day")
    bounds = day_bounds(window, clock)
    return start if bounds is None else pl.max_horizontal(bounds[0], start)


def last_day(window: Window, clock: Clock) -> pl.Expr:
    """The window's last local day, clipped to the mission's last instant (needs `with_days`)."""
    end = pl.col("_last_day")
    bounds = day_bounds(window, clock)
    return end if bounds is None else pl.min_horizontal(bounds[1], end)


def in_window(window: Window, clock: Clock, day: pl.Expr) -> pl.Expr:
    """Whether an event (already inside the mission and before as_of) falls in the window's days."""
    bounds = day_bounds(window, clock)
    return pl.lit(True) if bounds is None else day.is_between(bounds[0], bounds[1])


def check_span(window: Window, clock: Clock, missions: pl.DataFrame, what: str, field: str) -> None:
    """Refuse assignments whose mission window spans more local days than a day mask holds."""
    if window.kind != "mission" or missions.height == 0:
        return
    # A mission of at most 62 days spans at most 64 local days whatever the offsets: skip the time-zone work.
    long = missions.filter(pl.col("ends_at") - pl.col("starts_at") > dt.timedelta(days=MAX_DAYS - 2))
    if long.height == 0:
        return
    spans = with_days(long, clock).select(
        "assignment_id", days=(last_day(window, clock) - first_day(window, clock)).dt.total_days() + 1
    )
    worst = spans.sort("days", descending=True).row(0, named=True)
    if worst["days"] > MAX_DAYS:
        raise Invalid(
            f"{what} keeps the days of its window in a {MAX_DAYS}-bit mask, but assignment {worst['assignment_id']} "
            f"spans {worst['days']} local days: use a window of at most {MAX_DAYS} days",
            field=field,
        )
