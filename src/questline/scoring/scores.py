"""The five behaviour scores (Engagement, Revenue, Loyalty, Risk, Digital), 0-100, as pure functions over the feature
table (one row per subscriber).

Each feature becomes its percentile rank p in [0, 1] (ties averaged) within the base or within a grouping column, so
an outlier moves nobody but itself. A score is the weighted mean of those ranks, a negative weight reading the rank
upside down, which is the same as `50 + Σ cᵢ` with `cᵢ = 100 · wᵢ · (pᵢ - 0.5) / Σ|w|`: each feature's contribution
relative to the average subscriber. The explanation lists the three largest |cᵢ|."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from questline.kit.errors import ConfigError, Invalid
from questline.scoring.config import SCORE_NAMES, Band, Feature, Score, ScoreConfig

ID = "subscriber_id"
EXPLANATION = "explanation"
TOP = 3
DISTINCT = 5  # rows per distinct value below which a feature is ranked by counting its values


def score(
    features: pl.DataFrame, config: ScoreConfig, *, churn: pl.DataFrame | None = None, keep: Sequence[str] = ()
) -> pl.DataFrame:
    """subscriber_id, the `keep` columns of `features`, the five scores (Float64, 0-100) and `explanation`: a struct
    with one field per score, each a list of up to three {feature, value, contribution, sign}, the features that
    moved that score most. (`keep` saves the caller a join back on subscriber_id, the costliest step at scale.)

    `churn` (subscriber_id + `config.risk_model.column`, probabilities in [0, 1]) replaces the Risk heuristic for
    the subscribers it covers."""
    _check_columns(features, config)
    ranked = features.with_columns(_rank_columns(config, features))
    contributions = [expr for name in SCORE_NAMES for expr in _contributions(name, config.score(name))]
    specs = [(name, config.score(name)) for name in SCORE_NAMES]
    scored = (
        ranked.with_columns(contributions)
        .with_columns(*(_total(*s) for s in specs), *(e for s in specs for e in _place_columns(*s)))
        .with_columns(e for s in specs for e in _index_columns(*s))
        .with_columns(_reasons(*s) for s in specs)
    )
    if churn is not None:
        scored = _apply_churn_model(scored, churn, config.risk_model.column)
    return scored.select(
        ID,
        *keep,
        *SCORE_NAMES,
        pl.struct(pl.col(f"__why_{name}").alias(name) for name in SCORE_NAMES).alias(EXPLANATION),
    )


# ---- checks --------------------------------------------------------------------------------------------------------


def _check_columns(features: pl.DataFrame, config: ScoreConfig) -> None:
    schema = features.schema
    if ID not in schema:
        raise Invalid(f"the feature table has no {ID} column", field=ID)
    for name in SCORE_NAMES:
        spec = config.score(name)
        for i, feature in enumerate(spec.features):
            where = f"scores.{name}.features.{i}.name"
            if feature.name not in schema:
                message = f"unknown feature {feature.name!r}: the feature table has no such column"
                raise ConfigError(message, field=where)
            dtype = schema[feature.name]
            if not (dtype.is_numeric() or isinstance(dtype, pl.Boolean | pl.Null)):
                raise ConfigError(f"feature {feature.name!r} is {dtype}, not a number", field=where)
        within = spec.normalise.within
        if within is not None and within not in schema:
            where = f"scores.{name}.normalise.within"
            raise ConfigError(f"cannot normalise within {within!r}: no such column", field=where)


# ---- percentile ranks ----------------------------------------------------------------------------------------------


def _rank_key(feature: Feature, within: str | None) -> str:
    # Ranks depend on the feature, its null policy (and weight sign for 'worst') and grouping: computed once each.
    policy = feature.nulls + ("-" if feature.nulls == "worst" and feature.weight < 0 else "")
    return f"__p_{feature.name}_{policy}_{within or ''}"


@dataclass(frozen=True)
class _Rank:
    value: pl.Expr  # what is ranked: the feature as a number, nulls replaced as its policy says
    within: str | None
    missing: float  # the percentile of a value still null


def _rank_columns(config: ScoreConfig, features: pl.DataFrame) -> list[pl.Expr]:
    """One percentile column per rank key; the value counts of all the features that need them in one parallel go."""
    ranks: dict[str, _Rank] = {}
    for name in SCORE_NAMES:
        spec = config.score(name)
        for feature in spec.features:
            key = _rank_key(feature, spec.normalise.within)
            if key not in ranks:
                ranks[key] = _rank(feature, spec.normalise.within, features.schema)
    counted = _shared_values(features, ranks)
    tables = dict(zip(counted, pl.collect_all(_value_counts(features, ranks[key]) for key in counted), strict=True))
    return [
        (_from_counts(rank, tables[key]) if key in tables else _from_sort(rank)).alias(key)
        for key, rank in ranks.items()
    ]


def _rank(feature: Feature, within: str | None, schema: pl.Schema) -> _Rank:
    """Whole numbers are ranked as integers (twice as fast to sort as floats)."""
    column = pl.col(feature.name)
    integral = schema[feature.name].is_integer() and feature.nulls != "median"
    value = column.cast(pl.Int64) if integral else column.cast(pl.Float64).fill_nan(None)
    if feature.nulls == "zero":
        value = value.fill_null(0)
    elif feature.nulls == "median":
        value = value.fill_null(_grouped(value.median(), within))
    missing = (0.0 if feature.weight > 0 else 1.0) if feature.nulls == "worst" else 0.5
    return _Rank(value, within, missing)


def _shared_values(features: pl.DataFrame, ranks: dict[str, _Rank]) -> list[str]:
    """The ranks over the whole base whose values repeat (about one distinct value in DISTINCT rows or fewer, from
    a cheap estimate): counting each distinct value once is then 2-4x cheaper than sorting every row, and ~3x dearer
    when nearly all values differ."""
    whole = {key: rank for key, rank in ranks.items() if rank.within is None}
    if not whole or features.is_empty():
        return []
    distinct = features.select(rank.value.approx_n_unique().alias(key) for key, rank in whole.items())
    return [key for key, n in distinct.row(0, named=True).items() if n * DISTINCT <= features.height]


def _value_counts(features: pl.DataFrame, rank: _Rank) -> pl.LazyFrame:
    return features.lazy().select(rank.value.alias("value")).group_by("value").len().drop_nulls("value")


def _from_counts(rank: _Rank, counts: pl.DataFrame) -> pl.Expr:
    """The percentile of each distinct value v, (number below v + (number equal to v - 1) / 2) / (n - 1), is the
    average rank's (rank - 1) / (n - 1), to the last bit; each row then looks its value up."""
    counts = counts.sort("value")
    size, n = counts.get_column("len"), counts.get_column("len").sum()
    below = size.cum_sum() - size
    percentile = (below + (size - 1) / 2) / (n - 1) if n > 1 else pl.Series([0.5] * counts.height)
    lookup = rank.value.replace_strict(counts.get_column("value"), percentile, return_dtype=pl.Float64)
    return pl.when(rank.value.is_null()).then(rank.missing).otherwise(lookup)


def _from_sort(rank: _Rank) -> pl.Expr:
    """Percentile rank in [0, 1], ties averaged; a lone or constant value sits at the neutral 0.5."""
    value, within = rank.value, rank.within
    position, count = _grouped(value.rank("average"), within), _grouped(value.count(), within)
    return pl.when(value.is_null()).then(rank.missing).when(count > 1).then((position - 1) / (count - 1)).otherwise(0.5)


def _grouped(expr: pl.Expr, within: str | None) -> pl.Expr:
    return expr.over(within) if within else expr


# ---- contributions, totals, explanations ---------------------------------------------------------------------------


def _contribution_column(score_name: str, feature: Feature) -> str:
    return f"__c_{score_name}_{feature.name}"


def _contributions(name: str, spec: Score) -> list[pl.Expr]:
    total_weight = sum(abs(f.weight) for f in spec.features)
    return [
        (100.0 * f.weight / total_weight * (pl.col(_rank_key(f, spec.normalise.within)) - 0.5)).alias(
            _contribution_column(name, f)
        )
        for f in spec.features
    ]


def _total(name: str, spec: Score) -> pl.Expr:
    parts = [pl.col(_contribution_column(name, f)) for f in spec.features]
    return (50.0 + pl.sum_horizontal(parts)).clip(0.0, 100.0).alias(name)


# The explanation picks the TOP features by |contribution| (ties in configuration order) with column comparisons, in
# stages so that each intermediate column is computed once: each feature's place among the others, then the index of
# the feature in each place, then the picked values packed into a fixed-size array. Sorting or concatenating a list
# per subscriber is an order of magnitude slower.


def _place_columns(name: str, spec: Score) -> list[pl.Expr]:
    sizes = [pl.col(_contribution_column(name, f)).abs() for f in spec.features]
    return [_place(i, sizes).alias(f"__place_{name}_{i}") for i in range(len(sizes))]


def _place(i: int, sizes: list[pl.Expr]) -> pl.Expr:
    """How many features come before feature i: larger, or as large and listed earlier."""
    ahead = [(size > sizes[i]) if j > i else (size >= sizes[i]) for j, size in enumerate(sizes) if j != i]
    return pl.sum_horizontal(ahead) if ahead else pl.lit(0)


def _index_columns(name: str, spec: Score) -> list[pl.Expr]:
    places = [pl.col(f"__place_{name}_{i}") for i in range(len(spec.features))]
    return [
        pl.sum_horizontal(pl.when(place == k).then(i).otherwise(0) for i, place in enumerate(places)).alias(
            f"__index_{name}_{k}"
        )
        for k in range(min(TOP, len(places)))
    ]


def _reasons(name: str, spec: Score) -> pl.Expr:
    names = [f.name for f in spec.features]
    values = [pl.col(f.name).cast(pl.Float64) for f in spec.features]  # one dtype to choose among
    parts = [pl.col(_contribution_column(name, f)) for f in spec.features]
    picks = []
    for k in range(min(TOP, len(names))):
        index = pl.col(f"__index_{name}_{k}")
        feature = index.replace_strict(list(range(len(names))), names, return_dtype=pl.String)
        picks.append(_reason(feature, _choose(index, values), _choose(index, parts)))
    return pl.concat_arr(picks).arr.to_list().alias(f"__why_{name}")


def _choose(index: pl.Expr, columns: list[pl.Expr]) -> pl.Expr:
    # Only the chosen branch is non-null, so coalescing picks it (and keeps a null value null).
    return pl.coalesce(pl.when(index == i).then(column) for i, column in enumerate(columns))


def _reason(feature: pl.Expr, value: pl.Expr, contribution: pl.Expr) -> pl.Expr:
    return pl.struct(
        feature.alias("feature"),
        value.cast(pl.Float64).alias("value"),
        contribution.alias("contribution"),
        contribution.sign().cast(pl.Int8).alias("sign"),
    )


# ---- risk from a churn model ---------------------------------------------------------------------------------------


def _apply_churn_model(scored: pl.DataFrame, churn: pl.DataFrame, column: str) -> pl.DataFrame:
    """Risk = probability x 100 where the model scored the subscriber; the heuristic stays for the others."""
    model = _checked_churn(churn, column)
    joined = scored.drop(column, strict=False).join(model, on=ID, how="left")
    probability = pl.col(column)
    reason = _reason(pl.lit(column), probability, probability * 100.0 - 50.0)
    return joined.with_columns(
        pl.when(probability.is_not_null()).then(probability * 100.0).otherwise(pl.col("risk")).alias("risk"),
        pl.when(probability.is_not_null())
        .then(pl.concat_list(reason))
        .otherwise(pl.col("__why_risk"))
        .alias("__why_risk"),
    )


def _checked_churn(churn: pl.DataFrame, column: str) -> pl.DataFrame:
    if ID not in churn.columns or column not in churn.columns:
        raise Invalid(f"the churn scores need columns {ID} and {column}", field="churn")
    model = churn.select(ID, pl.col(column).cast(pl.Float64))
    if model.get_column(ID).is_duplicated().any():
        raise Invalid("a subscriber has more than one churn probability", field="churn")
    if not model.get_column(column).drop_nulls().is_between(0.0, 1.0).all():
        raise Invalid(f"{column} must be a probability between 0 and 1", field=f"churn.{column}")
    return model


# ---- bands ---------------------------------------------------------------------------------------------------------


def bands(scores: pl.DataFrame, config: ScoreConfig) -> pl.DataFrame:
    """subscriber_id and, per score, the name of the band the value falls in."""
    return scores.select(ID, *(_band(pl.col(name), config.bands_of(name)).alias(name) for name in SCORE_NAMES))


def _band(value: pl.Expr, spec: list[Band]) -> pl.Expr:
    expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for band in spec:  # ascending: a later, higher band overrides
        expr = pl.when(value >= band.min).then(pl.lit(band.name)).otherwise(expr)
    return expr


def band_changes(previous: pl.DataFrame, current: pl.DataFrame, config: ScoreConfig) -> pl.DataFrame:
    """One row per (subscriber, score) whose band differs between two score frames: the `score.changed` events.
    Subscribers present in only one of the frames have no crossing and give no row."""
    before = _long_bands(previous, config, "from_band")
    after = _long_bands(current, config, "to_band")
    return (
        before.join(after, on=[ID, "score"], how="inner")
        .filter(pl.col("from_band") != pl.col("to_band"))
        .sort(ID, "score")
        .with_columns(pl.col("score").cast(pl.String))
    )


def _long_bands(scores: pl.DataFrame, config: ScoreConfig, value_name: str) -> pl.DataFrame:
    return (
        bands(scores, config)
        .unpivot(index=ID, on=list(SCORE_NAMES), variable_name="score", value_name=value_name)
        .with_columns(pl.col("score").cast(pl.Enum(SCORE_NAMES)))
    )
