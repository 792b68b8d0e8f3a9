"""Mission generation for synthetic profiles (default 1,000,000 subscribers) against the built-in catalogue (its ~29
templates and their variations), beside a bare polars join of the same sizes measured in the same run: every
subscriber joined with every template (a cross join of profiles and the template table) and the five best per
subscriber kept by a sort-based top-k.

    .venv/bin/python bench/generation.py [--subscribers 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource

import numpy as np
import polars as pl

from questline.missions.generator import HELD_SCHEMA, Policy, generate
from questline.missions.history import EVER, stat_column
from questline.missions.templates import builtin
from questline.missions.variations import Mission, expand
from questline.scoring.config import SCORE_NAMES
from questline.scoring.segments import condition_fields
from timing import best_of

AS_OF = dt.date(2026, 11, 30)
SEGMENTS = ("new", "dormant", "at_risk", "champions", "loyal", "potential", "regular")
PRODUCTS = ("NIGHT_DATA_UNL_1D", "SOCIAL_UNL_7D", "DATA_1GB_7D", "INTL_100MIN_30D", "DATA_5GB_30D", "DATA_20GB_30D")
PLANS = ("PAYG_STARTER", "PAYG_SAVER_5", "SIMO_12M_10GB", "PAYM_5G_MAX")


def synthetic_profiles(subscribers: int, seed: int = 11) -> pl.DataFrame:
    """What `build_profiles` hands the generator: scores, segment, ML outputs, attributes and history columns."""
    rng = np.random.default_rng(seed)
    n = subscribers
    columns: dict[str, object] = {"subscriber_id": pl.Series(np.arange(n), dtype=pl.UInt32).cast(pl.String)}
    for name in SCORE_NAMES:
        columns[name] = rng.uniform(0, 100, n)
    columns["segment"] = pl.Series(SEGMENTS).gather(rng.integers(0, len(SEGMENTS), n))
    columns["churn_probability"] = rng.beta(1, 12, n)
    columns["lifetime_value"] = rng.gamma(2.0, 60.0, n)
    columns["revenue_30d"] = rng.gamma(2.0, 10.0, n)
    columns["tenure_days"] = rng.integers(0, 3000, n)
    columns["recency_days"] = rng.geometric(0.3, n) - 1
    columns["days_observed"] = np.full(n, 90)
    columns["plan"] = pl.Series(PLANS).gather(rng.integers(0, len(PLANS), n))
    frame = pl.DataFrame(columns)
    templates = builtin()
    wanted = {f for t in templates if t.eligibility for f in condition_fields(t.eligibility)} - set(frame.columns)
    history = {}
    for name in sorted(wanted):
        if name.startswith(EVER):
            history[name] = rng.random(n) < 0.7
        elif name != "days_to_anniversary":
            history[name] = rng.exponential(5.0, n) * (rng.random(n) < 0.8)
    for spec in (s for t in templates for s in t.personalise.values()):
        history[stat_column(spec)] = np.where(rng.random(n) < 0.9, rng.gamma(2.0, 5.0, n), np.nan)
    extra = pl.DataFrame(history).with_columns(pl.selectors.float().fill_nan(None))
    return pl.concat([frame, extra], how="horizontal").with_columns(
        ((365 - pl.col("tenure_days") % 365) % 365).alias("days_to_anniversary")
    )


def synthetic_offers(profiles: pl.DataFrame, seed: int = 12) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = profiles.height
    return pl.DataFrame(
        {
            "subscriber_id": profiles.get_column("subscriber_id").gather(np.repeat(np.arange(n), 3)),
            "rank": np.tile(np.arange(1, 4), n),
            "product": pl.Series(PRODUCTS).gather(rng.integers(0, len(PRODUCTS), 3 * n)),
            "propensity": rng.uniform(0, 0.5, 3 * n),
        }
    ).unique(["subscriber_id", "product"], keep="first")


def catalogue() -> list[Mission]:
    return [m for t in builtin() for m in expand(t, PRODUCTS)]


def baseline(profiles: pl.DataFrame, templates: pl.DataFrame) -> pl.DataFrame:
    """A bare join of every subscriber with every template, keeping the five best by a score per subscriber."""
    return (
        profiles.lazy()
        .select("subscriber_id", "engagement")
        .join(templates.lazy(), how="cross")
        .with_columns((pl.col("engagement") * pl.col("weight")).alias("value"))
        .sort("subscriber_id", "value", descending=[False, True])
        .group_by("subscriber_id", maintain_order=True)
        .head(5)
        .collect()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    profiles = synthetic_profiles(args.subscribers)
    offers = synthetic_offers(profiles)
    missions = catalogue()
    templates = pl.DataFrame({"template": [t.key for t in builtin()]}).with_row_index("weight")
    held = HELD_SCHEMA.to_frame()
    print(
        f"{profiles.height:,} profiles × {profiles.width} columns, {offers.height:,} offers, "
        f"{len(builtin())} templates, {len(missions)} concrete missions"
    )

    def generation() -> int:
        return generate(profiles, offers, missions, held, as_of=AS_OF, timezone="Europe/London", policy=Policy()).height

    found = best_of({"base": lambda: baseline(profiles, templates).height, "generate": generation}, args.repeat)
    (base, base_rows), (gen, gen_rows) = found["base"], found["generate"]
    print(f"baseline cross join + top 5: {base:.2f} s ({base_rows:,} rows)")
    print(f"generate: {gen:.2f} s ({gen_rows:,} assignments), {gen / base:.2f}× the baseline (target ≤ 10 s)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB")


if __name__ == "__main__":
    main()
