"""The model registry: every trained or imported model is a numbered version of its kind (churn, nbo, ltv) with its
metrics, feature list, parameters and training window; its artifact lives in the home under
`models/<kind>/<version>/`, recorded relative to the home so that the home can move. One version per kind is active."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from questline.kit.errors import Conflict, Invalid, NotFound
from questline.models import MlModel
from questline.runtime import Runtime

KINDS = ("churn", "nbo", "ltv")
MODEL_FILE = "model.joblib"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise Invalid(f"unknown model kind {kind!r}; use {', '.join(KINDS)}", field="kind")


def register(
    rt: Runtime,
    *,
    kind: str,
    name: str,
    origin: str,
    filename: str,
    write: Callable[[Path], None],
    metrics: dict[str, Any] | None = None,
    features: list[str] | None = None,
    params: dict[str, Any] | None = None,
    window: tuple[dt.date | None, dt.date | None] = (None, None),
) -> MlModel:
    """Add the next version of `kind`: `write` puts the artifact at the path it is given, then the row is stored.
    The artifact is removed again if the row cannot be stored."""
    _check_kind(kind)
    row = MlModel(
        kind=kind,
        name=name,
        origin=origin,
        metrics=metrics or {},
        features=features or [],
        params=params or {},
        trained_from=window[0],
        trained_to=window[1],
        active=False,
    )
    try:
        return _insert(rt, row, filename, write)
    except IntegrityError:  # another process took the same version number between our read and our insert
        raise Conflict(f"another {kind} version was saved at the same moment: try again", field="version") from None


def _insert(rt: Runtime, row: MlModel, filename: str, write: Callable[[Path], None]) -> MlModel:
    with rt.db.session() as session:
        latest = session.scalar(select(func.max(MlModel.version)).where(MlModel.kind == row.kind))
        row.version = (latest or 0) + 1
        relative = Path("models") / row.kind / str(row.version)
        folder = rt.settings.home / relative
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()  # never shared: a folder already there belongs to a save in progress or a crashed one
        except FileExistsError:
            raise Conflict(f"{folder} already exists: another save is running, or remove it", field="version") from None
        try:
            write(folder / filename)
            row.artifact = (relative / filename).as_posix()
            session.add(row)
            session.flush()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return row


def save_model(
    rt: Runtime,
    model: object,
    *,
    kind: str,
    name: str,
    metrics: dict[str, Any],
    features: list[str],
    params: dict[str, Any] | None = None,
    window: tuple[dt.date | None, dt.date | None] = (None, None),
) -> MlModel:
    """Store a built-in model (any picklable object) as a new, inactive version."""

    def write(path: Path) -> None:
        joblib.dump(model, path)

    return register(
        rt,
        kind=kind,
        name=name,
        origin="builtin",
        filename=MODEL_FILE,
        write=write,
        metrics=metrics,
        features=features,
        params=params,
        window=window,
    )


def list_models(rt: Runtime, kind: str | None = None) -> list[MlModel]:
    query = select(MlModel).order_by(MlModel.kind, MlModel.version)
    if kind is not None:
        query = query.where(MlModel.kind == kind)
    with rt.db.session() as session:
        return list(session.scalars(query))


def get(rt: Runtime, kind: str, version: int) -> MlModel:
    with rt.db.session() as session:
        row = session.scalar(select(MlModel).where(MlModel.kind == kind, MlModel.version == version))
    if row is None:
        raise NotFound(f"no {kind} model version {version}", field="version")
    return row


def activate(rt: Runtime, kind: str, version: int) -> MlModel:
    """Make this version the one used for `kind`; the previously active one is deactivated in the same transaction."""
    _check_kind(kind)
    with rt.db.session() as session:
        row = session.scalar(select(MlModel).where(MlModel.kind == kind, MlModel.version == version).with_for_update())
        if row is None:
            raise NotFound(f"no {kind} model version {version}", field="version")
        session.execute(update(MlModel).where(MlModel.kind == kind, MlModel.id != row.id).values(active=False))
        row.active = True
    return row


def active(rt: Runtime, kind: str) -> MlModel | None:
    with rt.db.session() as session:
        return session.scalar(select(MlModel).where(MlModel.kind == kind, MlModel.active.is_(True)))


def artifact_path(rt: Runtime, model: MlModel) -> Path:
    if not model.artifact:
        raise NotFound(f"{model.kind} version {model.version} has no artifact", field="artifact")
    path = rt.settings.home / model.artifact
    if not path.is_file():
        raise NotFound(
            f"artifact of {model.kind} version {model.version} is missing: {model.artifact}", field="artifact"
        )
    return path


def load(rt: Runtime, model: MlModel) -> Any:
    """The fitted object of a built-in model version."""
    if model.origin != "builtin":
        raise Invalid(f"{model.kind} version {model.version} holds imported scores, not a model", field="version")
    return joblib.load(artifact_path(rt, model))


def as_dict(model: MlModel) -> dict[str, Any]:
    """A version as JSON-ready data (without the calibration table, which is long)."""
    headline = {key: value for key, value in model.metrics.items() if key != "calibration"}
    return {
        "kind": model.kind,
        "version": model.version,
        "name": model.name,
        "origin": model.origin,
        "active": model.active,
        "metrics": headline,
        "features": model.features,
        "trained_from": model.trained_from.isoformat() if model.trained_from else None,
        "trained_to": model.trained_to.isoformat() if model.trained_to else None,
        "artifact": model.artifact,
        "created_at": model.created_at.isoformat() if model.created_at else None,
    }
