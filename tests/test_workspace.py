from pathlib import Path

from reprotune.workspace import copy_pipeline

ROOT = Path(__file__).parents[1]


def test_copy_holds_the_pipeline_and_nothing_else(tmp_path):
    copy_pipeline(ROOT, tmp_path)
    assert (tmp_path / "dvc.yaml").read_text() == (ROOT / "dvc.yaml").read_text()
    assert (tmp_path / "stages/train.py").is_file()
    assert (tmp_path / ".dvc/plots/offline.html").is_file()
    assert not list(tmp_path.rglob("__pycache__"))
    for absent in ("data", "models", "metrics", "mlflow.db", "tests"):
        assert not (tmp_path / absent).exists()
