"""The mission generator, a pure stage: profiles + offers + concrete missions + what subscribers already hold ->
new assignments.

Per template (a loop over ~30 templates, never over subscribers): the eligible subscribers, the variation that fits
each (their segment, the product next best offer ranks highest, or a band of a score), targets personalised from
their own history, and the expected value of the mission to the operator:

    completion  = clip(likelihood score / 100, 0.05, 0.95) x rate x offer propensity (product missions)
    value       = base + retention x churn probability x a year of revenue at the current rate (retention missions)
    expected    = completion x (value - reward points x point value)

Then, over all templates at once: no mission of a template the subscriber already holds or cooled down from, the best
missions by expected value within the caps per category and per subscriber, and a control group per template - the
subscribers with the lowest stable hash of (subscriber, template), exactly the configured share - recorded but not
shown, so that uplift can be measured.

Subscribers, missions, templates and categories travel as integer indices (rows of `profiles`, positions in the
mission list): the ranking sorts ~12 candidates per subscriber, and sorting numbers is several times cheaper than
sorting strings. Text columns are gathered for the chosen rows only."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import polars as pl

from questline.kit.hashing import xxhash64
from questline.missions.history import stat_column
from questline.missions.template import CATEGORIES, DURATION, PRODUCT, SEGMENT, Parameter, Personalise, Template
from questline.missions.variations import Mission
from questline.scoring.churn import churn_probability
from questline.scoring.segments import compile_condition

ID = "subscriber_id"
OPTIONAL = {"churn_probability", "lifetime_value"}  # ML outputs: rules over them fail until a model produces them
MONTHLY_REVENUE = "revenue_30d"  # a history column (missions/history.py), always in the profiles
PARAM_TYPES = {"number": pl.Float64, "integer": pl.Int64, "string": pl.String}
ASSIGNMENT_SCHEMA = pl.Schema(
    {
        ID: pl.String(),
        "mission_key": pl.String(),
        "template_key": pl.String(),
        "template_version": pl.Int32(),
        "category": pl.String(),
        "priority": pl.Int32(),
        "params": pl.String(),  # JSON: every parameter's value for this subscriber
        "starts_at": pl.Datetime("us", "UTC"),
        "ends_at": pl.Datetime("us", "UTC"),
        "completion": pl.Float64(),
        "expected_value": pl.Float64(),
        "reward_points": pl.Int32(),
        "reward_cost": pl.Float64(),
        "control": pl.Boolean(),
    }
)
# What subscribers hold already: active assignments count against the caps, any assignment starts a cooldown.
HELD_SCHEMA = pl.Schema(
    {
        ID: pl.String(),
        "template_key": pl.String(),
        "category": pl.String(),
        "ends_at": pl.Datetime("us", "UTC"),
        "active": pl.Boolean(),
    }
)


@dataclass(frozen=True)
class Policy:
    max_active: int = 5  # missions a subscriber holds at once
    max_per_category: int = 2
    control_share: float = 0.1  # default share of each template's assignments held out
    point_value: float = 0.01  # what one reward point costs the operator, in currency
    base_churn: float = 0.03  # the operator's average monthly churn, for the Risk heuristic without a churn model


def generate(
    profiles: pl.DataFrame,
    offers: pl.DataFrame,
    missions: Sequence[Mission],
    held: pl.DataFrame,
    *,
    as_of: dt.date,
    timezone: str,
    policy: Policy,
) -> pl.DataFrame:
    """New assignments (ASSIGNMENT_SCHEMA) starting the local day after `as_of`."""
    catalogue = Catalogue.of(missions, as_of, timezone, policy)
    found = candidates(profiles, offers, missions, as_of=as_of, timezone=timezone, policy=policy)
    held_rows = _held_rows(held, profiles, catalogue)
    chosen = _within_caps(_not_held(found, held_rows, catalogue), held_rows, catalogue, policy)
    return _assignments(chosen, profiles, catalogue).select(ASSIGNMENT_SCHEMA.names())


@dataclass(frozen=True)
class Catalogue:
    """Per concrete mission (by position) what the output and the ranking need, as Series to gather from."""

    missions: pl.DataFrame  # mission, mission_key, template, template_key, template_version, category, priority, ...
    templates: list[Template]

    @classmethod
    def of(cls, missions: Sequence[Mission], as_of: dt.date, timezone: str, policy: Policy) -> Catalogue:
        templates = list({m.template.key: m.template for m in missions}.values())
        position = {t.key: i for i, t in enumerate(templates)}
        start = local_start(as_of, timezone)
        rows = [
            {
                "mission_key": m.key,
                "template": position[m.template.key],
                "template_key": m.template.key,
                "template_version": m.template.version,
                "category": CATEGORIES.index(m.template.category),
                "priority": m.template.priority,
                "reward_points": m.template.reward.points,
                "control_share": policy.control_share if m.template.control_share is None else m.template.control_share,
                "starts_at": start,
                "ends_at": _end(as_of, int(m.params.get(DURATION, m.template.duration_days)), timezone),
            }
            for m in missions
        ]
        schema = {
            "mission_key": pl.String(), "template": pl.UInt16(), "template_key": pl.String(),
            "template_version": pl.Int32(), "category": pl.UInt8(), "priority": pl.Int32(),
            "reward_points": pl.Int32(), "control_share": pl.Float64(),
            "starts_at": pl.Datetime("us", "UTC"), "ends_at": pl.Datetime("us", "UTC"),
        }  # fmt: skip
        frame = pl.DataFrame(rows, schema=schema, orient="row").with_row_index("mission")
        return cls(frame, templates)

    def column(self, name: str, index: str = "mission") -> pl.Expr:
        """The catalogue's `name` for each row's mission index."""
        return pl.lit(self.missions.get_column(name)).gather(pl.col(index))


def _end(as_of: dt.date, days: int, timezone: str) -> dt.datetime:
    """The local midnight `days` after the start, in UTC (days are local: a DST change makes one 23 or 25 hours)."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1 + days), dt.time(), tzinfo=ZoneInfo(timezone))
    return end.astimezone(dt.UTC)


def candidates(
    profiles: pl.DataFrame,
    offers: pl.DataFrame,
    missions: Sequence[Mission],
    *,
    as_of: dt.date,
    timezone: str,
    policy: Policy,
) -> pl.DataFrame:
    """Every (subscriber, template) an eligible subscriber could get - `subscriber` (their row in `profiles`),
    `mission` (position in `missions`), personal `params` (JSON), `completion`, `expected_value`, `reward_cost` -
    before holdings, caps and the control group."""
    positions = {m.key: i for i, m in enumerate(missions)}
    indexed = profiles.with_row_index("subscriber")
    best_offers = _offers_by_row(offers, indexed)
    frames = [
        _candidates(group[0].template, group, positions, indexed, best_offers, policy)
        for group in _by_template(missions).values()
    ]
    return pl.concat(frames, how="vertical") if frames else CANDIDATE_SCHEMA.to_frame()


CANDIDATE_SCHEMA = pl.Schema(
    {
        "subscriber": pl.UInt32(),
        "mission": pl.UInt32(),
        "params": pl.String(),
        "completion": pl.Float64(),
        "expected_value": pl.Float64(),
        "reward_cost": pl.Float64(),
    }
)


def _by_template(missions: Sequence[Mission]) -> dict[str, list[Mission]]:
    grouped: dict[str, list[Mission]] = {}
    for mission in missions:
        grouped.setdefault(mission.template.key, []).append(mission)
    return grouped


def _offers_by_row(offers: pl.DataFrame, indexed: pl.DataFrame) -> pl.DataFrame:
    """Offers keyed by the subscriber's row, best rank first: joined on the id once, not once per template."""
    return (
        offers.lazy()
        .join(indexed.lazy().select(ID, "subscriber"), on=ID)
        .select("subscriber", "rank", "product", "propensity")
        .sort("subscriber", "rank")
        .collect()
    )


# ---- per template --------------------------------------------------------------------------------------------------


def _candidates(
    template: Template,
    missions: list[Mission],
    positions: dict[str, int],
    profiles: pl.DataFrame,
    offers: pl.DataFrame,
    policy: Policy,
) -> pl.DataFrame:
    frame = profiles.lazy()
    if template.eligibility is not None:
        where = f"templates.{template.key}.eligibility"
        frame = frame.filter(compile_condition(template.eligibility, profiles.schema, OPTIONAL, where))
    frame = frame.with_columns(pl.lit(1.0).alias("__propensity"))
    for name, dimension in template.variations.items():
        values = _values(missions, name)
        if name == PRODUCT:
            frame = _best_offer(frame, offers, values)
        elif name == SEGMENT:
            frame = frame.with_columns(_index_of(pl.col(SEGMENT), values).alias(f"__d_{name}"))
        else:
            band = (pl.col(dimension.by) / 100 * len(values)).floor().clip(0, len(values) - 1)
            frame = frame.with_columns(band.fill_null(0).cast(pl.UInt32).alias(f"__d_{name}"))
    keys = [f"__d_{n}" for n in template.variations]
    frame = frame.drop_nulls(keys)
    table = _mission_table(template, missions, positions).lazy()
    joined = frame.join(table, on=keys) if keys else frame.join(table, how="cross")
    personalised = joined.with_columns(
        _personal(name, spec, template.parameters[name]) for name, spec in template.personalise.items()
    )
    return personalised.select(_candidate_columns(template, policy)).collect()


def _values(missions: list[Mission], dimension: str) -> list[object]:
    by_index = {m.choice[dimension]: m.params[dimension] for m in missions}
    return [by_index[i] for i in range(len(by_index))]


def _index_of(column: pl.Expr, values: Sequence[object]) -> pl.Expr:
    return column.replace_strict(list(values), list(range(len(values))), default=None, return_dtype=pl.UInt32)


def _best_offer(frame: pl.LazyFrame, offers: pl.DataFrame, products: list[object]) -> pl.LazyFrame:
    """The product next best offer ranks highest among the template's products, and its propensity."""
    best = (
        offers.lazy()
        .filter(pl.col("product").is_in(products))
        .unique("subscriber", keep="first", maintain_order=True)  # offers are sorted by rank within a subscriber
        .select(
            "subscriber",
            _index_of(pl.col("product"), products).alias(f"__d_{PRODUCT}"),
            pl.col("propensity").alias("__offer_propensity"),
        )
    )
    joined = frame.join(best, on="subscriber", how="inner")
    return joined.with_columns(pl.col("__offer_propensity").alias("__propensity")).drop("__offer_propensity")


def _mission_table(template: Template, missions: list[Mission], positions: dict[str, int]) -> pl.DataFrame:
    """One row per concrete mission: its dimension indices, position, parameter values (`p_<name>`) and, when
    nothing is personalised, its parameters as JSON."""
    schema: dict[str, pl.DataType] = {f"__d_{n}": pl.UInt32() for n in template.variations}
    schema |= {"mission": pl.UInt32(), "__json": pl.String()}
    schema |= {f"p_{n}": PARAM_TYPES[p.type]() for n, p in template.parameters.items()}
    rows = [
        {
            **{f"__d_{n}": m.choice[n] for n in template.variations},
            "mission": positions[m.key],
            "__json": json.dumps(m.params, separators=(",", ":")),
            **{f"p_{n}": m.params[n] for n in template.parameters},
        }
        for m in missions
    ]
    return pl.DataFrame(rows, schema=schema, orient="row")


def _personal(name: str, spec: Personalise, parameter: Parameter) -> pl.Expr:
    """stat x multiply, rounded up to a denomination or a step, clamped; the variation's value without history."""
    multiply = pl.col(f"p_{spec.multiply}") if isinstance(spec.multiply, str) else pl.lit(spec.multiply)
    raw = pl.col(stat_column(spec)) * multiply
    if spec.denominations:
        notes = pl.lit(pl.Series(spec.denominations, dtype=pl.Float64))
        raw = notes.gather(notes.search_sorted(raw).clip(0, len(spec.denominations) - 1))
    elif spec.step:
        raw = (raw / spec.step).ceil() * spec.step
    if parameter.min is not None or parameter.max is not None:
        raw = raw.clip(parameter.min, parameter.max)
    if parameter.type == "integer":
        raw = raw.round().cast(pl.Int64)
    column = f"p_{name}"
    return pl.when(pl.col(stat_column(spec)).is_not_null()).then(raw).otherwise(pl.col(column)).alias(column)


def _candidate_columns(template: Template, policy: Policy) -> list[pl.Expr]:
    value = pl.lit(template.value.base)
    if template.value.retention:
        churn = churn_probability(policy.base_churn)
        at_stake = 12 * _optional(MONTHLY_REVENUE).fill_null(0.0)  # what a year of keeping them brings
        value = value + template.value.retention * churn * at_stake
    cost = template.reward.points * policy.point_value
    chance = (pl.col(template.value.likelihood) / 100).clip(0.05, 0.95).fill_null(0.05)
    completion = chance * template.value.rate * pl.col("__propensity")
    if template.personalise:  # personal values: encode per subscriber; otherwise the mission's own JSON
        params = pl.struct(pl.col(f"p_{n}").alias(n) for n in template.parameters).struct.json_encode()
    else:
        params = pl.col("__json")
    return [
        pl.col("subscriber"),
        pl.col("mission"),
        params.alias("params"),
        completion.alias("completion"),
        (completion * (value - cost)).alias("expected_value"),
        (completion * cost).alias("reward_cost"),
    ]


def _optional(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Float64)


# ---- across templates ----------------------------------------------------------------------------------------------


def _held_rows(held: pl.DataFrame, profiles: pl.DataFrame, catalogue: Catalogue) -> pl.DataFrame:
    """What subscribers hold, keyed like the candidates: (subscriber row, template, category, until, active)."""
    templates = [t.key for t in catalogue.templates]
    cooldowns = [t.cooldown_days for t in catalogue.templates]
    rows = profiles.lazy().select(ID).with_row_index("subscriber")
    return (
        held.lazy()
        .join(rows, on=ID)
        .with_columns(
            _index_of(pl.col("template_key"), templates).alias("template"),
            pl.col("category").replace_strict(CATEGORIES, list(range(len(CATEGORIES))), return_dtype=pl.UInt8),
        )
        .with_columns(pl.lit(pl.Series(cooldowns, dtype=pl.Int32)).gather(pl.col("template")).alias("cooldown"))
        .with_columns((pl.col("ends_at") + pl.duration(days=pl.col("cooldown").fill_null(0))).alias("until"))
        .select("subscriber", "template", "category", "until", "active")
        .collect()
    )


def _not_held(candidates: pl.DataFrame, held: pl.DataFrame, catalogue: Catalogue) -> pl.DataFrame:
    """No second mission of a template a subscriber holds, nor one inside the template's cooldown."""
    start = catalogue.missions.item(0, "starts_at") if catalogue.missions.height else None
    blocked = held.filter(pl.col("active") | (pl.col("until") > start)).select("subscriber", "template").unique()
    if blocked.is_empty():
        return candidates
    keyed = candidates.with_columns(catalogue.column("template"))
    return keyed.join(blocked, on=["subscriber", "template"], how="anti").drop("template")


def _within_caps(candidates: pl.DataFrame, held: pl.DataFrame, catalogue: Catalogue, policy: Policy) -> pl.DataFrame:
    """The best missions by expected value (then priority, then mission order) within what is left of each cap.

    One sort puts each subscriber's candidates together, best first; a candidate's place within its subscriber and
    within its category are then running counts that restart where a subscriber's rows start - much cheaper than
    window functions over (subscriber, category) groups."""
    active = held.lazy().filter(pl.col("active"))
    per_category = active.group_by("subscriber", "category").agg(pl.len().cast(pl.Int64).alias("__held_category"))
    per_subscriber = active.group_by("subscriber").agg(pl.len().cast(pl.Int64).alias("__held"))
    tie = (100 - catalogue.column("priority")).cast(pl.UInt32) * (1 << 16) + pl.col("mission")
    ranked = (
        candidates.lazy()
        .with_columns(catalogue.column("category"), tie.alias("__tie"))
        .sort(["subscriber", "expected_value", "__tie"], descending=[False, True, False])
        .join(per_category, on=["subscriber", "category"], how="left", maintain_order="left")
        .join(per_subscriber, on="subscriber", how="left", maintain_order="left")
        .with_columns(_place_in_category().alias("__in_category"))
        .filter(pl.col("__in_category") < policy.max_per_category - pl.col("__held_category").fill_null(0))
        .with_columns(_running_count(pl.col("subscriber").is_not_null()).alias("__in_subscriber"))
        .filter(pl.col("__in_subscriber") < policy.max_active - pl.col("__held").fill_null(0))
    )
    return ranked.select(CANDIDATE_SCHEMA.names()).collect()


def _running_count(mask: pl.Expr) -> pl.Expr:
    """For rows sorted by subscriber: how many earlier rows of the same subscriber match `mask`."""
    first = (pl.col("subscriber") != pl.col("subscriber").shift()).fill_null(True)
    matched = mask.cast(pl.UInt32)
    total = matched.cum_sum()
    before = pl.when(first).then(total - matched).forward_fill()
    return total - matched - before


def _place_in_category() -> pl.Expr:
    return pl.coalesce(
        pl.when(pl.col("category") == c).then(_running_count(pl.col("category") == c)) for c in range(len(CATEGORIES))
    )


def _assignments(chosen: pl.DataFrame, profiles: pl.DataFrame, catalogue: Catalogue) -> pl.DataFrame:
    """The chosen rows with their text columns, and the control group: per template, the subscribers with the lowest
    stable hash of (subscriber, template) - exactly the template's share of them, rounded."""
    ids = profiles.get_column(ID)
    keyed = chosen.with_columns(
        pl.lit(ids).gather(pl.col("subscriber")).alias(ID),
        *(catalogue.column(c) for c in ("template", "control_share")),
    )
    stable = _mix(xxhash64(pl.col(ID)), pl.col("template"))
    position = stable.rank("ordinal").over("template") - 1
    held_out = position < (pl.len().over("template") * pl.col("control_share")).round()
    text = ("mission_key", "template_key", "template_version", "category", "priority", "starts_at", "ends_at")
    return keyed.with_columns(
        held_out.alias("control"),
        *(catalogue.column(c) for c in text),
        catalogue.column("reward_points"),
    ).with_columns(pl.col("category").replace_strict(list(range(len(CATEGORIES))), CATEGORIES, return_dtype=pl.String))


GOLDEN, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix(hashed: pl.Expr, salt: pl.Expr) -> pl.Expr:
    """A different, stable pseudo-random order per template from one hash of the id (SplitMix64's finaliser)."""
    z = hashed ^ ((salt.cast(pl.UInt64) + 1) * pl.lit(GOLDEN, pl.UInt64))
    z = (z ^ (z // (1 << 30))) * pl.lit(MIX1, pl.UInt64)
    z = (z ^ (z // (1 << 27))) * pl.lit(MIX2, pl.UInt64)
    return z ^ (z // (1 << 31))


def local_start(as_of: dt.date, timezone: str) -> dt.datetime:
    """When missions generated as of a local date start: the next local midnight, in UTC."""
    start = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(timezone))
    return start.astimezone(dt.UTC)
