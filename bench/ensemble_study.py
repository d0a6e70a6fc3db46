"""Which combination of trained candidates pays: voting and stacking variants, side by side.

    .venv/bin/python bench/pipeline_benchmark.py ... --keep /tmp/project   # members trained
    .venv/bin/python bench/ensemble_study.py --project /tmp/project \\
        --members baseline mlp transformer

On a pipeline project whose members are trained (models/<name>/), it makes each member's
held-out validation predictions once (cross-fitted for members that trained on validation, as
the ensemble stage does) and its test predictions once, then fits and scores every combination
below through the ensemble family's own code, and prints test accuracy and macro F1 beside the
best single member.
"""

import argparse
import os
from itertools import combinations
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from reprotune.families.ensemble import EnsembleParams
from reprotune.families.ensemble.model import Ensemble, load_members
from reprotune.models.base import fit_inputs

SETTINGS = {
    "voting, equal weights": {"method": "voting"},
    "voting, weights fitted on validation (the default)": {"method": "voting", "weights": "fitted"},
    "stacking, C 0.1": {"method": "stacking", "C": 0.1},
    "stacking, C 1": {"method": "stacking"},
    "stacking, C 10": {"method": "stacking", "C": 10.0},
}


def scores(labels: np.ndarray, proba: np.ndarray) -> str:
    predicted = proba.argmax(axis=1)
    accuracy = accuracy_score(labels, predicted)
    return f"{accuracy:.4f} | {f1_score(labels, predicted, average='macro'):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--members", nargs="+", required=True)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    os.chdir(args.project)
    from reprotune.data.prepare import load_label_names, load_split

    names = load_label_names()
    members, _ = load_members(args.members, names)
    train, val, test = (load_split(s) for s in ("train", "val", "test"))
    probe = Ensemble(EnsembleParams(members=args.members), names, args.seed, None, members)
    held_out, val_labels, _ = probe.held_out_probas(*fit_inputs(probe, train, val))
    tested = probe.member_probas(probe.select_inputs(test))
    labels = test["label"].to_numpy()
    print("| combination (members) | test accuracy | test macro F1 |\n| --- | --- | --- |")
    for name, proba in zip(args.members, tested, strict=True):
        print(f"| {name} alone | {scores(labels, proba)} |")
    for size in range(2, len(args.members) + 1):
        for subset in combinations(range(len(args.members)), size):
            chosen = [args.members[i] for i in subset]
            for label, settings in SETTINGS.items():
                params = EnsembleParams(members=chosen, **settings)
                ensemble = Ensemble(params, names, args.seed, None, {m: members[m] for m in chosen})
                ensemble.combiner = ensemble.fit_combination(
                    [held_out[i] for i in subset], val_labels, None
                )
                proba = ensemble.combine([tested[i] for i in subset], None)
                print(f"| {label} ({' + '.join(chosen)}) | {scores(labels, proba)} |")


if __name__ == "__main__":
    main()
