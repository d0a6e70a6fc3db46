import os
import sys
from pathlib import Path

# Under pytest-xdist (`make test`) the workers share the cores: one thread each, for this
# process and every stage it starts (read by reprotune on import), or they thrash.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("REPROTUNE_NUM_THREADS", "1")

import tempfile

import pytest

# Caches the stages share across runs (token ids) stay out of the user's home.
os.environ.setdefault("REPROTUNE_CACHE_DIR", tempfile.mkdtemp(prefix="reprotune-cache-"))

sys.path.insert(0, str(Path(__file__).parent))

from corpus import ag_news_data_params, write_ag_news_csv

# The longest modules (each runs an example pipeline or trains real models once), longest
# first: xdist hands modules out in this order, so the long ones start early and the short
# ones fill the gaps (run with --no-loadscope-reorder).
LONGEST_FIRST = (
    "test_xgboost_spark.py",  # ~350 s: Spark training, then a whole pipeline on Spark
    "test_tabular_e2e.py",
    "test_pipeline_e2e.py",
    "test_small_scripts.py",
    "test_multimodal_e2e.py",
    "test_keras_multimodal.py",
    "test_queue_e2e.py",
    "test_scale_out.py",
    "test_tuning.py",
    "test_on_spark.py",
    "test_fuzz.py",
    "test_tracking_server.py",
)


def pytest_collection_modifyitems(items) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: modules stay whole


# Never reach the network from the tests, whatever the machine allows.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture
def ag_news_files(tmp_path: Path) -> tuple[Path, Path]:
    return (
        write_ag_news_csv(tmp_path / "src" / "train.csv", n_per_class=60, seed=1),
        write_ag_news_csv(tmp_path / "src" / "test.csv", n_per_class=30, seed=2),
    )


@pytest.fixture
def data_params(ag_news_files) -> dict:
    return ag_news_data_params(*ag_news_files)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch) -> Path:
    """Run the test from an empty project folder (with its own MLflow store)."""
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    return tmp_path


@pytest.fixture(autouse=True)
def _no_leaked_tracking_uri():
    """Stages set MLflow's process-wide tracking URI; no test may see another's."""
    import mlflow

    yield
    mlflow.set_tracking_uri(None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
