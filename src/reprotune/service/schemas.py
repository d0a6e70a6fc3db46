"""Request and response models generated from the served model: one `text` field for text
models, one typed field per feature for tabular ones (numbers as float, sets as lists, images
as base64, the rest as strings; null for a missing value), with the model's own input example,
so /docs shows the real fields."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from reprotune.features import FEATURE_TYPES


def record_model(card: dict, typed: bool, max_text_chars: int) -> type[BaseModel]:
    """One record: every feature required (null allowed for a missing value), no other key."""
    text = Annotated[str, Field(max_length=max_text_chars)]
    if not typed:
        fields = {"text": (text, Field(description="the text to classify"))}
        example = {"text": "Stocks rallied as oil prices fell."}
    else:
        fields = {
            column: (
                (text if kind == "text" else FEATURE_TYPES[kind].request_type()) | None,
                Field(description=f"{kind} feature"),
            )
            for column, kind in card["features"].items()
        }
        # A candidate limited to some `columns` takes only those: the example keeps them.
        example = {
            column: value
            for column, value in ((card.get("input_example") or [{}])[0]).items()
            if column in card["features"]
        }
    config = ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})
    return create_model("Record", __config__=config, **fields)


def batch_model(record: type[BaseModel]) -> type[BaseModel]:
    return create_model(
        "Batch",
        __config__=ConfigDict(extra="forbid"),
        records=(list[record], Field(min_length=1, description="records to score together")),
    )


class Prediction(BaseModel):
    label: str
    probabilities: dict[str, float] = Field(description="every class's probability")
    threshold: float | None = Field(
        default=None, description="binary models: P(positive) from here up predicts positive"
    )


class PredictResponse(BaseModel):
    model_version: str = Field(description="the registered version that answered")
    predictions: list[Prediction]


class Attribution(BaseModel):
    feature: str = Field(description="a column (tabular models) or a word (text models)")
    value: float = Field(description="its push toward `explained_class` (signed)")


class Explanation(BaseModel):
    explained_class: str = Field(description="binary: the positive class; else the predicted")
    method: str
    units: str = Field(description="probability, or log-odds for XGBoost's tree SHAP")
    base_value: float | None = Field(
        default=None, description="SHAP: the model's average answer; the values add up from it"
    )
    attributions: list[Attribution] = Field(description="largest |value| first")


class ExplainResponse(BaseModel):
    model_version: str
    prediction: Prediction
    explanation: Explanation


class VersionResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    source: str
    version: str
    name: str | None = None
    alias: str | None = None
    run_id: str | None = None
    git_commit: str | None = None
    data_digest: str | None = None
    test_metrics: dict[str, Any] = {}
