"""Ensembles of trained candidates: soft voting and stacking.

The members are the candidates the train stage saved; the ensemble learns only how to combine
their class probabilities, from predictions the members made on rows they did not train on:
- `fit_on: val`: the validation split (a member that also trained on it, such as the TF-IDF
  baseline with `fit_on_val` or an MLP with `refit_on_val`, is cross-fitted: refit on train +
  the other validation folds);
- `fit_on: oof`: out-of-fold predictions over train + validation (every member refit
  `cv_folds` times: for families that train in seconds).
The saved ensemble bundles copies of its members, so it loads, predicts and serves as one
model, and its latency, size and parameter count are what it really runs.
"""

import hashlib
import os
import shutil
import time
from pathlib import Path

import joblib
import numpy as np

from reprotune.data.folds import concat_rows, fold_indices, take_rows
from reprotune.families.ensemble import EnsembleParams
from reprotune.models.base import Candidate
from reprotune.progress import Progress

COMBINER = "combiner.joblib"
MEMBERS_DIR = "members"
PROBABILITY_FLOOR = 1e-7  # log loss of fitted voting weights


class Ensemble(Candidate):
    family = "ensemble"

    def __init__(self, params, label_names, seed, features=None, members=None, sources=None):
        super().__init__(params, label_names, seed, features)
        self.members: dict[str, Candidate] = dict(members or {})
        self.sources: dict[str, Path] = dict(sources or {})  # where each member was saved
        self.combiner: dict = {}
        self.fit_seconds = 0.0
        self.group_column: str | None = None  # out-of-fold folds keep a group together
        # Each member's settings and code digest (the ensemble stage reads them from
        # configs/): out-of-fold predictions are cached under it.
        self.member_digests: dict[str, str] = {}

    @property
    def typed_inputs(self) -> bool:
        return any(member.typed_inputs for member in self.members.values())

    @property
    def gains_from_batches(self) -> bool:
        return any(member.gains_from_batches for member in self.members.values())

    def select_inputs(self, frame):
        return frame.reset_index(drop=True) if self.typed_inputs else super().select_inputs(frame)

    def _member_inputs(self, member: Candidate, inputs):
        return member.select_inputs(inputs) if self.typed_inputs else inputs

    def member_probas(self, inputs) -> list[np.ndarray]:
        return [m.predict_proba(self._member_inputs(m, inputs)) for m in self.members.values()]

    # -- fitting the combination -----------------------------------------------------------

    def fit(self, train_inputs, train_labels, val_inputs, val_labels, on_epoch=None) -> list[dict]:
        """Learn the combination from the members' held-out predictions (see the module)."""
        start = time.perf_counter()
        self.held_out = None
        if not self.needs_held_out:
            self.combiner = {"weights": [1 / len(self.members)] * len(self.members)}
            self.fit_seconds = time.perf_counter() - start
            return []
        probas, labels, raw = self.held_out_probas(
            train_inputs, np.asarray(train_labels), val_inputs, np.asarray(val_labels)
        )
        self.combiner = self.fit_combination(probas, labels, raw)
        self.held_out = (self.combine(probas, raw), labels)
        self.fit_seconds = time.perf_counter() - start
        return []

    @property
    def needs_held_out(self) -> bool:
        """Whether fitting needs the members' held-out predictions: equal-weight voting
        learns nothing from them, so on a multiclass task (no threshold to tune) no member is
        refit."""
        p = self.params
        return p.method == "stacking" or p.weights == "fitted" or len(self.label_names) == 2

    def held_out_probas(self, train_inputs, train_labels, val_inputs, val_labels):
        """Each member's probabilities on rows it did not train on, the rows' labels, and
        the rows themselves (for passthrough)."""
        if self.params.fit_on == "oof":
            rows = concat_rows(train_inputs, val_inputs)
            labels = np.concatenate([train_labels, val_labels])
            groups = rows[self.group_column] if self.group_column and self.typed_inputs else None
            folds = fold_indices(labels, self.params.cv_folds, self.seed, groups)
            total = len(folds) * len(self.members)
            with Progress("ensemble", total, "out-of-fold fits") as progress:
                probas = [
                    self.out_of_fold(m, rows, labels, folds, progress)
                    for m in self.members.values()
                ]
            return probas, labels, rows
        probas = []
        for member in self.members.values():
            if member.trains_on_validation:
                probas.append(
                    self.cross_fitted(member, train_inputs, train_labels, val_inputs, val_labels)
                )
            else:
                probas.append(member.predict_proba(self._member_inputs(member, val_inputs)))
        return probas, val_labels, val_inputs

    def out_of_fold(self, member, rows, labels, folds, progress=None) -> np.ndarray:
        """Each row predicted by a copy of `member` fitted without that row's fold; kept in
        the user's cache by the member's digest, the rows and the folds, so changing one
        member (or the combiner) does not refit the others."""
        key = self._oof_key(member, rows, labels, folds)
        cached = oof_cache_dir() / f"{key}.npy" if key else None
        if cached is not None and cached.is_file():
            if progress is not None:
                progress.advance(len(folds), detail=f"{member.params.family}: cached")
            return np.load(cached)
        proba = self._fit_out_of_fold(member, rows, labels, folds, progress)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.partial.npy")
            np.save(partial, proba)
            partial.replace(cached)
        return proba

    def _oof_key(self, member, rows, labels, folds) -> str | None:
        """What a member's out-of-fold predictions depend on: its settings and code (the
        digest the stage gives), the rows, their labels and the folds; None without a digest."""
        import pandas as pd

        name = next((n for n, m in self.members.items() if m is member), None)
        digest = self.member_digests.get(name)
        if digest is None:
            return None
        settings = member.params.model_dump_json()
        key = hashlib.sha256(f"{digest}:{settings}:{member.seed}:{self.label_names}".encode())
        frame = rows if isinstance(rows, pd.DataFrame) else pd.Series(list(rows))
        key.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        key.update(np.asarray(labels).tobytes())
        for _, held_rows in folds:
            key.update(np.asarray(held_rows).tobytes() + b"|")
        return key.hexdigest()[:40]

    def _fit_out_of_fold(self, member, rows, labels, folds, progress=None) -> np.ndarray:
        proba = np.zeros((len(labels), len(self.label_names)))
        for number, (fit_rows, held_rows) in enumerate(folds, start=1):
            if progress is not None:
                progress.note(f"{member.params.family} fold {number}/{len(folds)}")
            copy = self._refit(member, take_rows(rows, fit_rows), labels[fit_rows])
            proba[held_rows] = copy.predict_proba(
                self._member_inputs(copy, take_rows(rows, held_rows))
            )
            if progress is not None:
                progress.advance()
        return proba

    def cross_fitted(self, member, train_inputs, train_labels, val_inputs, val_labels):
        """Validation predictions of a member that trains on validation rows too: each fold
        predicted by a copy fitted on train + the other validation folds."""
        folds = fold_indices(val_labels, self.params.cv_folds, self.seed)
        proba = np.zeros((len(val_labels), len(self.label_names)))
        for fit_rows, held_rows in folds:
            rows = concat_rows(train_inputs, take_rows(val_inputs, fit_rows))
            labels = np.concatenate([train_labels, val_labels[fit_rows]])
            copy = self._refit(member, rows, labels)
            held = take_rows(val_inputs, held_rows)
            proba[held_rows] = copy.predict_proba(self._member_inputs(copy, held))
        return proba

    def _refit(self, member: Candidate, rows, labels: np.ndarray) -> Candidate:
        """A fresh copy of `member` (same family, params, seed) fitted on `rows` only."""
        from reprotune import models

        inputs = self._member_inputs(member, rows)
        return models.fit_on_rows(
            member.params, member.label_names, member.seed, member.features, inputs, labels
        )

    def fit_combination(self, probas: list[np.ndarray], labels: np.ndarray, raw) -> dict:
        """The combiner (voting weights, or the stacking meta-model) for the members' held-out
        probabilities `probas` (one array per member, in member order) of rows `raw`."""
        if self.params.method == "voting":
            weights = (
                fitted_weights(probas, labels)
                if self.params.weights == "fitted"
                else np.full(len(probas), 1 / len(probas))
            )
            return {"weights": [float(w) for w in weights]}
        from sklearn.linear_model import LogisticRegression

        encoder = self._passthrough_encoder(raw)
        meta = LogisticRegression(C=self.params.C, max_iter=2000, random_state=self.seed)
        meta.fit(self._meta_features(probas, raw, encoder), labels)
        return {"meta": meta, "passthrough": encoder}

    def _passthrough_encoder(self, raw):
        if not (self.params.passthrough and self.features):
            return None
        from reprotune.models.tabular import preprocessor, tabular_inputs

        encoder = preprocessor(self.features)
        encoder.fit(tabular_inputs(raw, self.features))
        return encoder

    def _meta_features(self, probas: list[np.ndarray], raw, encoder) -> np.ndarray:
        # Probabilities, as scikit-learn's StackingClassifier passes them (log-probabilities
        # of confident members reach -16 and let a small meta-training set overfit); the
        # binary case keeps P(positive) only: the two columns are collinear.
        features = np.hstack([p[:, 1:] if p.shape[1] == 2 else p for p in probas])
        if encoder is None:
            return features
        from reprotune.models.tabular import tabular_inputs

        encoded = encoder.transform(tabular_inputs(raw, self.features))
        encoded = encoded.toarray() if hasattr(encoded, "toarray") else np.asarray(encoded)
        return np.hstack([features, encoded])

    def combine(self, probas: list[np.ndarray], raw) -> np.ndarray:
        """The ensemble's class probabilities from its members' (one array per member)."""
        if "weights" in self.combiner:
            mixed = np.tensordot(np.asarray(self.combiner["weights"]), np.stack(probas), axes=1)
            return mixed / mixed.sum(axis=1, keepdims=True)
        meta = self.combiner["meta"]
        features = self._meta_features(probas, raw, self.combiner["passthrough"])
        proba = np.zeros((len(features), len(self.label_names)))
        proba[:, meta.classes_] = meta.predict_proba(features)
        return proba

    # -- the Candidate interface -------------------------------------------------------------

    def predict_proba(self, inputs) -> np.ndarray:
        return self.combine(self.member_probas(inputs), inputs)

    def n_parameters(self) -> int:
        meta = self.combiner.get("meta")
        own = int(meta.coef_.size + meta.intercept_.size) if meta is not None else 0
        return sum(m.n_parameters() for m in self.members.values()) + own

    def combination(self) -> dict:
        """How the members' probabilities are combined, for the console and the metrics."""
        if "weights" in self.combiner:
            weights = [round(w, 4) for w in self.combiner["weights"]]
            return {"weights": dict(zip(self.members, weights, strict=True))}
        return {"meta_model": "logistic_regression"}

    def cost_summary(self, cards: dict[str, dict], n_train: int, n_val: int) -> dict:
        """What the ensemble costs to make: its members' training plus its own fitting."""
        member_seconds = {name: card["train"]["train_seconds"] for name, card in cards.items()}
        return {
            "train_seconds": round(sum(member_seconds.values()) + self.fit_seconds, 3),
            "combine_seconds": round(self.fit_seconds, 3),
            "member_train_seconds": member_seconds,
            "n_parameters": self.n_parameters(),
            "n_train": n_train,
            "n_val": n_val,
            "n_members": len(self.members),
            **self.combination(),
            **({"threshold": self.threshold} if self.decision else {}),
        }

    def member_summary(self) -> dict:
        return {name: member.family for name, member in self.members.items()}

    def save_weights(self, folder: Path) -> None:
        for name, source in self.sources.items():
            shutil.copytree(source, Path(folder) / MEMBERS_DIR / name)
        joblib.dump(self.combiner, Path(folder) / COMBINER)

    @classmethod
    def load_weights(cls, folder: Path, card: dict) -> "Ensemble":
        from reprotune import models

        members = {
            name: models.load(Path(folder) / MEMBERS_DIR / name)[0] for name in card["members"]
        }
        params = EnsembleParams(**card["params"])
        model = cls(params, card["label_names"], card["seed"], card.get("features"), members)
        model.combiner = joblib.load(Path(folder) / COMBINER)
        return model


def fitted_weights(probas: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 that minimize the log loss of the weighted average
    (softmax-parametrized, so the optimizer needs no constraints; deterministic)."""
    from scipy.optimize import minimize

    stacked = np.stack(probas)  # members x rows x classes
    rows = np.arange(len(labels))

    def loss(logits: np.ndarray) -> float:
        weights = np.exp(logits - logits.max())
        weights /= weights.sum()
        mixed = np.tensordot(weights, stacked, axes=1)[rows, labels]
        return float(-np.mean(np.log(np.clip(mixed, PROBABILITY_FLOOR, 1))))

    result = minimize(loss, np.zeros(len(probas)), method="Nelder-Mead", options={"xatol": 1e-4})
    weights = np.exp(result.x - result.x.max())
    return weights / weights.sum()


def oof_cache_dir() -> Path:
    """~/.cache/reprotune/oof, or under REPROTUNE_CACHE_DIR: shared by every run and queued
    experiment of this user."""
    root = os.environ.get("REPROTUNE_CACHE_DIR") or Path.home() / ".cache" / "reprotune"
    return Path(root) / "oof"


def load_members(names: list[str], label_names: list[str], models_dir: Path | None = None):
    """The trained members and their cards; stops when one is missing or was trained on
    other classes than the task's."""
    from reprotune import models, paths
    from reprotune.errors import DataError

    members, cards = {}, {}
    for name in names:
        folder = (models_dir or paths.MODELS_DIR) / name
        if not (folder / models.base.CARD).is_file():
            raise DataError(f"{folder} holds no trained model; fix: run `dvc repro train@{name}`")
        members[name], cards[name] = models.load(folder)
        if cards[name]["label_names"] != label_names:
            raise DataError(
                f"member {name!r} predicts {cards[name]['label_names']}, but the task's "
                f"classes are {label_names}; fix: re-train it on this data "
                f"(`dvc repro train@{name}`)"
            )
    return members, cards


def check_fold_counts(settings: EnsembleParams, name: str, train_labels, val_labels, members):
    """Stop before any refit when a class cannot fill `cv_folds` folds."""
    from reprotune.data.folds import check_fold_count

    key = f"ensemble.candidates.{name}.cv_folds"
    if settings.fit_on == "oof":
        check_fold_count(np.concatenate([train_labels, val_labels]), settings.cv_folds, key)
    elif any(member.trains_on_validation for member in members.values()):
        check_fold_count(np.asarray(val_labels), settings.cv_folds, key)


MODEL = Ensemble
