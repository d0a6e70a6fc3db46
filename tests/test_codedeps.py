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


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_each_stage_lists_exactly_the_code_it_runs(stage):
    if stage == "configure":
        # configure digests every family's modules: it re-runs on any change to the package.
        assert code_deps(stage) == ["src/reprotune", "stages/configure.py"]
        return
    files = codedeps.stage_code_files(SCRIPT.get(stage, stage), ROOT)
    assert code_deps(stage) == codedeps.compact(files, ROOT), (
        f"dvc.yaml stage {stage!r} does not list the code it runs; fix: "
        "python tools/dvc_code_deps.py --write"
    )


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
