"""`tfidf_logreg`: TF-IDF n-grams and logistic regression, the text baseline."""

from typing import ClassVar, Literal

from pydantic import Field, PositiveFloat, PositiveInt

from reprotune.schema import FamilyParams


class TfidfLogregParams(FamilyParams):
    """TF-IDF features + logistic regression: the baseline every candidate must beat."""

    family: Literal["tfidf_logreg"]
    quick: ClassVar[bool] = True
    native_flavor = "sklearn"
    # word: word n-grams; char_wb: character n-grams inside word boundaries (robust to
    # spelling, inflection and rare names); word+char_wb: both, side by side.
    analyzer: Literal["word", "char_wb", "word+char_wb"] = "word"
    ngram_max: int = Field(default=2, ge=1, le=5)
    char_ngram_max: int = Field(default=5, ge=2, le=8)  # character n-grams from 2 to this
    sublinear_tf: bool = True
    min_df: PositiveInt = 1
    max_features: PositiveInt | None = None
    C: PositiveFloat = 10.0
    max_iter: PositiveInt = 1000
    # Without early stopping the validation rows have no use of their own: fit on them too.
    fit_on_val: bool = True


PARAMS = TfidfLogregParams
