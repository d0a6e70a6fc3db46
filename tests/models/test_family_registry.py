"""Every registered family walked through every table that reads it: a new family is its folder,
its line in the registry and its tests; this test names what it still lacks."""

import subprocess
import sys
from pathlib import Path

import pytest

from reprotune import codedeps, config, serving
from reprotune.data.settings import DataParams
from reprotune.features import FEATURE_TYPES
from reprotune.models import registry
from reprotune.models.base import Candidate
from reprotune.schema import FamilyParams

ROOT = Path(__file__).resolve().parents[2]
FAMILIES_DIR = ROOT / "src" / "reprotune" / "families"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_family_folder_is_registered_and_every_name_has_a_folder():
    folders = {p.name for p in FAMILIES_DIR.iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(registry.NAMES)


@pytest.mark.parametrize("family", registry.NAMES)
def test_family_params_name_the_family_and_the_rest_reads_them(family):
    params = registry.params_classes()[family]
    assert issubclass(params, FamilyParams)
    assert params.family_name() == family
    assert params.reads and params.reads <= set(FEATURE_TYPES)
    assert params.native_flavor in (None, *serving.NATIVE_SAVERS)
    if params.trained_alone:
        assert config.PARAMS_CLASSES[family] is params
        assert family in registry.reading(set(params.reads))
    else:
        assert family not in config.FAMILIES


@pytest.mark.parametrize("family", registry.NAMES)
def test_family_model_is_a_candidate_of_that_family(family):
    model = registry.candidate_class(family)
    assert issubclass(model, Candidate)
    assert model.family == family
    assert model.shap_explainer in ("tree", "linear", "permutation")
    assert model.tree_output in ("probability", "log-odds")


@pytest.mark.parametrize("family", registry.NAMES)
def test_family_requirements_pin_an_installed_distribution(family):
    wanted = registry.params_classes()[family].requirements
    pins = serving.pip_requirements([family])
    assert all(pin.split("==")[0] in (*serving.BASE_REQUIREMENTS, *wanted) for pin in pins)
    if wanted:  # at least one spelling of each framework is what trained the model
        assert any(pin.split("==")[0] in wanted for pin in pins), (family, wanted)
        assert all(name == name.lower() and " " not in name for name in wanted)


@pytest.mark.parametrize("family", registry.NAMES)
def test_family_code_digest_covers_its_folder(family):
    modules = codedeps.family_code(family, ROOT / "src")["modules"]
    folder = f"src/reprotune/families/{family}/"
    own = sorted(p.relative_to(ROOT).as_posix() for p in (FAMILIES_DIR / family).glob("*.py"))
    assert set(own) <= set(modules) | {f"{folder}__init__.py"}
    assert f"{folder}model.py" in modules


@pytest.mark.parametrize("family", [n for n in registry.NAMES if n != "ensemble"])
def test_family_is_documented_in_the_readme(family):
    assert f"`{family}`" in README


@pytest.mark.parametrize("kind", list(FEATURE_TYPES))
def test_every_feature_type_is_read_by_a_family_and_served(kind):
    from mlflow.types import DataType
    from pydantic import TypeAdapter

    assert registry.reading({kind})
    assert FEATURE_TYPES[kind].signature_type in DataType.__members__
    TypeAdapter(FEATURE_TYPES[kind].request_type() | None)  # a valid request field
    assert DataParams(source="csv", files={"train": "t.csv"}, features={"x": kind})


def test_family_params_import_no_framework():
    """config reads every family's params: that must not import TensorFlow, torch or a
    boosting library (stages that need none of them stay fast)."""
    code = (
        "import sys; from reprotune.models import registry; registry.params_classes(); "
        "heavy = {'tensorflow', 'torch', 'keras', 'xgboost', 'lightgbm', 'transformers'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
