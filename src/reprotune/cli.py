"""`reprotune`: project commands beside `dvc` (which runs the pipeline itself)."""

import argparse
import os
import signal
import sys
from pathlib import Path

from reprotune.config import RANKABLE_METRICS, load_params
from reprotune.errors import ReprotuneError
from reprotune.io import write_json
from reprotune.paths import PARAMS_FILE, project_root


def _default_experiment() -> str:
    params_file = project_root() / PARAMS_FILE
    return load_params(params_file).tracking.experiment if params_file.is_file() else "reprotune"


CONTRACT_MODES = ["count", "enforce", "off"]  # predict and serve check rows the same ways


def _default_model() -> str:
    params_file = project_root() / PARAMS_FILE
    name = load_params(params_file).compare.registered_model
    return f"models:/{name}@champion"


def _model_source(args: argparse.Namespace):
    """(--model as given or the champion, its ModelRef, the tracking store)."""
    from reprotune.service.model import ModelRef
    from reprotune.tracking import tracking_uri

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    model = args.model or _default_model()
    ref = ModelRef.parse(model if model.startswith("models:/") else str(Path(model).resolve()))
    return model, ref, args.tracking_uri or tracking_uri(project_root())


def cmd_predict(args: argparse.Namespace) -> int:
    import tempfile

    from reprotune.scoring import score_table
    from reprotune.service.model import load

    model, ref, store = _model_source(args)
    with tempfile.TemporaryDirectory(prefix="reprotune-predict-") as downloads:
        served = load(ref, store, Path(downloads))
        if args.engine == "spark":
            return _predict_on_spark(args, served, ref, store, Path(downloads))
        report = score_table(
            served,
            args.data,
            Path(args.out),
            keep=args.keep,
            on_error=args.on_error,
            rejects=Path(args.rejects) if args.rejects else None,
            chunk_rows=args.chunk_rows,
            progress=not args.quiet and sys.stderr.isatty(),
            contract=args.contract,
        )
    rate = report.rows / report.seconds if report.seconds else 0.0
    print(
        f"scored {report.scored:,} of {report.rows:,} rows with {model} (version "
        f"{served.version}) in {report.seconds:.1f} s ({rate:,.0f} rows/s) -> {report.out}",
        file=sys.stderr,
    )
    if report.rejected:
        print(
            f"{report.rejected:,} row(s) with values the model cannot take -> {report.rejects}",
            file=sys.stderr,
        )
    _report_contract(report.contract, args.contract)
    _report_drift(report.drift, args.drift)
    return 0


def _report_contract(found: list[dict] | None, mode: str) -> None:
    if mode == "off":
        return
    if found is None:
        print("contract: not checked (the model predates data contracts)", file=sys.stderr)
    elif not found:
        print("contract: every row meets the model's data contract", file=sys.stderr)
    else:
        from reprotune.data.contract import render

        print(
            f"contract: {len(found)} check(s) failed (the rows were scored; --contract enforce "
            f"stops instead):\n{render(found)}",
            file=sys.stderr,
        )


def _report_drift(report: dict | None, out: str | None) -> None:
    from reprotune.drift import summary_line

    if report is None:
        print("drift: not measured (the model predates reference profiles)", file=sys.stderr)
        return
    print(summary_line(report), file=sys.stderr)
    if out:
        write_json(Path(out), report)


def cmd_drift(args: argparse.Namespace) -> int:
    import tempfile

    from reprotune.drift import markdown
    from reprotune.errors import DataError
    from reprotune.scoring import table_drift
    from reprotune.service.model import load

    model, ref, store = _model_source(args)
    with tempfile.TemporaryDirectory(prefix="reprotune-drift-") as downloads:
        served = load(ref, store, Path(downloads))
    if served.profile is None:
        raise DataError(
            f"--model {model}: saved before models carried a reference profile; fix: retrain "
            "it (dvc repro), or pass a newer model"
        )
    report = table_drift(served.profile, args.data, args.share)
    report["model"], report["data"] = model, args.data
    if args.out:
        write_json(Path(args.out), report)
    print(markdown(report))
    return 1 if report["dataset_drift"] and args.fail_on_drift else 0


def _predict_on_spark(args, served, ref, store: str, scratch: Path) -> int:
    import time

    from reprotune.scoring import score_on_spark

    os.environ["MLFLOW_TRACKING_URI"] = store  # spark_udf resolves models:/ through it
    uri = ref.uri
    if not ref.in_registry:  # a candidate folder: its MLflow model folder, built here
        from reprotune.serving import build_model_dir

        uri = str(build_model_dir(Path(ref.uri), scratch / "mlflow-model"))
    start = time.perf_counter()
    rows = score_on_spark(
        served, uri, args.data, args.out, keep=args.keep, master=args.spark_master
    )
    print(
        f"scored {rows:,} rows with {ref.uri} (version {served.version}) on Spark in "
        f"{time.perf_counter() - start:.1f} s -> {args.out}/",
        file=sys.stderr,
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from reprotune.service.settings import SETTINGS_ENV, ServiceSettings
    from reprotune.tracking import tracking_uri

    model = args.model or _default_model()
    if not model.startswith("models:/"):
        model = str(Path(model).resolve())
    settings = ServiceSettings(
        model=model,
        tracking_uri=args.tracking_uri or tracking_uri(project_root()),
        max_batch=args.max_batch,
        max_body_bytes=args.max_body_bytes,
        max_text_chars=args.max_text_chars,
        api_key_env=args.api_key_env,
        cors_origins=args.cors_origin,
        poll_s=args.poll_seconds,
        batch_wait_ms=args.batch_wait_ms,
        explain_samples=args.explain_samples,
        explain_permutations=args.explain_permutations,
        contract=args.contract,
        drift_window=args.drift_window,
    )
    os.environ[SETTINGS_ENV] = settings.to_env()
    os.environ["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    print(f"serving {model} on http://{args.host}:{args.port} (docs: /docs)", file=sys.stderr)
    # uvicorn drains in-flight requests on SIGTERM, then raises the signal again for the
    # handler it found: a drained stop is a clean exit (0), not a death by signal.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    uvicorn.run(
        "reprotune.service.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=args.graceful_seconds,
    )
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from mlflow.tracking import MlflowClient

    from reprotune.tracking import tracking_uri, ui_url

    uri = args.tracking_uri or tracking_uri(project_root())
    experiment = args.experiment or _default_experiment()
    found = MlflowClient(uri).get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else None
    if uri.startswith(("http://", "https://")):  # a tracking server serves its own UI
        print(ui_url(uri, experiment_id))
        return 0
    url = ui_url(f"http://{args.host}:{args.port}", experiment_id)
    print(f"MLflow UI of {experiment!r} in {uri}: {url}", file=sys.stderr, flush=True)
    mlflow = str(Path(sys.executable).parent / "mlflow")
    ui = [mlflow, "ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)]
    ui += ["--workers", str(args.workers)]
    os.execv(mlflow, ui)


def cmd_runs(args: argparse.Namespace) -> int:
    from mlflow.tracking import MlflowClient

    from reprotune import runs
    from reprotune.tracking import tracking_uri

    uri = args.tracking_uri or tracking_uri(project_root())
    experiment = args.experiment or _default_experiment()
    rows = runs.collect_rows(MlflowClient(uri), experiment)
    if not rows:
        print(f"no evaluated runs in experiment {experiment!r} at {uri}", file=sys.stderr)
        return 1
    higher = RANKABLE_METRICS.get(args.metric, args.metric != "efficiency.latency_ms")
    table = runs.render(runs.leaderboard(rows, args.metric, higher), args.format)
    if args.output:
        Path(args.output).write_text(table, encoding="utf-8")
    else:
        sys.stdout.write(table)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from reprotune import report

    rules = [report.Rule.parse(text) for text in args.fail_on]
    markdown, failures = report.build_report(
        args.base, rules, project_root(), show_unchanged=args.all
    )
    if args.output:
        Path(args.output).write_text(markdown, encoding="utf-8")
    else:
        sys.stdout.write(markdown)
    for rule, change in failures:
        print(
            f"regression: {change.key} {change.old} -> {change.new} breaks {rule}", file=sys.stderr
        )
    return 1 if failures else 0


def cmd_comment(args: argparse.Namespace) -> int:
    import os

    from reprotune import github

    token = os.environ.get("GITHUB_TOKEN")
    if not token:
        print("reprotune comment: GITHUB_TOKEN is not set; not commenting", file=sys.stderr)
        return 0
    body = Path(args.body_file).read_text(encoding="utf-8")
    try:
        action = github.upsert_comment(args.api_url, args.repo, args.pr, token, body)
    except github.ReadOnlyToken as exc:
        # Fork pull requests get a read-only token: the job summary still has the report.
        print(f"reprotune comment: cannot write ({exc}); skipped", file=sys.stderr)
        return 0
    print(f"report comment {action} on {args.repo}#{args.pr}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    """One more worker for a shared study: trials until the study holds its n_trials."""
    import os
    import socket

    from reprotune import tuning
    from reprotune.errors import ParamsError
    from reprotune.tracking import stage_run

    os.chdir(project_root())  # the pipeline's relative paths (data/processed, configs/)
    params = load_params()
    if args.candidate not in params.tune.candidates:
        raise ParamsError(
            f"tune.candidates has no {args.candidate!r}; fix: use one of "
            f"{', '.join(params.tune.candidates) or '(none: add a search space first)'}"
        )
    storage = tuning.shared_storage_url(params.tune, args.storage)
    if not storage:
        raise ParamsError(
            "a worker joins a study in a shared database; fix: pass --storage URL or set "
            f"{tuning.STORAGE_ENV} (or tune.storage), e.g. postgresql://user@host/optuna. "
            f"For a study on this machine alone, run `dvc repro tune@{args.candidate}`"
        )
    tags = {"reprotune.study": params.tune.study_name(args.candidate), "reprotune.role": "worker"}
    with stage_run("tune", params.tracking, args.candidate, tags=tags) as run:
        run.set_tags({"reprotune.storage": tuning.shown_url(storage)})
        # Each worker samples from its own seed, or they would all propose the same params.
        study, ran = tuning.tune(
            params, args.candidate, run, storage, sampler_seed=params.seed + os.getpid()
        )
        run.log_metrics({"trials_run_here": ran})
    counts = tuning.trial_counts(study)
    print(
        f"worker {socket.gethostname()}:{os.getpid()} ran {ran} trial(s); study "
        f"{study.study_name!r} holds {counts['n_complete']} complete, {counts['n_pruned']} "
        f"pruned of {params.tune.n_trials_for(args.candidate)}"
    )
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from reprotune import scaffold

    images = Path(args.images_under).expanduser().resolve() if args.images_under else None
    found, text = scaffold.init(
        args.data, args.target, args.task, images, Path(args.output), args.dry_run, args.force
    )
    print(scaffold.summary(found), file=sys.stderr)
    if args.dry_run:
        print(text, end="")
    else:
        if found.contract:
            wrote = f"{args.output} and {found.contract} (the data contract every row meets)"
        else:
            wrote = f"{args.output} (kept the contract.yaml beside it)"
        print(f"wrote {wrote}; next: review them, then `dvc repro`", file=sys.stderr)
    return 0


def cmd_exp_show(args: argparse.Namespace) -> int:
    from reprotune import experiments, runs

    rows = experiments.show(project_root(), args.num, args.all_commits)
    print(runs.render(rows, args.format), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reprotune", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    init_cmd = commands.add_parser(
        "init", help="write a params.yaml for a new task from a sample of your CSV/Parquet file"
    )
    init_cmd.add_argument("--data", required=True, help="a local path or an http(s) URL")
    init_cmd.add_argument("--target", required=True, help="the column to predict")
    init_cmd.add_argument("--task", default="auto", choices=["auto", "binary", "multiclass"])
    init_cmd.add_argument(
        "--images-under", help="folder the image paths are relative to (default: the file's)"
    )
    init_cmd.add_argument("--output", "-o", default="params.yaml")
    init_cmd.add_argument("--dry-run", action="store_true", help="print it, write nothing")
    init_cmd.add_argument("--force", action="store_true", help="replace an existing file")
    init_cmd.set_defaults(handler=cmd_init)

    ui_cmd = commands.add_parser(
        "ui", help="the MLflow UI on this project's store, opened on its runs (model training)"
    )
    ui_cmd.add_argument("--host", default="127.0.0.1")
    ui_cmd.add_argument("--port", type=int, default=5000)
    ui_cmd.add_argument("--experiment", help="default: tracking.experiment in params.yaml")
    ui_cmd.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI, else mlflow.db")
    ui_cmd.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes (one person browsing needs one; each takes seconds to start)",
    )
    ui_cmd.set_defaults(handler=cmd_ui)

    runs_cmd = commands.add_parser(
        "runs", help="leaderboard of every evaluated candidate across executions, from MLflow"
    )
    runs_cmd.add_argument("--experiment", help="MLflow experiment (default: tracking.experiment)")
    runs_cmd.add_argument(
        "--metric",
        default="macro_f1",
        choices=[*RANKABLE_METRICS, "efficiency.latency_ms"],
        help="rank by this test metric (default: macro_f1)",
    )
    runs_cmd.add_argument("--format", default="markdown", choices=["markdown", "csv", "json"])
    runs_cmd.add_argument("--output", "-o", help="write to this file instead of stdout")
    runs_cmd.add_argument(
        "--tracking-uri", help="default: MLFLOW_TRACKING_URI, else mlflow.db at the project root"
    )
    runs_cmd.set_defaults(handler=cmd_runs)

    exp_cmd = commands.add_parser("exp", help="experiments, in a table that fits a terminal")
    exp_show = exp_cmd.add_subparsers(dest="exp_command", required=True).add_parser(
        "show",
        help="each experiment's changed params and champion (dvc exp show prints every column)",
    )
    exp_show.add_argument("--num", "-n", type=int, default=1, help="last N commits (default 1)")
    exp_show.add_argument("--all-commits", "-A", action="store_true")
    exp_show.add_argument("--format", default="markdown", choices=["markdown", "csv", "json"])
    exp_show.set_defaults(handler=cmd_exp_show)

    predict_cmd = commands.add_parser(
        "predict",
        help="score a table (CSV, Parquet, JSON lines; file or URL) with the champion, to Parquet",
    )
    predict_cmd.add_argument("--data", required=True, help="the table: a path or http(s) URL")
    predict_cmd.add_argument("--out", required=True, help="the predictions (Parquet)")
    predict_cmd.add_argument(
        "--model",
        help="models:/<name>@<alias>, models:/<name>/<version> or a candidate folder "
        "(default: models:/<compare.registered_model>@champion)",
    )
    predict_cmd.add_argument(
        "--keep",
        nargs="*",
        help="input columns copied to the output (default: every column that is not a feature)",
    )
    predict_cmd.add_argument(
        "--on-error",
        choices=["fail", "skip"],
        default="fail",
        help="rows with values the model cannot take: stop naming them (default), or write them "
        "to --rejects and score the others",
    )
    predict_cmd.add_argument("--rejects", help="default: <out>.rejects.parquet")
    predict_cmd.add_argument("--chunk-rows", type=int, default=50_000, help="rows per chunk")
    predict_cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    predict_cmd.add_argument(
        "--engine",
        choices=["local", "spark"],
        default="local",
        help="spark: score on Apache Spark through mlflow.pyfunc.spark_udf (--out is then a "
        "Parquet folder); needs pyspark and Java",
    )
    predict_cmd.add_argument(
        "--spark-master",
        help="with --engine spark: e.g. local[2] or spark://host:7077 (default: the session's, "
        "as spark-submit sets it, else local[*])",
    )
    predict_cmd.add_argument("--drift", help="also write the scored rows' drift report (JSON) here")
    predict_cmd.add_argument(
        "--contract",
        choices=CONTRACT_MODES,
        default="count",
        help="rows breaking the model's data contract: reported after scoring (default), or "
        "stop before writing anything (enforce)",
    )
    predict_cmd.add_argument(
        "--tracking-uri", help="default: MLFLOW_TRACKING_URI, else mlflow.db at the project root"
    )
    predict_cmd.set_defaults(handler=cmd_predict)

    drift_cmd = commands.add_parser(
        "drift",
        help="how far a table moved from the rows the champion (or any model) trained on",
    )
    drift_cmd.add_argument("--data", required=True, help="the new rows: a path or http(s) URL")
    drift_cmd.add_argument("--out", help="the report as JSON (dataset_drift, drifted_features...)")
    drift_cmd.add_argument(
        "--model",
        help="models:/<name>@<alias>, models:/<name>/<version> or a candidate folder "
        "(default: models:/<compare.registered_model>@champion)",
    )
    drift_cmd.add_argument(
        "--share",
        type=float,
        default=0.3,
        help="the data set drifted when at least this share of its features did (default 0.3)",
    )
    drift_cmd.add_argument(
        "--fail-on-drift", action="store_true", help="exit 1 when the data set drifted (for CI)"
    )
    drift_cmd.add_argument(
        "--tracking-uri", help="default: MLFLOW_TRACKING_URI, else mlflow.db at the project root"
    )
    drift_cmd.set_defaults(handler=cmd_drift)

    serve_cmd = commands.add_parser(
        "serve",
        help="the champion (or any model) behind an HTTP API: /predict, /explain, /docs, /metrics",
    )
    serve_cmd.add_argument(
        "--model",
        help="models:/<name>@<alias>, models:/<name>/<version> or a candidate folder "
        "(default: models:/<compare.registered_model>@champion)",
    )
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8000)
    serve_cmd.add_argument("--workers", type=int, default=1)
    serve_cmd.add_argument("--max-batch", type=int, default=256, help="records per request")
    serve_cmd.add_argument("--max-body-bytes", type=int, default=1_000_000)
    serve_cmd.add_argument("--max-text-chars", type=int, default=10_000)
    serve_cmd.add_argument(
        "--api-key-env",
        help="name of an environment variable holding the key /predict then requires "
        "(header X-API-Key)",
    )
    serve_cmd.add_argument(
        "--cors-origin", action="append", default=[], help="allow this origin (CORS off if none)"
    )
    serve_cmd.add_argument(
        "--poll-seconds",
        type=float,
        default=30.0,
        help="look the alias up this often and swap in a new version (0: never)",
    )
    serve_cmd.add_argument(
        "--batch-wait-ms",
        type=float,
        help="micro-batching: concurrent requests are always joined into one forward pass; "
        "under concurrent load a pass also waits this many ms for more (default: 5 for the "
        "transformer, 0 for the others)",
    )
    serve_cmd.add_argument(
        "--contract",
        choices=CONTRACT_MODES,
        default="count",
        help="records breaking the model's data contract: counted in /metrics (default), "
        "also refused with 422 (enforce), or not checked",
    )
    serve_cmd.add_argument(
        "--drift-window",
        type=int,
        default=1000,
        help="/metrics reports the drift of the last this many records scored (0: off)",
    )
    serve_cmd.add_argument(
        "--explain-samples",
        type=int,
        default=300,
        help="/explain on a text model: LIME's perturbed texts (more: steadier, slower)",
    )
    serve_cmd.add_argument(
        "--explain-permutations",
        type=int,
        default=5,
        help="/explain on a non-tree tabular model: SHAP permutations over the saved rows",
    )
    serve_cmd.add_argument("--graceful-seconds", type=int, default=30)
    serve_cmd.add_argument("--log-level", default="info")
    serve_cmd.add_argument(
        "--access-log", action="store_true", help="log each request line (never bodies)"
    )
    serve_cmd.add_argument(
        "--tracking-uri", help="default: MLFLOW_TRACKING_URI, else mlflow.db at the project root"
    )
    serve_cmd.set_defaults(handler=cmd_serve)

    report_cmd = commands.add_parser(
        "report", help="markdown of params and metrics changed since a git revision, with a gate"
    )
    report_cmd.add_argument("--base", required=True, help="git revision to compare against")
    report_cmd.add_argument(
        "--fail-on",
        action="append",
        default=[],
        metavar="RULE",
        help="exit 1 when a metric's change breaks RULE, e.g. 'macro_f1<-0.01', "
        "'latency_ms>+20%%' (relative), 'metrics/evaluate/*:accuracy<0'; repeatable",
    )
    report_cmd.add_argument("--all", action="store_true", help="list unchanged metrics too")
    report_cmd.add_argument("--output", "-o", help="write to this file instead of stdout")
    report_cmd.set_defaults(handler=cmd_report)

    comment_cmd = commands.add_parser(
        "comment", help="post or edit the one report comment on a pull request (GITHUB_TOKEN)"
    )
    comment_cmd.add_argument("--repo", required=True, help="owner/name")
    comment_cmd.add_argument("--pr", required=True, type=int)
    comment_cmd.add_argument("--body-file", required=True)
    comment_cmd.add_argument("--api-url", default="https://api.github.com")
    comment_cmd.set_defaults(handler=cmd_comment)

    tune_cmd = commands.add_parser(
        "tune",
        help="a worker for a shared Optuna study (tune.storage / REPROTUNE_TUNE_STORAGE); "
        "start as many as you like, on any machines",
    )
    tune_cmd.add_argument("candidate", help="a candidate listed in tune.candidates")
    tune_cmd.add_argument(
        "--storage",
        help="database URL of the study (default: REPROTUNE_TUNE_STORAGE, else tune.storage)",
    )
    tune_cmd.set_defaults(handler=cmd_tune)

    commands.add_parser(
        "dvc",
        help="the dvc CLI, less warnings that do not apply (`reprotune dvc exp run -S lr=0.01`)",
        add_help=False,
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["dvc"]:  # everything after it is dvc's, options included
        from reprotune import dvc_cli

        return dvc_cli.run(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ReprotuneError as exc:
        print(f"reprotune {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
