"""keras_multimodal on generated POIs whose photo colour carries half the signal and whose
metadata carries the other half: fused beats either branch alone."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from image_data import FEATURES, make_poi_like
from sklearn.metrics import roc_auc_score

from reprotune import models
from reprotune.config import PARAMS_CLASSES
from reprotune.features.image import open_image, png_bytes, to_rgb_square

METADATA = ["tier", "category", "tags"]
SMALL = {"epochs": 25, "patience": 6, "image": {"blocks": 2, "filters": 8}, "dropout": 0.2}


def frame(n: int, seed: int) -> pd.DataFrame:
    table, images = make_poi_like(n, seed)
    table["photo"] = [png_bytes(to_rgb_square(image, 16)) for image in images]
    table["label"] = (table["Likes"] + table["Bookmarks"] - table["Dislikes"] >= 95).astype(int)
    return table


@pytest.fixture(scope="module")
def splits():
    return frame(360, 1), frame(80, 2), frame(300, 3)


def fitted(splits, **settings):
    train, val, _ = splits
    params = PARAMS_CLASSES["keras_multimodal"](family="keras_multimodal", **{**SMALL, **settings})
    model = models.create(params, ["low", "high"], 0, FEATURES)
    model.fit(model.select_inputs(train), train["label"], model.select_inputs(val), val["label"])
    return model


def auc(model, test) -> float:
    return roc_auc_score(test["label"], model.predict_proba(model.select_inputs(test))[:, 1])


@pytest.fixture(scope="module")
def fused(splits):
    return fitted(splits)


def test_fused_beats_metadata_only_and_image_only(splits, fused):
    test = splits[2]
    both = auc(fused, test)
    image_only = auc(fitted(splits, columns=["photo"]), test)
    metadata_only = auc(fitted(splits, columns=METADATA), test)
    assert both > image_only + 0.02 and both > metadata_only + 0.02, (
        both,
        image_only,
        metadata_only,
    )
    assert image_only > 0.6 and metadata_only > 0.6


def test_one_hot_categories_train_too_and_columns_restrict_the_inputs(splits):
    model = fitted(splits, categorical="one_hot", epochs=3, columns=["category", "photo"])
    assert model.features == {"category": "category", "photo": "image"}
    assert "category_onehot" in {layer.name for layer in model.model.layers}


def test_saved_model_reloads_and_predicts_the_same(splits, fused, tmp_path: Path):
    fused.save(tmp_path, extra={})
    again, card = models.load(tmp_path)
    test = splits[2].head(20)
    np.testing.assert_allclose(
        again.predict_proba(again.select_inputs(test)),
        fused.predict_proba(fused.select_inputs(test)),
    )
    assert card["features"]["photo"] == "image"


def test_training_twice_gives_the_same_model(splits):
    one = fitted(splits, epochs=2)
    two = fitted(splits, epochs=2)
    test = splits[2].head(30)
    np.testing.assert_array_equal(
        one.predict_proba(one.select_inputs(test)), two.predict_proba(two.select_inputs(test))
    )


def resized(table: pd.DataFrame, size: int) -> pd.DataFrame:
    table = table.copy()
    table["photo"] = [png_bytes(to_rgb_square(open_image(b), size)) for b in table["photo"]]
    return table


def test_a_backbone_loads_its_weights_from_a_local_file_then_fine_tunes(splits, tmp_path):
    import keras

    weights = tmp_path / "mobilenet.weights.h5"
    keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    ).save_weights(weights)
    small = tuple(resized(f.head(60), 32) for f in splits)  # MobileNetV2 takes 32x32 and up
    image = {"backbone": "MobileNetV2", "weights": str(weights), "fine_tune_epochs": 1}
    model = fitted(small, epochs=1, patience=3, image=image, columns=["photo"])
    assert model.backbone.trainable  # unfrozen for the fine-tuning epoch
    assert model.predict_proba(model.select_inputs(small[2])).shape == (60, 2)


def test_a_missing_backbone_weights_file_names_the_key(splits, tmp_path):
    from reprotune.errors import ParamsError

    image = {"backbone": "MobileNetV2", "weights": str(tmp_path / "nope.h5")}
    with pytest.raises(ParamsError, match=r"image.weights .*no such file.*fix:"):
        fitted(splits, epochs=1, image=image, columns=["photo"])
