import numpy as np
import pandas as pd
import pytest
import yaml
from corpus import LABEL_NAMES, texts_and_labels
from tiny_bert import build_tiny_bert

from reprotune import models
from reprotune.families.hf_transformer import TransformerParams
from reprotune.families.keras_mlp import KerasMlpParams
from reprotune.families.tfidf_logreg import TfidfLogregParams
from reprotune.serving import build_model_dir, pip_requirements

TEXTS = ["shares profit market", "goal coach match", "election minister treaty"]


def _fit_and_save(params, folder):
    model = models.create(params, LABEL_NAMES, seed=0)
    model.fit(*texts_and_labels(40, 1), *texts_and_labels(10, 2))
    folder.mkdir()
    model.save(folder, extra={"train": {}})
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory, request):
    family = request.param
    root = tmp_path_factory.mktemp(family)
    if family == "tfidf_logreg":
        params = TfidfLogregParams(family=family)
    elif family == "keras_mlp":
        params = KerasMlpParams(family=family, hidden_units=[16], epochs=3)
    else:
        checkpoint = build_tiny_bert(root / "tiny-bert", texts_and_labels(40, 1)[0])
        params = TransformerParams(
            family=family, lr=3e-3, epochs=2, batch_size=8, checkpoint=str(checkpoint)
        )
    model = _fit_and_save(params, root / "candidate")
    return family, model, build_model_dir(root / "candidate", root / "mlflow-model")


ALL_FAMILIES = pytest.mark.parametrize(
    "saved", ["tfidf_logreg", "keras_mlp", "hf_transformer"], indirect=True
)


@ALL_FAMILIES
def test_pyfunc_predicts_label_names_from_raw_text(saved):
    import mlflow.pyfunc

    _, model, folder = saved
    loaded = mlflow.pyfunc.load_model(str(folder))
    out = loaded.predict(pd.DataFrame({"text": TEXTS}))
    expected = [LABEL_NAMES[i] for i in model.predict(TEXTS)]
    assert out["label"].tolist() == expected
    np.testing.assert_allclose(
        out["probability"], model.predict_proba(TEXTS).max(axis=1), rtol=1e-5
    )
    assert loaded.metadata.get_input_schema().input_names() == ["text"]


@ALL_FAMILIES
def test_model_folder_pins_its_requirements_and_keeps_an_example(saved):
    family, _, folder = saved
    requirements = (folder / "requirements.txt").read_text().split()
    assert requirements == pip_requirements([family])
    assert all("==" in line for line in requirements)
    assert ("torch==2.13.0" in requirements) == (family == "hf_transformer")
    assert not any(r.startswith("torch") for r in requirements if family != "hf_transformer")
    example = (folder / "input_example.json").read_text()
    assert "Stocks rallied" in example
    assert (folder / "code" / "reprotune" / "serving.py").is_file()


@pytest.mark.parametrize("saved", ["tfidf_logreg"], indirect=True)
def test_baseline_has_the_sklearn_flavor(saved):
    import mlflow.sklearn

    _, model, folder = saved
    flavors = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]
    assert set(flavors) == {"python_function", "sklearn"}
    pipeline = mlflow.sklearn.load_model(str(folder))
    np.testing.assert_array_equal(pipeline.predict(TEXTS), model.predict(TEXTS))


@pytest.mark.parametrize("saved", ["keras_mlp"], indirect=True)
def test_mlp_has_the_keras_flavor(saved):
    import mlflow.keras

    _, model, folder = saved
    flavors = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]
    assert set(flavors) == {"python_function", "keras"}
    keras_model = mlflow.keras.load_model(str(folder))
    proba = np.asarray(keras_model(np.array(TEXTS)))
    np.testing.assert_allclose(proba, model.predict_proba(TEXTS), rtol=1e-5)
