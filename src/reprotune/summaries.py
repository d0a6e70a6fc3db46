"""The console line each stage says about what it did (see reprotune.stage.say)."""


def fetched(manifest: dict) -> str:
    """`120 train, 40 test rows from fancyzhx/ag_news@a1b2c3d`"""
    rows = ", ".join(f"{n} {split}" for split, n in manifest["rows"].items())
    origin = manifest["name"] or manifest["source"]
    if manifest["revision"]:
        origin += f"@{manifest['revision'][:7]}"
    return f"{rows} rows from {origin}"


def split(summary: dict) -> str:
    """`96 train, 24 val, 40 test rows; 4 classes; features: text 1`"""
    rows = ", ".join(f"{summary[s]['rows']} {s}" for s in ("train", "val", "test") if s in summary)
    classes = len(summary["train"]["classes"])
    kinds = {k: n for k, n in summary["features"].items() if k != "inferred"}
    features = ", ".join(f"{kind} {n}" for kind, n in kinds.items())
    return f"{rows} rows; {classes} classes; features: {features}"


def configured(configs: dict[str, dict]) -> str:
    """`2 candidates: baseline (tfidf_logreg), mlp (keras_mlp)`"""
    families = ", ".join(f"{name} ({c['params']['family']})" for name, c in configs.items())
    return f"{len(configs)} candidate{'s' if len(configs) != 1 else ''}: {families}"


def tuned(candidate: str, result: dict, n_trials: int, ran: int) -> str:
    """`logreg_tuned: best cv_mean_macro_f1 0.8543 (mean of 5-fold cross-validation) at trial
    17 of 20 (20 run here): C=34.51, ...`"""
    found = ", ".join(
        f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in result["params"].items()
    )
    return (
        f"{candidate}: best {result['metric']} {result['best_value']:.4f}"
        + (f" ({result['scored_on']})" if result.get("scored_on") else "")
        + " at trial "
        f"{result['best_trial']} of {n_trials} ({ran} run here): {found}"
    )


def trained(candidate: str, model, summary: dict, history: list[dict], metric: str) -> str:
    """`mlp (keras_mlp): 96 rows, 3 epochs (best 2), fit in 1.20s; val macro_f1 0.9167`"""
    line = f"{candidate} ({model.params.family}): {summary['n_train']} rows"
    if summary["epochs_run"] > 1:
        line += f", {summary['epochs_run']} {model.passes_name} (best {summary['best_epoch']})"
    line += f", fit in {summary['train_seconds']:.2f}s"
    best = next((row for row in history if row.get("epoch") == summary["best_epoch"]), {})
    if f"val_{metric}" in best:
        line += f"; val {metric} {best[f'val_{metric}']:.4f}"
    return line
