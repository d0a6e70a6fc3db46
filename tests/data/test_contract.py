"""The data contract: inferred from the training split as a pandera schema (YAML, saved with
the data and every model), and, once committed beside params.yaml, checked lazily against every
split by preprocess: a violation stops it with a table of column, check, failing rows and
examples (or, with data.contract: warn, is printed)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from commands import run
from tabular_data import tabular_data_params, write_bank_like_csv

from reprotune.data import contract, reference
from reprotune.errors import DataError
from reprotune.workspace import copy_pipeline

ROOT = Path(__file__).resolve().parents[2]
FEATURES = {"age": "number", "job": "category", "tags": "set", "note": "text"}


def stored_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [25.0, 40.0, np.nan, 61.0],
            "job": ["admin.", "retired", "admin.", np.nan],
            "tags": ['["a", "b"]', '["b"]', np.nan, '["a"]'],
            "note": ["called twice", "no answer", "", "wants a call back"],
        }
    )


def test_inferred_contract_round_trips_through_yaml_and_passes_its_own_rows(tmp_path):
    schema = contract.infer(stored_table(), FEATURES)
    path = tmp_path / "contract.yaml"
    path.write_text(contract.to_yaml(schema))
    text = path.read_text()
    assert "in_range" in text and "isin" in text and "set_levels_in" in text
    again = contract.read(path)
    assert contract.violations(again, stored_table(), "train") == []
    assert again.columns["age"].nullable and not again.columns["note"].nullable


def test_every_violation_is_listed_with_its_rows_and_examples(tmp_path):
    schema = contract.infer(stored_table(), FEATURES)
    new = stored_table().assign(
        age=[25.0, 130.0, -3.0, 40.0],
        job=["admin.", "astronaut", "admin.", "retired"],
        tags=['["a"]', '["z"]', np.nan, '["b"]'],
    )
    found = {(v["column"], v["failing"]) for v in contract.violations(schema, new, "test")}
    assert found == {("age", 2), ("job", 1), ("tags", 1)}
    age = next(v for v in contract.violations(schema, new, "test") if v["column"] == "age")
    assert age["examples"] == [130.0, -3.0] and age["rows"] == [1, 2]
    table = contract.render(contract.violations(schema, new.drop(columns="note"), "test"))
    assert "| test | note | column present |" in table and "'astronaut'" in table
    with pytest.raises(DataError, match=r"data\.contract: warn"):
        contract.enforce(contract.violations(schema, new, "test"), "fail", "contract.yaml")
    warning = contract.enforce(contract.violations(schema, new, "test"), "warn", "contract.yaml")
    assert "going on" in warning


def test_an_unreadable_contract_is_named_with_its_fix(tmp_path):
    bad = tmp_path / "contract.yaml"
    bad.write_text("schema_type: dataframe\ncolumns: [this is: not a schema\n")
    with pytest.raises(DataError, match=r"contract\.yaml is not a readable data contract") as e:
        contract.read(bad)
    assert "line 2" in str(e.value) and "fix: correct it" in str(e.value)


def test_models_carry_the_contract_and_profile(tmp_path):
    processed, model = tmp_path / "processed", tmp_path / "model"
    processed.mkdir(), model.mkdir()
    reference.write(processed, stored_table(), FEATURES)
    reference.save_with_model(model, processed)
    assert reference.profile_of(model)["features"]["age"]["kind"] == "numeric"
    assert reference.contract_of(model) == model / "contract.yaml"
    member = tmp_path / "ensemble" / "members" / "logreg"
    member.mkdir(parents=True)
    reference.save_with_model(member, processed)
    assert reference.profile_of(tmp_path / "ensemble") is not None  # an older ensemble's member


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    project = copy_pipeline(ROOT, tmp_path_factory.mktemp("project"))
    data = write_bank_like_csv(project / "bank.csv", n=400, seed=3)
    params = {
        "data": tabular_data_params(Path("bank.csv")),
        "train": {"candidates": {"logreg": {"family": "logreg"}}},
        "compare": {"metric": "pr_auc", "registered_model": "contract-test"},
        "tracking": {"enabled": False},
    }
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert data.is_file()
    for stage in ("sources", "fetch", "preprocess"):
        run(["python", f"stages/{stage}.py"], project)
    return project


def test_preprocess_writes_the_contract_and_a_committed_one_is_enforced(project):
    inferred = project / "data/processed/contract.yaml"
    assert "in_range" in inferred.read_text()
    assert (project / "data/processed/profile.json").is_file()
    committed = yaml.safe_load(inferred.read_text())
    committed["columns"]["age"]["in_range"]["max_value"] = 60  # tightened by hand
    (project / "contract.yaml").write_text(yaml.safe_dump(committed))
    before = inferred.read_text()
    failed = run(["python", "stages/preprocess.py"], project, check=False)
    assert failed.returncode != 0
    assert "breaks the contract in contract.yaml" in failed.stderr
    assert "| train | age | in_range(18.0, 60) |" in failed.stderr.replace("18.0, 60.0", "18.0, 60")
    assert inferred.read_text() == before  # nothing half-written
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["contract"] = "warn"
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    warned = run(["python", "stages/preprocess.py"], project)
    assert "going on" in warned.stdout + warned.stderr
    # The committed contract wins: it is the one saved with the data and every model.
    assert inferred.read_text() == (project / "contract.yaml").read_text()
