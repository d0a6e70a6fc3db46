"""A small generated AG-News-like corpus: four topics, each with its own vocabulary."""

import csv
import random
from pathlib import Path

import numpy as np

LABEL_NAMES = ["World", "Sports", "Business", "Sci/Tech"]
TOPIC_WORDS = {
    1: [
        "minister",
        "election",
        "parliament",
        "treaty",
        "embassy",
        "ceasefire",
        "president",
        "border",
    ],
    2: ["match", "goal", "season", "coach", "striker", "tournament", "championship", "playoff"],
    3: ["shares", "profit", "earnings", "market", "investor", "quarter", "stocks", "merger"],
    4: [
        "software",
        "internet",
        "computer",
        "research",
        "processor",
        "browser",
        "satellite",
        "chip",
    ],
}
FILLER = [
    "the",
    "a",
    "of",
    "to",
    "in",
    "on",
    "for",
    "with",
    "by",
    "at",
    "from",
    "said",
    "today",
    "new",
    "week",
    "report",
]


def make_rows(n_per_class: int, seed: int) -> list[tuple[int, str, str]]:
    rng = random.Random(seed)
    rows = []
    for label, words in TOPIC_WORDS.items():
        for _ in range(n_per_class):
            title = " ".join(rng.choice(words + FILLER) for _ in range(5)).capitalize()
            body = " ".join(
                rng.choice(words) if rng.random() < 0.35 else rng.choice(FILLER)
                for _ in range(rng.randint(12, 24))
            )
            # AG News artefacts the preprocess stage must clean.
            body = f"{body} #36;{rng.randint(1, 99)} quot;quoted quot; back\\\\slash"
            rows.append((label, title, body))
    rng.shuffle(rows)
    return rows


def write_ag_news_csv(path: Path, n_per_class: int, seed: int) -> Path:
    """Headerless, fully quoted, class index 1-4: the original AG News layout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL).writerows(make_rows(n_per_class, seed))
    return path


def ag_news_data_params(train: Path, test: Path, **overrides) -> dict:
    data = {
        "source": "csv",
        "files": {"train": str(train), "test": str(test)},
        "csv": {"header": False, "columns": ["label", "title", "description"]},
        "text_columns": ["title", "description"],
        "label_column": "label",
        "label_names": LABEL_NAMES,
        "label_base": 1,
        "train_size": 160,
        "test_size": 80,
        "val_fraction": 0.2,
    }
    data.update(overrides)
    return data


def texts_and_labels(n_per_class: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Model inputs: title + body, and label ids 0-3."""
    rows = make_rows(n_per_class, seed)
    return [f"{title} {body}" for _, title, body in rows], np.array([r[0] - 1 for r in rows])
