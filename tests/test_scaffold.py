"""`reprotune init` on generated files: feature types, proposed drops, candidates, a params.yaml
the pipeline accepts (and runs), never an overwrite without --force."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from commands import git_commit_all, run
from image_data import write_poi_like
from servers import free_port, popen_server, stop, wait_for_http
from tabular_data import write_bank_like_csv

from reprotune.cli import main
from reprotune.config import check_tracked_keys, parse_params
from reprotune.io import read_yaml
from reprotune.workspace import copy_pipeline

ROOT = Path(__file__).parents[1]


def mixed_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Every inferred type, an identifier, a constant column and a leak."""
    rng = np.random.default_rng(seed)
    churn = rng.random(n) < 0.2
    words = ["late", "delivery", "great", "service", "refund", "broken", "thanks", "slow"]
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "tenure": rng.integers(1, 72, n),
            "monthly_fee": rng.normal(50, 10, n).round(2),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "paperless": rng.choice(["yes", "no"], n),
            "addons": [
                str(sorted({str(a) for a in rng.choice(["tv", "phone", "cloud"], 2)}))
                for _ in range(n)
            ],
            "last_review": [" ".join(rng.choice(words, 6)) for _ in range(n)],
            "country": "NL",
            "churned_flag": np.where(churn, "Y", "N"),  # the target recoded: a leak
            "churn": np.where(churn, "yes", "no"),
        }
    )


def init(*args: str, capsys) -> tuple[int, str, str]:
    code = main(["init", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_init_infers_types_proposes_drops_and_writes_valid_params(tmp_path, capsys):
    data = tmp_path / "customers.csv"
    mixed_table().to_csv(data, index=False)
    code, out, err = init("--data", str(data), "--target", "churn", "--dry-run", capsys=capsys)
    assert code == 0, err
    params = read_yaml(out)
    assert params["data"]["features"] == {
        "tenure": "number", "monthly_fee": "number", "plan": "category", "paperless": "binary",
        "addons": "set", "last_review": "text",
    }  # fmt: skip
    assert params["data"]["drop_columns"] == ["customer_id", "country", "churned_flag"]
    assert "# identifier" in out and "# constant" in out and "# leak" in out
    assert params["data"]["positive_label"] == "yes"  # the rarer class
    assert params["data"]["files"]["train"] == str(data) and params["data"]["csv"]["sep"] == ","
    assert params["compare"]["metric"] == "pr_auc"
    # 300 rows, text and set columns: no neural network
    assert list(params["train"]["candidates"]) == ["logreg", "random_forest", "xgboost",
                                                   "xgboost_tuned"]  # fmt: skip
    assert params["tracking"]["experiment"] == "reprotune-customers"
    assert "Written by `reprotune init`" in out.splitlines()[0]
    assert "300 rows sampled" in err and "dropped: customer_id (identifier)" in err
    parse_params(params)
    check_tracked_keys(params, Path(__file__).parents[1] / "dvc.yaml")  # DVC finds every key
    assert not (tmp_path / "params.yaml").exists()  # --dry-run writes nothing


def test_init_never_overwrites_without_force(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = write_bank_like_csv(tmp_path / "bank.csv", 1200, seed=1)
    Path("params.yaml").write_text("mine: true\n")
    code, _, err = init("--data", str(data), "--target", "y", capsys=capsys)
    assert code == 2 and "params.yaml exists; fix: --force" in err
    assert Path("params.yaml").read_text() == "mine: true\n"
    code, _, err = init("--data", str(data), "--target", "y", "--force", capsys=capsys)
    assert code == 0, err
    params = read_yaml(Path("params.yaml").read_text())
    assert params["data"]["csv"]["sep"] == ";"  # detected
    assert params["data"]["drop_columns"] == ["call_id"]
    assert "mlp_embeddings" in params["train"]["candidates"]  # 1,200 rows of typed columns
    assert not list(tmp_path.glob("*.tmp"))


def test_init_writes_the_contract_every_row_meets_and_never_replaces_it(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    frame = mixed_table(n=6000, seed=4)  # more rows than init samples
    frame.loc[5990, "tenure"] = 400  # past the sample, far outside its range
    frame.loc[5995, "plan"] = "enterprise"  # a level the sample never saw
    frame.to_csv(tmp_path / "customers.csv", index=False)
    code, _, err = init("--data", "customers.csv", "--target", "churn", capsys=capsys)
    assert code == 0, err
    assert "wrote params.yaml and contract.yaml (the data contract every row meets)" in err
    written = yaml.safe_load(Path("contract.yaml").read_text())
    columns = written["columns"]
    assert set(columns) == {"tenure", "monthly_fee", "plan", "paperless", "addons", "last_review"}
    assert columns["tenure"]["in_range"]["max_value"] == 400
    assert "enterprise" in columns["plan"]["isin"]
    assert "every row of" in Path("contract.yaml").read_text().splitlines()[1]

    Path("contract.yaml").write_text(Path("contract.yaml").read_text() + "# tightened\n")
    code, _, err = init("--data", "customers.csv", "--target", "churn", "--force", capsys=capsys)
    assert code == 0 and "kept the contract.yaml beside it" in err
    assert Path("contract.yaml").read_text().endswith("# tightened\n")


def test_init_multiclass_and_a_misspelt_target(tmp_path, capsys):
    frame = mixed_table().drop(columns=["churn", "churned_flag"])
    data = tmp_path / "plans.csv"
    frame.to_csv(data, index=False)
    code, out, err = init("--data", str(data), "--target", "plan", "--dry-run", capsys=capsys)
    assert code == 0, err
    params = read_yaml(out)
    assert params["data"]["positive_label"] is None
    assert params["evaluate"]["threshold"] == "none" and params["compare"]["metric"] == "macro_f1"
    code, _, err = init("--data", str(data), "--target", "plna", "--dry-run", capsys=capsys)
    assert code == 2 and "did you mean 'plan'?" in err
    code, _, err = init("--data", str(data), "--target", "plan", "--task", "binary",
                        "--dry-run", capsys=capsys)  # fmt: skip
    assert code == 2 and "has 3 classes; fix: --task multiclass" in err


def test_init_finds_image_columns_and_adds_the_multimodal_family(tmp_path, capsys):
    data = write_poi_like(tmp_path / "poi", 60, seed=3)
    frame = pd.read_csv(data)
    frame["engaged"] = np.where(frame["Likes"] > frame["Likes"].median(), "high", "low")
    frame.drop(columns=["Likes", "Dislikes", "Bookmarks"]).to_csv(data, index=False)
    code, out, err = init("--data", str(data), "--target", "engaged", "--dry-run", capsys=capsys)
    assert code == 0, err
    params = read_yaml(out)
    assert params["data"]["features"]["photo"] == "image"
    assert params["train"]["candidates"]["fused"]["family"] == "keras_multimodal"
    assert "photo" not in params["train"]["candidates"]["logreg"]["columns"]
    assert "fused" in params["compare"]["phases"]["optimized"]


def test_init_reads_a_url_from_loopback(tmp_path, capsys):
    folder = tmp_path / "served"
    write_bank_like_csv(folder / "bank.csv", 200, seed=2)
    port = free_port()
    server = popen_server(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=folder
    )
    try:
        url = f"http://127.0.0.1:{port}/bank.csv"
        wait_for_http(url, server, timeout_s=30)
        code, out, err = init("--data", url, "--target", "y", "--dry-run", capsys=capsys)
    finally:
        stop(server)
    assert code == 0, err
    params = read_yaml(out)
    assert params["data"]["files"]["train"] == url
    assert params["data"]["features"]["job"] == "category"


@pytest.mark.e2e  # the real dvc CLI on a generated project
def test_generated_params_run_in_the_pipeline(tmp_path):
    """The written params.yaml runs as is: fetch, preprocess, a candidate's train and
    evaluate (the whole tabular pipeline runs in the Bank Marketing e2e test)."""
    project = copy_pipeline(ROOT, tmp_path / "project")
    data = tmp_path / "customers.csv"
    mixed_table(n=240).to_csv(data, index=False)
    (project / "params.yaml").unlink()
    run([str(Path(sys.executable).parent / "reprotune"), "init", "--data", str(data),
         "--target", "churn"], project)  # fmt: skip
    assert (project / "contract.yaml").is_file()  # committed with params.yaml
    git_commit_all(project)
    run(["dvc", "repro", "evaluate@logreg"], project)  # the contract passes every split
    carried = (project / "models/logreg/contract.yaml").read_text()
    assert carried == (project / "contract.yaml").read_text()  # the committed one wins
    metrics = yaml.safe_load((project / "metrics/evaluate/logreg.json").read_text())
    assert 0.5 < metrics["roc_auc"] <= 1.0
    assert (
        yaml.safe_load((project / "data/processed/features.json").read_text())["features"]["addons"]
        == "set"
    )
    shutil.rmtree(project / ".dvc" / "cache", ignore_errors=True)


def test_a_relative_data_path_stays_relative_to_the_project(tmp_path, capsys, monkeypatch):
    project, shared = tmp_path / "project", tmp_path / "team-data"
    project.mkdir(), shared.mkdir()
    mixed_table().to_csv(shared / "customers.csv", index=False)
    monkeypatch.chdir(project)
    code, _, err = init("--data", "../team-data/customers.csv", "--target", "churn", capsys=capsys)
    assert code == 0, err
    params = read_yaml((project / "params.yaml").read_text())
    assert params["data"]["files"]["train"] == "../team-data/customers.csv"  # a teammate's too
    monkeypatch.chdir(shared)  # from elsewhere, relative to params.yaml's folder
    out = project / "other.yaml"
    code, _, err = init(
        "--data", "customers.csv", "--target", "churn", "--output", str(out), capsys=capsys
    )
    assert code == 0, err
    assert read_yaml(out.read_text())["data"]["files"]["train"] == "../team-data/customers.csv"


def test_init_writes_only_comments_that_apply_and_flags_integer_codes(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 300
    table = pd.DataFrame(
        {
            "tier": rng.integers(0, 5, n),  # codes 0-4
            "age": rng.integers(18, 90, n),  # an amount: many values
            "plan": rng.choice(["a", "b", "c"], n),
            "segment": rng.choice(["x", "y", "z"], n),
        }
    )
    table.to_csv(tmp_path / "t.csv", index=False)
    code, out, err = init("--data", str(tmp_path / "t.csv"), "--target", "segment",
                          "--dry-run", capsys=capsys)  # fmt: skip
    assert code == 0, err
    for bank_only in ("duration", "subscriber", "UCI", "give it enough", "scale_pos_weight"):
        assert bank_only not in out, bank_only  # a multiclass table without those columns
    tier = next(line for line in out.splitlines() if line.strip().startswith("tier:"))
    assert "5 integer values (0-4)" in tier and "write category" in tier
    age = next(line for line in out.splitlines() if line.strip().startswith("age:"))
    assert "#" not in age
