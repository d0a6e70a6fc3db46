import pytest

from reprotune.errors import ParamsError
from reprotune.stage import EXIT_BAD_INPUT, note_mlflow_run, run_stage, say


def test_a_stage_prints_what_it_said_with_its_time_and_mlflow_runs(capsys):
    def main(candidate):
        say(f"{candidate}: accuracy 0.9000")
        say("note: one more thing")
        note_mlflow_run("0123456789abcdef")

    run_stage("evaluate", main, "mlp")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[evaluate] mlp: accuracy 0.9000 (")
    assert lines[0].endswith("s, MLflow run 01234567)")
    assert lines[1:] == ["[evaluate]   note: one more thing"]


def test_each_run_starts_with_nothing_said(capsys):
    run_stage("fetch", lambda: say("first"))
    run_stage("fetch", lambda: None)
    out = capsys.readouterr().out
    assert out.count("first") == 1
    assert "[fetch] done (" in out.splitlines()[-1]


def test_a_bad_input_is_one_error_line_and_exit_2(capsys):
    def main():
        raise ParamsError("params.yaml: train.lr: -1 is below 0; fix: a positive rate")

    with pytest.raises(SystemExit) as stopped:
        run_stage("train", main)
    assert stopped.value.code == EXIT_BAD_INPUT
    assert capsys.readouterr().err == (
        "[train] error: params.yaml: train.lr: -1 is below 0; fix: a positive rate\n"
    )
