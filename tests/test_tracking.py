import platform
import signal
import subprocess
import sys
import time

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from reprotune.errors import TrackingError
from reprotune.tracking import TrackingParams, flatten, param_value, stage_run, tracking_uri

TRACKING = TrackingParams(experiment="unit")


def runs(root, **filters):
    client = MlflowClient(tracking_uri(root))
    experiment = client.get_experiment_by_name("unit")
    found = client.search_runs([experiment.experiment_id])
    return client, [r for r in found if all(r.data.tags.get(k) == v for k, v in filters.items())]


def test_stage_runs_nest_under_one_parent_per_execution(in_tmp, monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "exp-one")
    with stage_run("fetch", TRACKING) as run:
        run.log_params({"data": {"source": "csv", "files": {"train": "a.csv"}}})
        run.log_metrics({"rows": {"train": 10}, "name": "not a number"})
    with stage_run("train", TRACKING, candidate="baseline") as run:
        for epoch in range(3):
            run.log_metrics({"val_loss": 1.0 / (epoch + 1)}, step=epoch)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-two")
    with stage_run("fetch", TRACKING):
        pass

    client, parents = runs(in_tmp, **{"reprotune.kind": "pipeline"})
    assert sorted(p.info.run_name for p in parents) == ["exp-one", "exp-two"]
    one = next(p for p in parents if p.info.run_name == "exp-one")
    children = [
        r for r in runs(in_tmp)[1] if r.data.tags.get("mlflow.parentRunId") == one.info.run_id
    ]
    assert sorted(r.info.run_name for r in children) == ["fetch", "train@baseline"]
    fetch = next(r for r in children if r.info.run_name == "fetch")
    assert fetch.data.params == {"data.source": "csv", "data.files.train": "a.csv"}
    assert fetch.data.metrics == {"rows.train": 10.0}
    assert fetch.data.tags["reprotune.stage"] == "fetch"
    assert fetch.data.tags["dvc.exp_name"] == "exp-one"
    assert fetch.info.status == "FINISHED"
    train = next(r for r in children if r.info.run_name == "train@baseline")
    history = client.get_metric_history(train.info.run_id, "val_loss")
    assert [(m.step, round(m.value, 3)) for m in history] == [(0, 1.0), (1, 0.5), (2, 0.333)]
    assert (in_tmp / "mlflow.db").is_file()


def test_artifacts_land_under_the_project_root(in_tmp):
    (in_tmp / "report.json").write_text("{}")
    with stage_run("compare", TRACKING) as run:
        run.log_artifacts([in_tmp / "report.json"], "reports")
    _, found = runs(in_tmp, **{"reprotune.stage": "compare"})
    assert found[0].info.artifact_uri.startswith((in_tmp / "mlartifacts").as_uri())
    assert list((in_tmp / "mlartifacts").rglob("reports/report.json"))


def test_dvc_root_anchors_the_store_for_queued_experiments(in_tmp, tmp_path_factory, monkeypatch):
    executor_copy = tmp_path_factory.mktemp("executor")
    (executor_copy / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(executor_copy)
    monkeypatch.setenv("DVC_ROOT", str(in_tmp))
    with stage_run("fetch", TRACKING):
        pass
    assert (in_tmp / "mlflow.db").is_file()
    assert not (executor_copy / "mlflow.db").exists()


def test_plain_repro_groups_by_commit_and_params(in_tmp):
    (in_tmp / "params.yaml").write_text("seed: 1\n")
    with stage_run("fetch", TRACKING):
        pass
    with stage_run("preprocess", TRACKING):
        pass
    (in_tmp / "params.yaml").write_text("seed: 2\n")
    with stage_run("fetch", TRACKING):
        pass
    _, parents = runs(in_tmp, **{"reprotune.kind": "pipeline"})
    assert len(parents) == 2


def test_failed_stage_marks_the_run_failed(in_tmp):
    with pytest.raises(RuntimeError), stage_run("train", TRACKING, candidate="x"):
        raise RuntimeError("boom")
    _, found = runs(in_tmp, **{"reprotune.stage": "train"})
    assert found[0].info.status == "FAILED"


def test_disabled_tracking_touches_no_store(in_tmp):
    with stage_run("fetch", TrackingParams(enabled=False)) as run:
        run.log_params({"a": 1})
        run.log_metrics({"b": 2})
        assert not run.enabled
    assert not (in_tmp / "mlflow.db").exists()


def test_unusable_store_fails_with_the_fix(in_tmp, monkeypatch):
    (in_tmp / "a-file").write_text("")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{in_tmp}/a-file/mlflow.db")
    with pytest.raises(Exception, match=r"tracking\.enabled: false"), stage_run("fetch", TRACKING):
        pass


def test_long_params_are_truncated_with_a_marker():
    value = param_value("x" * 7000, 6000)
    assert len(value) == 6000 and value.endswith("...[truncated]")
    assert param_value(None, 10) == "null"


def test_flatten_nested_dicts():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": {}}) == {"a.b": 1, "a.c.d": 2, "e": {}}


def test_server_that_is_down_fails_fast_with_the_fix(in_tmp, monkeypatch):
    from servers import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    start = time.monotonic()
    with (
        pytest.raises(TrackingError, match=r"tracking\.required: false"),
        stage_run("fetch", TRACKING),
    ):
        pass
    assert time.monotonic() - start < 30  # refused at once, not after the client's retries


def test_not_required_tracking_warns_and_goes_on(in_tmp, monkeypatch):
    from servers import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    not_required = TrackingParams(experiment="unit", required=False)
    with (
        pytest.warns(UserWarning, match="running untracked"),
        stage_run("fetch", not_required) as run,
    ):
        run.log_metrics({"rows": 1})
        assert not run.enabled


def test_run_of_a_killed_process_is_marked_killed_on_the_next_invocation(in_tmp):
    script = (
        "import os, signal\n"
        "from reprotune.tracking import TrackingParams\n"
        "from reprotune.tracking import stage_run\n"
        "with stage_run('train', TrackingParams(experiment='unit'), candidate='x'):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=in_tmp)
    assert done.returncode == -signal.SIGKILL
    _, found = runs(in_tmp, **{"reprotune.stage": "train"})
    assert found[0].info.status == "RUNNING"
    with stage_run("evaluate", TRACKING, candidate="x"):
        pass
    client, found = runs(in_tmp, **{"reprotune.stage": "train"})
    assert found[0].info.status == "KILLED"
    parent = client.get_run(found[0].data.tags["mlflow.parentRunId"])
    assert parent.info.status == "FINISHED"  # the evaluate run reopened and ended it


def test_sigterm_marks_the_run_killed(in_tmp):
    script = (
        "import os, signal\n"
        "from reprotune.tracking import TrackingParams\n"
        "from reprotune.stage import run_stage\n"
        "from reprotune.tracking import stage_run\n"
        "def main():\n"
        "    with stage_run('train', TrackingParams(experiment='unit'), candidate='x'):\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "run_stage('train', main)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=in_tmp)
    assert done.returncode == 128 + signal.SIGTERM
    _, found = runs(in_tmp, **{"reprotune.stage": "train"})
    assert found[0].info.status == "KILLED"


def test_stage_run_tags_lineage_and_logs_params(in_tmp, monkeypatch):
    (in_tmp / "params.yaml").write_text("seed: 1\n")
    monkeypatch.setenv("DVC_EXP_NAME", "exp-x")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "a" * 40)
    with stage_run("train", TRACKING, candidate="c", system_metrics=True) as run:
        run.log_params({"model": {"C": 1.0}})
    client, (found,) = runs(in_tmp, **{"reprotune.stage": "train"})
    tags = found.data.tags
    assert tags["dvc.exp_name"] == "exp-x" and tags["dvc.baseline_rev"] == "a" * 40
    assert tags["python.version"] == platform.python_version()
    assert tags["package.mlflow"] == mlflow.__version__
    assert tags["reprotune.pid"].isdigit() and tags["reprotune.host"]
    assert tags["mlflow.source.name"] == "stages/train.py"
    assert tags["mlflow.source.type"] == "LOCAL"
    parent = client.get_run(tags["mlflow.parentRunId"]).data.tags
    assert (parent["mlflow.source.name"], parent["mlflow.source.type"]) == ("dvc.yaml", "PROJECT")
    names = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert {"params.yaml", "resolved_params.json"} <= names
    assert found.data.params == {"model.C": "1.0"}
    assert any(k.startswith("system/cpu_utilization") for k in found.data.metrics)


def test_processes_creating_a_new_store_together_do_not_race(in_tmp):
    script = (
        "from reprotune.tracking import TrackingParams\n"
        "from reprotune.tracking import stage_run\n"
        "with stage_run('fetch', TrackingParams(experiment='unit')):\n"
        "    pass\n"
    )
    workers = [subprocess.Popen([sys.executable, "-c", script], cwd=in_tmp) for _ in range(3)]
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0]
    _, found = runs(in_tmp, **{"reprotune.stage": "fetch"})
    assert len(found) == 3


@pytest.mark.parametrize(
    ("manifest", "source_type"),
    [
        ({"source": "hf", "name": "fancyzhx/ag_news", "revision": "main"}, "hugging_face"),
        ({"source": "csv", "files": {"train": "https://example.org/bank.csv"}}, "http"),
        ({"source": "csv", "name": None, "files": {"train": "data/bank.csv"}}, "local"),
        ({"source": "openml", "name": "bank-marketing"}, "code"),
    ],
)
def test_splits_are_logged_as_mlflow_datasets(in_tmp, manifest, source_type):
    import pandas as pd

    frame = pd.DataFrame({"age": [30.0, 41.5], "job": ["a", "b"], "label": [0, 1]})
    with stage_run("preprocess", TRACKING) as run:
        run.log_dataset(frame, "train", source=manifest)
        run.log_dataset(frame, "test", source=manifest)
    _, found = runs(in_tmp, **{"reprotune.stage": "preprocess"})
    inputs = found[0].inputs.dataset_inputs
    contexts = {next(t.value for t in i.tags if t.key == "mlflow.data.context") for i in inputs}
    assert contexts == {"training", "test"}
    dataset = inputs[0].dataset
    assert dataset.source_type == source_type
    assert dataset.name.endswith(("-train", "-test")) and dataset.digest
    assert '"age"' in dataset.schema and '"num_rows": 2' in dataset.profile


def test_parent_runs_are_named_by_experiment_or_branch_and_commit(in_tmp, monkeypatch):
    from commands import git_commit_all

    git_commit_all(in_tmp)
    run_git = ["git", "-C", str(in_tmp)]
    commit = subprocess.run([*run_git, "rev-parse", "--short=7", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()  # fmt: skip
    branch = subprocess.run([*run_git, "rev-parse", "--abbrev-ref", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()  # fmt: skip
    monkeypatch.setenv("DVC_EXP_NAME", "lr-sweep")
    with stage_run("fetch", TRACKING):
        pass
    monkeypatch.delenv("DVC_EXP_NAME")
    with stage_run("fetch", TRACKING):
        pass
    _, parents = runs(in_tmp, **{"reprotune.kind": "pipeline"})
    assert sorted(p.info.run_name for p in parents) == sorted(
        [f"lr-sweep@{commit}", f"{branch}@{commit}"]
    )


def test_a_stage_failing_before_its_own_run_marks_the_execution_failed(in_tmp, monkeypatch):
    """The parent run must not stay FINISHED (as the last good stage left it) when a later
    stage stops before opening its run: bad data, bad params."""
    from reprotune.errors import DataError
    from reprotune.stage import run_stage

    monkeypatch.setenv("DVC_EXP_NAME", "exp-fails")
    (in_tmp / "params.yaml").write_text("tracking: {experiment: unit}\n")
    with stage_run("fetch", TRACKING):
        pass
    _, (parent,) = runs(in_tmp, **{"reprotune.kind": "pipeline"})
    assert parent.info.status == "FINISHED"

    def breaks_the_contract():
        raise DataError("the data breaks the contract")

    with pytest.raises(SystemExit):
        run_stage("preprocess", breaks_the_contract)
    _, (parent,) = runs(in_tmp, **{"reprotune.kind": "pipeline"})
    assert parent.info.status == "FAILED"
