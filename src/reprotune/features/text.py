"""`text`: free text, as TF-IDF word uni- and bigrams inside tabular models; the text families
(TF-IDF baseline, Keras MLP, transformer) read it whole."""

import re

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
        """Words per text, and each text's share of words outside the training rows' most
        common VOCABULARY words (new jargon, another language, broken encoding). Measured out
        of sample, as new rows will be: the vocabulary comes from one half of the rows, the
        shares from the other (measured on the rows that built it, every word would be known
        and every new text would look drifted)."""
        from reprotune.features.stats import numeric_profile, random_halves

        built, measured = random_halves(len(stored))
        vocabulary = _vocabulary(stored.iloc[built])
        unseen = numeric_profile(_unseen_share(stored.iloc[measured], set(vocabulary)))
        return {
            **numeric_profile(_words(stored)),
            "of": "words per text",
            "vocabulary": vocabulary,
            "unseen_words": unseen,
            "out_of_sample": True,
        }

    def drift(self, profile: dict, stored: pd.Series) -> dict:
        """The verdict of whichever measure drifted (else moved more); a profile saved
        before the second measure existed, or with it measured in sample (before profile
        version 2), gets the first alone, and says why."""
        from reprotune.features.stats import numeric_drift

        lengths = {**numeric_drift(profile, _words(stored)), "of": "words per text"}
        if "unseen_words" not in profile:
            return lengths
        if not profile.get("out_of_sample"):
            note = (
                "the vocabulary share is left out: this model's profile measured it on the "
                "rows that built the vocabulary (profile version 1); re-train to re-profile"
            )
            return {**lengths, "note": note}
        share = _unseen_share(stored, set(profile["vocabulary"]))
        unseen = {
            **numeric_drift(profile["unseen_words"], share),
            "of": "share of words outside the training vocabulary",
        }
        return max((lengths, unseen), key=lambda found: (found["drifted"], found["psi"] or 0))

    def contract_checks(self, stored: pd.Series) -> list:
        """Its length, and a word in it (a letter or digit: not empty, blank or control
        characters alone) when every training text has one."""
        import pandera.pandas as pa

        lengths = stored.fillna("").astype(str).str.len()
        checks = [pa.Check.str_length(0, int(lengths.max()) if len(lengths) else 0)]
        if len(stored) and stored.fillna("").astype(str).map(has_words).all():
            register_contract_checks()
            checks.append(pa.Check.text_has_words())
        return checks

    def sklearn_encoder(self):
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=20000)


VOCABULARY = 2000  # the training rows' most common words a profile keeps


def _words(stored: pd.Series):
    return stored.fillna("").astype(str).str.split().str.len().to_numpy(float)


def _tokens(stored: pd.Series) -> pd.Series:
    return stored.fillna("").astype(str).str.lower().str.split()


def _vocabulary(stored: pd.Series) -> list[str]:
    counts = _tokens(stored).explode().dropna().value_counts()
    return [str(word) for word in counts.index[:VOCABULARY]]


def _unseen_share(stored: pd.Series, vocabulary: set[str]):
    """Per text, the share of its words outside `vocabulary` (NaN for an empty text)."""
    words = _tokens(stored).reset_index(drop=True).explode()
    present = words.dropna()
    unseen = (~present.isin(vocabulary)).astype(float).groupby(level=0).mean()
    return unseen.reindex(range(len(stored))).to_numpy(float)


WORD = re.compile(r"\w")


def has_words(value) -> bool:
    """A letter or digit somewhere: not empty, blank or control characters alone."""
    return bool(WORD.search(str(value)))


def register_contract_checks() -> None:
    """`text_has_words`, a pandera check that serializes by name (contract YAML); registered
    once per process, before a contract that uses it is read or built."""
    import pandera.extensions as extensions
    import pandera.pandas as pa

    if hasattr(pa.Check, "text_has_words"):
        return

    @extensions.register_check_method()
    def text_has_words(series):
        return series.map(lambda v: v is None or (isinstance(v, float) and v != v) or has_words(v))
