"""What a model keeps of its training data besides its weights: the data contract its inputs
must meet and the reference profile drift is measured against (bins and frequencies, never
rows). preprocess writes both into data/processed/; train and ensemble copy them into the model
folder, so a registered model carries them wherever it is served or scores a table."""

import json
import shutil
from pathlib import Path

import pandas as pd

from reprotune import paths
from reprotune.data import contract

CONTRACT_FILE = paths.CONTRACT.name
PROFILE_FILE = paths.PROFILE.name
MEMBERS_DIR = "members"  # an ensemble keeps its members' folders here


def write(
    folder: Path, train: pd.DataFrame, features: dict[str, str], committed: Path | None = None
) -> None:
    """The contract (the `committed` one, else the training split's) and the training
    split's profile, into `folder`."""
    from reprotune.drift import build_profile

    if committed is not None:
        shutil.copyfile(committed, Path(folder) / CONTRACT_FILE)
    else:
        schema = contract.infer(train, features)
        (Path(folder) / CONTRACT_FILE).write_text(contract.to_yaml(schema), encoding="utf-8")
    profile = build_profile(train, features)
    (Path(folder) / PROFILE_FILE).write_text(json.dumps(profile, indent=1), encoding="utf-8")


def save_with_model(model_folder: Path, processed: Path = paths.PROCESSED_DIR) -> None:
    for name in (CONTRACT_FILE, PROFILE_FILE):
        if (Path(processed) / name).is_file():
            shutil.copy2(Path(processed) / name, Path(model_folder) / name)


def _find(model_folder: Path, name: str) -> Path | None:
    folder = Path(model_folder)
    if (folder / name).is_file():
        return folder / name
    # An ensemble saved before it kept its own copy: its members trained on the same rows.
    return next(iter(sorted((folder / MEMBERS_DIR).glob(f"*/{name}"))), None)


def profile_of(model_folder: Path) -> dict | None:
    found = _find(model_folder, PROFILE_FILE)
    return json.loads(found.read_text(encoding="utf-8")) if found else None


def contract_of(model_folder: Path) -> Path | None:
    return _find(model_folder, CONTRACT_FILE)
