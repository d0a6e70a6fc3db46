"""Explanations of trained candidates: permutation importance, partial dependence with ICE,
SHAP and LIME for tabular models; heaviest n-grams and LIME word weights for text models; and
one record's attributions for the model service's /explain.

Imports stay inside functions: the explain stage loads only what the explained model needs."""

from pathlib import Path

from reprotune import models, paths
from reprotune.io import staged_dir, write_json
from reprotune.stage import say


def explain_candidate(name: str, model_folder: Path, params) -> dict:
    """Write explanations/<name>/, plots/explain/<name>/ and metrics/explain/<name>.json for
    the model saved in `model_folder`, and log them to an MLflow `explain` run."""
    from reprotune.data.prepare import driver_rows
    from reprotune.explanation.run import Explainer
    from reprotune.tracking import stage_run

    settings = params.explain
    metrics_file = paths.stage_metrics("explain", name)
    if name in settings.skip:
        with (
            staged_dir(paths.explanation_dir(name)),
            staged_dir(paths.stage_plots("explain", name)),
        ):
            pass
        summary = {"candidate": name, "skipped": True, "notes": ["listed in explain.skip"]}
        write_json(metrics_file, summary)
        say(f"{name}: skipped (explain.skip)")
        return summary
    model, card = models.load(model_folder)
    tags = {"reprotune.family": card["family"]}
    with stage_run("explain", params.tracking, name, tags=tags) as run:
        engine = params.data.engine  # spark: seeded samples (explain reads a few hundred rows)
        train, test = (driver_rows(split, engine, params.seed) for split in ("train", "test"))
        explainer = Explainer(model, name, settings, params.seed, params.compare.metric)
        with (
            staged_dir(paths.explanation_dir(name)) as folder,
            staged_dir(paths.stage_plots("explain", name)) as plot_folder,
        ):
            summary = explainer.run(train, test, folder, plot_folder)
            written = [f.relative_to(folder) for f in explainer.files]
        summary["seconds"] = round(explainer.budget.elapsed, 2)
        write_json(metrics_file, summary)
        run.log_params(settings.model_dump(mode="json"))
        run.log_metrics({"seconds": summary["seconds"]})
        final = paths.explanation_dir(name)
        for relative in written:
            parent = Path("explain") / relative.parent
            run.log_artifacts([final / relative], str(parent))
        run.log_artifacts([metrics_file], "explain")
    say(f"{name}: {headline(summary)}")
    for note in summary["notes"]:
        say(f"note: {note}")
    return summary


def read_summary(name: str, root: Path = Path()) -> dict | None:
    """metrics/explain/<name>.json, or None before the explain stage has run."""
    from reprotune.io import read_json

    path = Path(root) / paths.stage_metrics("explain", name)
    return read_json(path) if path.is_file() else None


def top_features_markdown(name: str, summary: dict | None, shown: int = 5) -> str:
    """One markdown line: what weighs most in `name`'s predictions."""
    if not summary or summary.get("skipped"):
        return ""
    if summary.get("top_features"):
        importance = summary.get("importance", {})
        listed = ", ".join(
            f"`{c}` ({importance[c]:+.3g})" if c in importance else f"`{c}`"
            for c in summary["top_features"][:shown]
        )
        return f"**{name}'s top features** (permutation importance, test): {listed}"
    if summary.get("top_ngrams"):
        per_class = "; ".join(
            f"{cls}: " + ", ".join(f"`{g}`" for g in grams[:shown])
            for cls, grams in summary["top_ngrams"].items()
        )
        return f"**{name}'s top n-grams** per class: {per_class}"
    if summary.get("top_tokens"):
        listed = ", ".join(f"`{t}`" for t in summary["top_tokens"][:shown])
        return f"**{name}'s top words** (LIME, explained test texts): {listed}"
    return ""


def headline(summary: dict) -> str:
    if summary.get("top_features"):
        return "top features " + ", ".join(summary["top_features"][:5])
    if summary.get("top_ngrams"):
        first = next(iter(summary["top_ngrams"].items()))
        return f"top n-grams for {first[0]}: " + ", ".join(first[1])
    if summary.get("top_tokens"):
        return "top words " + ", ".join(summary["top_tokens"][:5])
    return "nothing explained (see notes)"
