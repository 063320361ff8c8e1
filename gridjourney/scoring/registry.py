"""Model artifacts: <dir>/<name>/v<N>/ with model.pkl and meta.json (version, training time, parameters,
feature list, data hash, evaluation figures). Loading refuses a model whose feature list differs from
the code's, since it would silently score the wrong columns.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd


class FeatureMismatch(ValueError):
    """The saved model was trained on other features than this code computes."""


@dataclass(frozen=True)
class Artifact:
    name: str
    version: int
    path: Path
    meta: dict[str, Any]


def data_hash(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()
    return hashlib.sha256(hashed + ",".join(map(str, frame.columns)).encode()).hexdigest()[:16]


def save_model(
    directory: Path,
    name: str,
    model: object,
    *,
    features: tuple[str, ...],
    parameters: dict[str, Any],
    data_digest: str,
    evaluation: dict[str, Any],
) -> Artifact:
    folder = directory / name
    folder.mkdir(parents=True, exist_ok=True)
    versions = [int(p.name[1:]) for p in folder.glob("v*") if p.name[1:].isdigit()]
    version = max(versions, default=0) + 1
    target = folder / f"v{version}"
    target.mkdir()
    meta = {
        "name": name,
        "version": version,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": parameters,
        "features": list(features),
        "data_hash": data_digest,
        "evaluation": evaluation,
    }
    # Pickle is for artifacts this installation wrote itself; never load models from untrusted places.
    (target / "model.pkl").write_bytes(pickle.dumps(model))
    (target / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    return Artifact(name, version, target, meta)


def list_models(directory: Path) -> list[Artifact]:
    out = []
    for meta_file in sorted(directory.glob("*/v*/meta.json")):
        meta = json.loads(meta_file.read_text())
        out.append(Artifact(meta["name"], int(meta["version"]), meta_file.parent, meta))
    return sorted(out, key=lambda a: (a.name, a.version))


def load_model(
    directory: Path, name: str, *, features: tuple[str, ...], version: int | None = None
) -> tuple[Any, Artifact]:
    candidates = [a for a in list_models(directory) if a.name == name]
    if version is not None:
        candidates = [a for a in candidates if a.version == version]
    if not candidates:
        which = f"{name} v{version}" if version is not None else name
        raise FileNotFoundError(f"no saved model {which} under {directory}")
    artifact = candidates[-1]
    saved = tuple(artifact.meta["features"])
    if saved != tuple(features):
        missing = sorted(set(features) - set(saved))
        extra = sorted(set(saved) - set(features))
        raise FeatureMismatch(
            f"model {name} v{artifact.version} was trained on other features than this code computes "
            f"(missing: {missing or 'none'}; unknown: {extra or 'none'}; "
            f"order differs: {not missing and not extra}); "
            "retrain it with `gridjourney models train`"
        )
    try:
        model = pickle.loads((artifact.path / "model.pkl").read_bytes())
    except (ModuleNotFoundError, AttributeError, pickle.UnpicklingError) as error:
        # a model saved by an older version of this code (LightGBM models before scoring/propensity.py
        # moved to a logistic regression, classes since renamed): the same answer as other features
        raise FeatureMismatch(
            f"model {name} v{artifact.version} was saved by an older version of gridjourney ({error}); "
            "retrain it with `gridjourney models train`"
        ) from None
    return model, artifact
