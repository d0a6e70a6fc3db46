"""data/sources.json: content hashes of the data sources, so DVC sees an edited data file."""

import http.server
import os
import threading
from pathlib import Path

import pytest
from PIL import Image

from reprotune.data.fingerprint import StatCache, fingerprint, summary
from reprotune.errors import DataError


@pytest.fixture
def cache(tmp_path) -> StatCache:
    return StatCache(tmp_path / "cache" / "fingerprints.json")


def csv_data(train: str, test: str | None = None, **extra) -> dict:
    return {"source": "csv", "files": {"train": train, "test": test}, **extra}


def write_table(path: Path, rows: int) -> Path:
    path.write_text("text,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(rows)))
    return path


def test_an_edited_file_changes_the_fingerprint_and_a_touched_one_does_not(tmp_path, cache):
    table = write_table(tmp_path / "train.csv", 10)
    first = fingerprint(csv_data("train.csv"), tmp_path, {}, cache)
    assert first["files"]["train"]["path"] == "train.csv"  # as written in params.yaml
    os.utime(table, ns=(1, 1))
    assert fingerprint(csv_data("train.csv"), tmp_path, first, cache) == first
    write_table(table, 9)
    assert fingerprint(csv_data("train.csv"), tmp_path, first, cache) != first


def test_md5s_are_cached_by_size_and_mtime(tmp_path, cache):
    write_table(tmp_path / "train.csv", 10)
    fingerprint(csv_data("train.csv"), tmp_path, {}, cache)
    cache.save()
    reloaded = StatCache(cache.path)
    assert reloaded.entries == cache.entries
    fingerprint(csv_data("train.csv"), tmp_path, {}, reloaded)
    assert not reloaded.changed  # nothing re-read


def test_a_missing_file_names_the_key_and_the_fix(tmp_path, cache):
    with pytest.raises(DataError) as caught:
        fingerprint(csv_data("nope.csv"), tmp_path, {}, cache)
    assert "data.files.train = 'nope.csv': no such file" in str(caught.value)
    assert "fix:" in str(caught.value)


def test_under_spark_a_folder_of_files_is_hashed_and_a_cluster_path_is_noted(tmp_path, cache):
    folder = tmp_path / "table"
    folder.mkdir()
    for part in range(3):
        write_table(folder / f"part-{part}.csv", 10 + part)
    (folder / "_SUCCESS").write_text("")
    data = csv_data("table", engine="spark")
    first = fingerprint(data, tmp_path, {}, cache)
    (folder / "_SUCCESS").write_text("a marker, not data")
    assert fingerprint(data, tmp_path, first, cache) == first
    write_table(folder / "part-1.csv", 5)
    assert fingerprint(data, tmp_path, first, cache) != first
    with pytest.raises(DataError, match="no such file"):  # a folder is Spark's only
        fingerprint(csv_data("table"), tmp_path, {}, cache)
    notes = []
    remote = fingerprint(csv_data("s3a://lake/bank/", engine="spark"), tmp_path, {}, cache, notes)
    assert remote["files"]["train"]["unchecked"] and "dvc repro -f fetch" in notes[0]


def test_hub_datasets_are_named_by_name_and_revision(tmp_path, cache):
    found = fingerprint({"source": "hf", "name": "a/b", "revision": None}, tmp_path, {}, cache)
    assert found == {"source": "hf", "name": "a/b", "revision": None}
    assert summary(found, changed=False) == "hf dataset 'a/b' at main (unchanged)"


def test_images_named_by_the_table_are_hashed(tmp_path, cache):
    (tmp_path / "img").mkdir()
    for name, colour in (("a.png", "red"), ("b.png", "blue")):
        Image.new("RGB", (4, 4), colour).save(tmp_path / "img" / name)
    (tmp_path / "t.csv").write_text("photo,y\nimg/a.png,1\nimg/b.png,0\n,1\n")
    data = csv_data("t.csv", features={"photo": "image"})
    first = fingerprint(data, tmp_path, {}, cache)
    assert first["images"]["train.photo"]["files"] == 2
    Image.new("RGB", (4, 4), "green").save(tmp_path / "img" / "b.png")
    assert fingerprint(data, tmp_path, first, cache)["images"] != first["images"]
    assert "train.photo: 2 images" in summary(first, changed=True)


class Handler(http.server.BaseHTTPRequestHandler):
    """/etag answers with a validator; /plain with none (its body is hashed)."""

    body = b"text,label\nx,1\n"
    etag = '"v1"'

    def _answer(self, send_body: bool) -> None:
        self.send_response(200)
        if self.path == "/etag":
            self.send_header("ETag", type(self).etag)
        self.send_header("Content-Length", str(len(type(self).body)))
        self.end_headers()
        if send_body:
            self.wfile.write(type(self).body)

    def do_HEAD(self):
        self._answer(False)

    def do_GET(self):
        self._answer(True)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd
    httpd.shutdown()
    httpd.server_close()


def test_urls_are_checked_by_etag_or_by_their_body(server, tmp_path, cache):
    base, httpd = server
    data = csv_data(f"{base}/etag", f"{base}/plain")
    first = fingerprint(data, tmp_path, {}, cache)
    assert first["files"]["train"]["etag"] == '"v1"' and "md5" in first["files"]["test"]
    assert fingerprint(data, tmp_path, first, cache) == first
    Handler.etag, Handler.body = '"v2"', b"text,label\ny,0\n"
    try:
        second = fingerprint(data, tmp_path, first, cache)
    finally:
        Handler.etag, Handler.body = '"v1"', b"text,label\nx,1\n"
    assert second["files"]["train"] != first["files"]["train"]
    assert second["files"]["test"] != first["files"]["test"]
    httpd.shutdown()
    httpd.server_close()
    notes = []
    assert fingerprint(data, tmp_path, first, cache, notes) == first  # the last one stands
    assert len(notes) == 2 and "out of reach" in notes[0]
