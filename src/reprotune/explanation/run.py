"""The explain stage's work on one saved model: what it writes, where, and in which order.

Tabular tasks: permutation importance -> partial dependence + ICE for the top columns -> SHAP
(beeswarm, mean |SHAP|) -> LIME for the most confident right and wrong test rows. Text tasks:
the heaviest n-grams per class (linear models) -> LIME word weights for the most confident right
and wrong test texts (every model). Each step is bounded by its sample sizes; the time budget
skips what would start after it, with a note."""

import numpy as np
import pandas as pd

from reprotune.explanation.budget import Budget
from reprotune.explanation.settings import ExplainParams
from reprotune.models.background import background_sample, seeded_rows

# LIME's examples (the most confident right and wrong predictions) are chosen among at most
# this many test rows (seeded): scoring every row of a 200k-row test split took longer than
# the explanation's whole budget (docs/benchmarks.md, 1M rows). Smaller splits are whole.
EXAMPLE_POOL = 5000


def feature_columns(model, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's raw feature columns only: what each column's importance is measured on."""
    return frame[list(model.features)].reset_index(drop=True)


class Explainer:
    """Explains one model into `folder` (charts, pages, explanation.json) and `plot_folder`
    (data for `dvc plots`); `summary` is what metrics/explain/<name>.json gets."""

    def __init__(self, model, name: str, settings: ExplainParams, seed: int, metric: str):
        self.model, self.name, self.settings = model, name, settings
        self.seed, self.metric = seed, metric
        self.budget = Budget(settings.time_budget_s)
        self.data: dict = {"candidate": name, "family": model.family}
        self.files: list = []

    def run(self, train: pd.DataFrame, test: pd.DataFrame, folder, plot_folder) -> dict:
        if self.model.typed_inputs:
            self._tabular(train, test, folder, plot_folder)
        else:
            self._text(test, folder, plot_folder)
        self.data["notes"] = self.budget.notes + self.data.get("notes", [])
        from reprotune.io import write_json

        write_json(folder / "explanation.json", self.data)
        self.files.append(folder / "explanation.json")
        return self.summary()

    # Tabular -----------------------------------------------------------------------------

    def _tabular(self, train, test, folder, plot_folder) -> None:
        from reprotune.explanation import render

        s, model = self.settings, self.model
        sample = seeded_rows(test, s.rows, self.seed)
        inputs, labels = feature_columns(model, sample), sample["label"].to_numpy()
        if self.budget.allows("permutation importance"):
            from reprotune.explanation.importance import permutation_importances, score_name

            importances = permutation_importances(
                model, inputs, labels, self.metric, s.repeats, self.seed
            )
            self.data["permutation_importance"] = {
                "score": score_name(self.metric),
                "rows": len(sample),
                "repeats": s.repeats,
                "columns": importances,
            }
            self._plot_rows(plot_folder / "permutation.json", importances, "mean")
            self.files.append(
                render.importance_chart(
                    folder / "permutation_importance.png",
                    importances,
                    f"{self.name}: permutation importance ({score_name(self.metric)}, test)",
                    s.top_k,
                )
            )
        self._dependence(inputs, folder)
        self._shap(train, sample, folder, plot_folder)
        self._tabular_examples(train, test, folder)

    def _dependence(self, inputs, folder) -> None:
        from reprotune.explanation import render
        from reprotune.explanation.dependence import partial_dependence_of

        ranked = list(self.data.get("permutation_importance", {}).get("columns", {}))
        curves = []
        for column in ranked[: self.settings.dependence_features]:
            if not self.budget.allows(f"partial dependence of {column}"):
                break
            curve = partial_dependence_of(
                self.model,
                inputs,
                column,
                self.settings.grid_points,
                self.settings.ice_rows,
                self.seed,
            )
            if curve:
                curves.append(curve)
        self.data["partial_dependence"] = curves
        if curves:
            self.files.append(
                render.dependence_chart(
                    folder / "partial_dependence.png",
                    curves,
                    f"{self.name}: partial dependence and ICE (test rows)",
                )
            )

    def _shap(self, train, sample, folder, plot_folder) -> None:
        from reprotune.explanation import render
        from reprotune.explanation.attribution import attributions

        if not self.budget.allows("SHAP"):
            return
        s = self.settings
        background = background_sample(train, self.model.features, s.background_rows, self.seed)
        rows = sample[list(self.model.features)].head(s.shap_rows)
        result = attributions(
            self.model, rows, background, s.shap_permutations, self.seed, self.budget
        )
        mean_abs = result.mean_abs()
        self.data["shap"] = {
            "method": result.method,
            "units": result.units,
            "rows": len(result.values),
            "explains": "P(positive)" if len(self.model.label_names) == 2 else "predicted class",
            "mean_abs": mean_abs,
            "notes": result.notes,
        }
        if not len(result.values):
            return
        self._plot_rows(plot_folder / "shap.json", mean_abs)
        self.files.append(
            render.beeswarm_chart(
                folder / "shap_beeswarm.png",
                result,
                s.top_k,
                self.seed,
                f"{self.name}: SHAP values ({len(result.values)} test rows)",
            )
        )
        self.files.append(
            render.bar_chart(
                folder / "shap_mean_abs.png",
                list(mean_abs.items())[: s.top_k],
                f"{self.name}: mean |SHAP| per column",
                f"mean |SHAP value| ({result.units})",
            )
        )

    def _tabular_examples(self, train, test, folder) -> None:
        from reprotune.explanation.local import lime_tabular, pick_examples
        from reprotune.explanation.table import CodedTable

        s, model = self.settings, self.model
        if not s.examples or not self.budget.allows("LIME examples"):
            return
        test = seeded_rows(test, EXAMPLE_POOL, self.seed)
        inputs = feature_columns(model, test)
        proba = model.predict_proba(inputs)
        training = background_sample(train, model.features, 1000, self.seed)
        table = CodedTable(model.features, training, inputs)
        examples = pick_examples(proba, test["label"].to_numpy(), model.threshold, s.examples)
        done = []
        for i, example in enumerate(examples):
            if self.budget.exhausted:
                self.budget.cut_short("LIME", i, len(examples), "examples")
                break
            row = inputs.iloc[[example["row"]]]
            explained = 1 if len(model.label_names) == 2 else example["predicted"]
            weights = lime_tabular(
                model, table, training, row, explained, s.lime_samples, s.top_k, self.seed
            )
            values = table.describe(table.encode(row)[0])
            done.append(
                {**example, "explained_class": explained, "values": values, "weights": weights}
            )
        self._examples_output(done, folder, "LIME: conditions on the row's columns")

    # Text --------------------------------------------------------------------------------

    def _text(self, test, folder, plot_folder) -> None:
        from reprotune.explanation import render

        s, model = self.settings, self.model
        ngrams = model.top_ngrams(s.top_k)
        if ngrams is not None:
            self.data["ngrams"] = ngrams
            rows = {f"{cls}: {gram}": w for cls, grams in ngrams.items() for gram, w in grams}
            self._plot_rows(plot_folder / "ngrams.json", rows)
            self.files.append(
                render.class_panels_chart(
                    folder / "ngrams.png", ngrams, f"{self.name}: heaviest n-grams per class"
                )
            )
        if s.examples and self.budget.allows("LIME examples"):
            self._text_examples(test, folder, plot_folder)

    def _text_examples(self, test, folder, plot_folder) -> None:
        from reprotune.explanation.local import lime_text, pick_examples

        s, model = self.settings, self.model
        test = seeded_rows(test, EXAMPLE_POOL, self.seed)
        texts = model.select_inputs(test)
        proba = model.predict_proba(texts)
        examples = pick_examples(proba, test["label"].to_numpy(), model.threshold, s.examples)
        done = []
        for i, example in enumerate(examples):
            if self.budget.exhausted:
                self.budget.cut_short("LIME", i, len(examples), "examples")
                break
            text = texts[example["row"]]
            explained = example["predicted"]
            weights = lime_text(model, text, explained, s.lime_samples, s.top_k, self.seed)
            done.append({**example, "explained_class": explained, "text": text, "weights": weights})
        self._examples_output(done, folder, "LIME: words that pushed toward the class")
        tokens = token_weights(done)
        self.data["tokens"] = tokens
        if tokens:
            self._plot_rows(plot_folder / "tokens.json", tokens)

    # Output ------------------------------------------------------------------------------

    def _examples_output(self, examples: list[dict], folder, intro: str) -> None:
        from reprotune.explanation import render

        self.data["examples"] = examples
        if not examples:
            return
        labels = self.model.label_names
        for example in examples:
            name = f"{example['kind']}_row{example['row']}"
            title = (
                f"{self.name}, test row {example['row']} ({example['kind']}): weights toward "
                f"{labels[example['explained_class']]}"
            )
            self.files.append(
                render.bar_chart(
                    folder / "examples" / f"{name}.png", example["weights"], title, "LIME weight"
                )
            )
        self.files.append(
            render.examples_page(
                folder / "examples" / "index.html",
                f"{self.name}: the most confident right and wrong test predictions",
                f"{intro} ({self.settings.lime_samples} perturbed samples each, seed {self.seed})",
                examples,
                labels,
            )
        )

    def _plot_rows(self, path, values: dict, key: str | None = None) -> None:
        """A `dvc plots` bar chart's data: [{feature, importance}], top_k, largest first."""
        from reprotune.io import write_json

        rows = [
            {"feature": feature, "importance": value[key] if key else value}
            for feature, value in list(values.items())[: self.settings.top_k]
        ]
        write_json(path, rows)

    def summary(self) -> dict:
        """Top features and their weights (flat numbers, so `dvc metrics diff` shows moves)."""
        d = self.data
        out: dict = {"candidate": self.name, "family": self.model.family}
        if "permutation_importance" in d:
            columns = d["permutation_importance"]["columns"]
            out["top_features"] = list(columns)[: self.settings.top_k]
            out["importance"] = {c: v["mean"] for c, v in columns.items()}
        if "shap" in d:
            out["shap_mean_abs"] = d["shap"]["mean_abs"]
        if "ngrams" in d:
            out["top_ngrams"] = {
                cls: [g for g, _ in grams[:5]] for cls, grams in d["ngrams"].items()
            }
        if d.get("tokens"):
            out["top_tokens"] = list(d["tokens"])[: self.settings.top_k]
        out["examples_explained"] = len(d.get("examples", []))
        out["notes"] = d["notes"]
        return out


def token_weights(examples: list[dict]) -> dict[str, float]:
    """Mean |LIME weight| of each word over the explained texts, largest first."""
    totals: dict[str, list[float]] = {}
    for example in examples:
        for word, weight in example["weights"]:
            totals.setdefault(word, []).append(abs(weight))
    means = {w: round(float(np.mean(v)), 6) for w, v in totals.items()}
    return dict(sorted(means.items(), key=lambda item: (-item[1], item[0])))
