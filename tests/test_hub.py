"""The Hub out of reach: stop at once with the fix, or use the cached copy without asking."""

import os
import time

import pytest
from corpus import LABEL_NAMES, texts_and_labels
from servers import free_port

from reprotune import hub, models
from reprotune.data.settings import DataParams
from reprotune.data.sources import fetch
from reprotune.errors import DataError, ParamsError
from reprotune.families.hf_transformer import TransformerParams


@pytest.fixture
def hub_unreachable(tmp_path, monkeypatch):
    """Online settings (no offline switch), but the Hub's endpoint is a closed loopback port
    and nothing is cached."""
    for name in hub.OFFLINE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    return tmp_path


def test_hub_dataset_out_of_reach_fails_at_once_with_the_fix(hub_unreachable):
    start = time.perf_counter()
    with pytest.raises(DataError) as caught:
        fetch(DataParams(source="hf", name="fancyzhx/ag_news"), 0, hub_unreachable / "raw")
    elapsed = time.perf_counter() - start
    message = str(caught.value)
    assert "out of reach (no connection to 127.0.0.1:" in message
    assert "data.source: csv" in message  # the fix
    assert elapsed < 2, f"took {elapsed:.1f}s: it retried instead of failing at once"
    assert not (hub_unreachable / "raw").exists()


def test_hub_checkpoint_out_of_reach_fails_at_once_with_the_fix(hub_unreachable):
    params = TransformerParams(
        family="hf_transformer", lr=1e-3, epochs=1, batch_size=4, checkpoint="nobody/tiny-bert"
    )
    model = models.create(params, LABEL_NAMES, seed=0)
    start = time.perf_counter()
    with pytest.raises(ParamsError, match=r"(?s)out of reach.*no copy is cached.*local model"):
        model.fit(*texts_and_labels(2, 1), *texts_and_labels(1, 2))
    assert time.perf_counter() - start < 2


def test_a_cached_copy_is_used_offline_without_asking_the_hub(hub_unreachable, monkeypatch):
    (hub.hub_cache() / "models--nobody--tiny-bert").mkdir(parents=True)
    (hub.datasets_cache() / "owner___set").mkdir(parents=True)
    for name in hub.OFFLINE_ENV:
        monkeypatch.setenv(name, "")  # restored after the test, whatever go_offline sets
    assert hub.check_reachable("nobody/tiny-bert", "model") == "cached"
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert hub.check_reachable("owner/set", "dataset") is None  # offline by choice now


def test_a_reachable_endpoint_is_asked(monkeypatch):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
    try:
        assert hub.unreachable_reason() is None
    finally:
        listener.close()
