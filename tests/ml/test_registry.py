from __future__ import annotations

import datetime as dt

import pytest

from questline.kit.errors import Conflict, Invalid, NotFound
from questline.ml import registry
from questline.runtime import Runtime


def _save(rt: Runtime, weight: int, kind: str = "churn") -> int:
    row = registry.save_model(
        rt,
        {"weight": weight},
        kind=kind,
        name=f"model {weight}",
        metrics={"auc": 0.5 + weight / 8},
        features=["tenure", "Contract"],
        params={"seed": weight},
        window=(dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
    )
    return row.version


def test_each_save_is_a_new_version_with_its_artifact(rt: Runtime) -> None:
    assert [_save(rt, 1), _save(rt, 2), _save(rt, 3, kind="ltv")] == [1, 2, 1]
    models = registry.list_models(rt, "churn")
    assert [(m.version, m.active, m.origin) for m in models] == [(1, False, "builtin"), (2, False, "builtin")]
    second = models[1]
    assert second.artifact == "models/churn/2/model.joblib"  # relative: the home can move
    assert (rt.settings.home / second.artifact).is_file()
    assert second.metrics == {"auc": 0.75} and second.features == ["tenure", "Contract"]
    assert (second.trained_from, second.trained_to) == (dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert registry.load(rt, second) == {"weight": 2}
    assert len(registry.list_models(rt)) == 3


def test_exactly_one_version_per_kind_is_active(rt: Runtime) -> None:
    for weight in (1, 2, 3):
        _save(rt, weight)
    _save(rt, 9, kind="ltv")
    assert registry.active(rt, "churn") is None
    registry.activate(rt, "ltv", 1)
    registry.activate(rt, "churn", 1)
    registry.activate(rt, "churn", 3)
    current = registry.active(rt, "churn")
    assert current is not None and current.version == 3
    assert [m.version for m in registry.list_models(rt) if m.active and m.kind == "churn"] == [3]
    ltv = registry.active(rt, "ltv")
    assert ltv is not None and ltv.version == 1  # another kind is untouched
    registry.activate(rt, "churn", 3)  # activating again changes nothing
    assert [m.version for m in registry.list_models(rt, "churn") if m.active] == [3]


def test_unknown_versions_and_kinds(rt: Runtime) -> None:
    _save(rt, 1)
    with pytest.raises(NotFound) as missing:
        registry.activate(rt, "churn", 7)
    assert missing.value.field == "version"
    with pytest.raises(Invalid) as kind:
        registry.activate(rt, "weather", 1)
    assert kind.value.field == "kind"


def test_a_missing_artifact_is_reported(rt: Runtime) -> None:
    _save(rt, 1)
    model = registry.get(rt, "churn", 1)
    assert model.artifact is not None
    (rt.settings.home / model.artifact).unlink()
    with pytest.raises(NotFound, match="missing"):
        registry.load(rt, model)


def test_a_failed_save_leaves_nothing_behind(rt: Runtime) -> None:
    def broken(path: object) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        registry.register(rt, kind="churn", name="x", origin="builtin", filename="model.joblib", write=broken)
    assert registry.list_models(rt) == [] and not (rt.settings.home / "models" / "churn" / "1").exists()
    (rt.settings.home / "models" / "churn" / "1").mkdir(parents=True)  # a save in progress elsewhere
    with pytest.raises(Conflict):
        _save(rt, 1)
    assert registry.list_models(rt) == []


def test_the_database_refuses_a_second_active_version(rt: Runtime) -> None:
    """Even a writer that bypasses `activate` cannot leave two versions of a kind active."""
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    from questline.models import MlModel

    for _ in range(2):
        registry.save_model(rt, {"w": 1}, kind="churn", name="m", metrics={}, features=[])
    registry.activate(rt, "churn", 1)
    with pytest.raises(IntegrityError), rt.db.session() as session:
        session.execute(update(MlModel).where(MlModel.kind == "churn", MlModel.version == 2).values(active=True))
    assert registry.active(rt, "churn").version == 1  # type: ignore[union-attr]
    assert registry.activate(rt, "churn", 2).active
