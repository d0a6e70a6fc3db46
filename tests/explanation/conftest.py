import pytest
from signal_data import fitted, make_signal_table


@pytest.fixture(scope="session")
def signal_splits():
    return make_signal_table(600, 1), make_signal_table(150, 2), make_signal_table(300, 3)


@pytest.fixture(scope="session")
def signal_models(signal_splits):
    train, val, _ = signal_splits
    return {
        "logreg": fitted("logreg", train, val),
        "random_forest": fitted("random_forest", train, val, n_estimators=60),
        "xgboost": fitted("xgboost", train, val, n_estimators=120),
        "xgboost_native": fitted("xgboost", train, val, n_estimators=120, categorical="native"),
        "lightgbm": fitted("lightgbm", train, val, n_estimators=120),
    }
