"""The baseline candidate next to a plain scikit-learn script of the same model.

    make pipeline AG_NEWS_DIR=../shared/data/ag_news     # the pipeline's numbers
    .venv/bin/python bench/baseline_reference.py --ag-news-dir ../shared/data/ag_news

The plain script draws the same stratified sample (train_size rows of train, test_size of test,
seed 42) straight from the original CSV files: no text cleaning, no validation hold-out.
"""

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

COLUMNS = ["label", "title", "description"]


def sample(path: Path, size: int, seed: int) -> pd.DataFrame:
    frame = pd.read_csv(path, header=None, names=COLUMNS)
    frame["text"] = frame["title"] + " " + frame["description"]
    kept, _ = train_test_split(frame, train_size=size, stratify=frame["label"], random_state=seed)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ag-news-dir", type=Path, required=True)
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--C", type=float, default=10.0)
    args = parser.parse_args()

    train = sample(args.ag_news_dir / "train.csv", args.train_size, args.seed)
    test = sample(args.ag_news_dir / "test.csv", args.test_size, args.seed)
    start = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(C=args.C, max_iter=1000)
    model.fit(vectorizer.fit_transform(train["text"]), train["label"])
    seconds = time.perf_counter() - start
    predicted = model.predict(vectorizer.transform(test["text"]))
    print(
        f"plain scikit-learn  accuracy {accuracy_score(test['label'], predicted):.4f}  "
        f"macro F1 {f1_score(test['label'], predicted, average='macro'):.4f}  "
        f"train {seconds:.2f}s"
    )
    pipeline_metrics = Path("metrics/evaluate/baseline.json")
    if pipeline_metrics.is_file():
        metrics = json.loads(pipeline_metrics.read_text())
        print(
            f"pipeline baseline   accuracy {metrics['accuracy']:.4f}  "
            f"macro F1 {metrics['macro_f1']:.4f}  "
            f"train {metrics['efficiency']['train_seconds']:.2f}s  (metrics/evaluate/baseline.json)"
        )


if __name__ == "__main__":
    main()
