"""`text`: free text, as TF-IDF word uni- and bigrams inside tabular models; the text families
(TF-IDF baseline, Keras MLP, transformer) read it whole."""

import pandas as pd

from reprotune.features.base import FeatureType, as_strings, is_missing

MIN_MEAN_WORDS = 4  # inference: a string column averaging more words than this is text


class TextFeature(FeatureType):
    name = "text"
    one_column_encoder = True

    def looks_like(self, series: pd.Series) -> bool:
        present = series[~is_missing(series)].astype(str)
        if present.empty or pd.api.types.is_numeric_dtype(series):
            return False
        many_values = present.nunique() > 0.5 * len(present)
        return many_values and present.str.split().str.len().mean() > MIN_MEAN_WORDS

    def cast(self, series: pd.Series, column: str, split: str) -> pd.Series:
        return as_strings(series).fillna("")

    def inputs(self, series: pd.Series) -> pd.Series:
        return as_strings(series).fillna("")

    def profile(self, stored: pd.Series) -> dict:
        from reprotune.features.stats import numeric_profile

        return {**numeric_profile(_words(stored)), "of": "words per text"}

    def drift(self, profile: dict, stored: pd.Series) -> dict:
        from reprotune.features.stats import numeric_drift

        return {**numeric_drift(profile, _words(stored)), "of": "words per text"}

    def contract_checks(self, stored: pd.Series) -> list:
        import pandera.pandas as pa

        lengths = stored.fillna("").astype(str).str.len()
        return [pa.Check.str_length(0, int(lengths.max()) if len(lengths) else 0)]

    def sklearn_encoder(self):
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=20000)


def _words(stored: pd.Series):
    return stored.fillna("").astype(str).str.split().str.len().to_numpy(float)
