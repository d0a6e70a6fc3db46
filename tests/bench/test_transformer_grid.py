"""bench/transformer_grid.py end to end on generated AG-News-layout files and a tiny BERT."""

import sys
from pathlib import Path

import pandas as pd
import pytest
from commands import run
from corpus import LABEL_NAMES, ag_news_data_params, write_ag_news_csv
from tiny_bert import build_tiny_bert

from reprotune.data.prepare import prepare, write_splits
from reprotune.data.settings import DataParams, PreprocessParams

pytestmark = pytest.mark.e2e  # a real server, pipeline or browser: `make test-e2e`

SCRIPT = Path(__file__).parents[2] / "bench" / "transformer_grid.py"
COLUMNS = ["label", "title", "description"]
# The script's dev set takes 250 unused training-file rows per class.
TRAIN_ROWS_PER_CLASS = 310


@pytest.fixture(scope="module")
def ag_news_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ag_news")
    write_ag_news_csv(folder / "train.csv", n_per_class=TRAIN_ROWS_PER_CLASS, seed=1)
    write_ag_news_csv(folder / "test.csv", n_per_class=15, seed=2)
    return folder


def write_split(ag_news_dir: Path, out: Path, clean_text: bool) -> Path:
    """What the preprocess stage writes for these files: 160 train + 40 val rows, 40 test rows."""
    data = DataParams(
        **ag_news_data_params(
            ag_news_dir / "train.csv", ag_news_dir / "test.csv", train_size=200, test_size=40
        )
    )
    frames = {
        split: pd.read_csv(ag_news_dir / f"{split}.csv", header=None, names=COLUMNS)
        for split in ("train", "test")
    }
    splits = prepare(frames, {}, data, PreprocessParams(clean_text=clean_text), seed=42)
    write_splits(splits, out)
    return out


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, ag_news_dir) -> Path:
    texts = pd.read_csv(ag_news_dir / "train.csv", header=None, names=COLUMNS)
    corpus = (texts["title"] + " " + texts["description"]).tolist()
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), corpus)


def table_rows(stdout: str) -> list[list[str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def run_script(processed: Path, checkpoint: Path, *extra: str, check: bool = True):
    command = [sys.executable, str(SCRIPT), "--processed-dir", str(processed)]
    return run(
        [*command, "--checkpoint", str(checkpoint), *extra],
        cwd=processed,
        check=check,
        env={"REPROTUNE_NUM_THREADS": "1"},
    )


def run_grid(processed: Path, checkpoint: Path, *extra: str) -> list[list[str]]:
    settings = ["--lr", "3e-3", "--epochs", "6", "--batch-size", "8", "--seed", "1", "2"]
    done = run_script(processed, checkpoint, *settings, *extra)
    return table_rows(done.stdout)


@pytest.mark.parametrize("clean_text", [True, False])
def test_grid_scores_each_seed_the_larger_sets_and_the_ensemble(
    tmp_path, ag_news_dir, checkpoint, clean_text
):
    processed = write_split(ag_news_dir, tmp_path / "processed", clean_text)
    flag = "--clean-text" if clean_text else "--no-clean-text"
    header, _, *models, ensemble = run_grid(
        processed, checkpoint, "--ag-news-dir", str(ag_news_dir), "--ensemble", flag
    )

    assert header[-2:] == ["dev accuracy (1000)", "test all accuracy (60)"]
    assert [row[header.index("seed")] for row in models] == ["1", "2"]
    assert ensemble[0] == "ensemble of the 2 models above"
    assert len(ensemble) == len(header)
    for row in [*models, ensemble]:
        test_accuracy = float(row[header.index("test accuracy")])
        dev, test_all = (float(cell) for cell in row[-2:])
        # The generated topics are easy: well above chance (0.25) on every held-out set.
        assert min(test_accuracy, dev, test_all) > 0.6, row


def test_dev_rows_are_neither_train_nor_val(tmp_path, ag_news_dir):
    import importlib.util

    spec = importlib.util.spec_from_file_location("transformer_grid", SCRIPT)
    grid = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grid)
    processed = write_split(ag_news_dir, tmp_path / "processed", clean_text=True)
    splits = {s: pd.read_parquet(processed / f"{s}.parquet") for s in ("train", "val", "test")}

    extra = grid.larger_holdouts(ag_news_dir, splits, PreprocessParams())

    seen = set(splits["train"]["text"]) | set(splits["val"]["text"])
    assert not seen & set(extra["dev"]["text"])
    assert extra["dev"]["label"].value_counts().to_dict() == {c: 250 for c in range(4)}
    assert len(extra["test all"]) == 60
    assert set(splits["test"]["text"]) <= set(extra["test all"]["text"])
    assert grid.load_label_names(processed) == LABEL_NAMES


def test_too_small_a_training_file_for_the_dev_set_stops_with_a_fix(tmp_path, checkpoint):
    small = tmp_path / "ag_news"
    write_ag_news_csv(small / "train.csv", n_per_class=260, seed=1)
    write_ag_news_csv(small / "test.csv", n_per_class=15, seed=2)
    processed = write_split(small, tmp_path / "processed", clean_text=True)

    done = run_script(processed, checkpoint, "--ag-news-dir", str(small), check=False)

    assert done.returncode != 0
    assert "needs 250 rows per class outside train and val" in done.stderr
    assert "has 210 for class" in done.stderr


def test_a_split_read_with_the_other_cleaning_stops_with_a_fix(tmp_path, ag_news_dir, checkpoint):
    raw_split = write_split(ag_news_dir, tmp_path / "processed", clean_text=False)

    done = run_script(raw_split, checkpoint, "--ag-news-dir", str(ag_news_dir), check=False)

    assert done.returncode != 0
    assert "train and val rows are missing" in done.stderr
    assert "pass --no-clean-text" in done.stderr
