"""Every module a stage runs is one of its DVC deps, and no dep is one it does not run."""

import json
from pathlib import Path

import pytest
import yaml

from reprotune import codedeps
from reprotune.models.registry import NAMES

ROOT = Path(__file__).resolve().parent.parent
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# explain_ensemble runs the explain script over the ensembles' folders.
SCRIPT = {"explain_ensemble": "explain"}
# Stages of one candidate: its family's modules reach them through configs/<candidate>.json.
PER_CANDIDATE = ("tune", "train", "evaluate", "explain")
# Stages over several candidates: every candidate's config.
OVER_CANDIDATES = ("ensemble", "explain_ensemble")


def code_deps(stage: str) -> list[str]:
    body = STAGES[stage].get("do", STAGES[stage])
    return sorted(d for d in body["deps"] if d.startswith(("src/", "stages/")))


def test_the_import_walk_sees_function_level_imports_and_skips_console_modules(tmp_path):
    package = tmp_path / "reprotune"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "used.py").write_text("def f():\n    from reprotune import lazy\n")
    (package / "lazy.py").write_text("import reprotune.tracking\n")
    (package / "tracking.py").write_text("")
    (package / "unused.py").write_text("")
    assert codedeps.module_closure("reprotune.used", tmp_path) == {
        "reprotune",
        "reprotune.used",
        "reprotune.lazy",
    }


def test_a_package_init_adds_only_its_import_time_imports(tmp_path):
    package = tmp_path / "reprotune" / "sub"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text(
        "import reprotune.eager\n\ndef later():\n    import reprotune.lazy\n"
    )
    for name in ("leaf", "eager", "lazy"):
        target = package if name == "leaf" else package.parent
        (target / f"{name}.py").write_text("")
    closure = codedeps.module_closure("reprotune.sub.leaf", tmp_path)
    assert "reprotune.eager" in closure and "reprotune.lazy" not in closure


@pytest.mark.parametrize("stage", sorted(set(STAGES) - {codedeps.ALWAYS_RUN}))
def test_each_stage_depends_on_the_digest_of_the_code_it_runs(stage):
    script = SCRIPT.get(stage, stage)
    body = STAGES[stage].get("do", STAGES[stage])
    code = [d for d in body["deps"] if d.startswith(("src/", "stages/", "code/"))]
    assert code == [f"code/{script}.json"], (
        f"dvc.yaml stage {stage!r} should depend on code/{script}.json alone for its code; "
        "fix: python tools/dvc_code_deps.py --write"
    )
    digest = codedeps.stage_digest(script, ROOT)
    expected = {p.as_posix() for p in codedeps.stage_code_files(script, ROOT)}
    if script == "configure":  # it digests every family's modules: any change re-runs it
        expected |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "src").rglob("*.py")}
    assert set(digest["files"]) == expected


def test_the_always_run_stage_writes_every_digest():
    outs = STAGES[codedeps.ALWAYS_RUN]["outs"]
    assert {"code": {"cache": False, "persist": True}} in outs
    assert set(codedeps.stage_scripts(ROOT)) == {
        SCRIPT.get(stage, stage) for stage in STAGES if stage != codedeps.ALWAYS_RUN
    }


def test_an_edited_module_rewrites_exactly_the_digests_of_the_stages_that_run_it(tmp_path):
    import shutil

    for folder in ("src", "stages"):
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    codedeps._closure_of.cache_clear()
    assert set(codedeps.write_stage_digests(tmp_path)) == set(codedeps.stage_scripts(tmp_path))
    assert codedeps.write_stage_digests(tmp_path) == []  # unchanged code: no file rewritten
    before = {p.name: p.read_text() for p in (tmp_path / "code").iterdir()}
    module = tmp_path / "src/reprotune/evaluation/thresholds.py"
    module.write_text(module.read_text() + "\n# edited\n")
    codedeps._closure_of.cache_clear()
    runs_it = {
        script
        for script in codedeps.stage_scripts(tmp_path)
        if Path("src/reprotune/evaluation/thresholds.py")
        in codedeps.digested_files(script, tmp_path)
    }
    assert {"train", "configure"} <= runs_it and "fetch" not in runs_it
    assert set(codedeps.write_stage_digests(tmp_path)) == runs_it
    after = {p.name: p.read_text() for p in (tmp_path / "code").iterdir()}
    assert {n.removesuffix(".json") for n in before if before[n] != after[n]} == runs_it
    assert "src/reprotune/evaluation/thresholds.py" in json.loads(after["train.json"])["files"]
    codedeps._closure_of.cache_clear()


@pytest.mark.parametrize("stage", PER_CANDIDATE)
def test_candidate_stages_depend_on_their_config(stage):
    assert "configs/${key}.json" in STAGES[stage]["do"]["deps"]


@pytest.mark.parametrize("stage", OVER_CANDIDATES)
def test_ensemble_stages_depend_on_every_config(stage):
    assert "configs" in STAGES[stage]["do"]["deps"]


def test_family_code_names_the_helpers_each_family_runs():
    modules = {f: codedeps.family_code(f, ROOT / "src")["modules"] for f in NAMES}
    for family in NAMES:  # its params and its model
        assert f"src/reprotune/families/{family}/__init__.py" in modules[family]
        assert f"src/reprotune/families/{family}/model.py" in modules[family]
    assert "src/reprotune/models/keras.py" in modules["keras_tabular"]
    assert "src/reprotune/models/keras.py" in modules["keras_multimodal"]
    for helper in ("token_cache", "checkpoint", "export"):
        assert f"src/reprotune/families/hf_transformer/{helper}.py" in modules["hf_transformer"]
        assert not any(helper in m for m in modules["tfidf_logreg"])
    assert "src/reprotune/models/keras.py" not in modules["xgboost"]
    assert not any("families/keras_mlp" in m for m in modules["keras_tabular"])
    assert "src/reprotune/tracking.py" not in modules["keras_mlp"]


def test_family_code_digest_follows_a_helper_edit(tmp_path):
    import shutil

    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "reprotune", src / "reprotune")
    before = {f: codedeps.family_code(f, src)["md5"] for f in ("keras_tabular", "xgboost")}
    helper = src / "reprotune" / "models" / "keras.py"
    helper.write_text(helper.read_text() + "\n# edited\n")
    codedeps._closure_of.cache_clear()
    after = {f: codedeps.family_code(f, src)["md5"] for f in ("keras_tabular", "xgboost")}
    assert after["keras_tabular"] != before["keras_tabular"]
    assert after["xgboost"] == before["xgboost"]
    assert json.dumps(after)  # what configure writes is plain JSON
