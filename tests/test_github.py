"""The report comment against a local fake of the GitHub REST API (never the network)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from reprotune.cli import main
from reprotune.github import upsert_comment
from reprotune.report import MARKER


class FakeGitHub(BaseHTTPRequestHandler):
    comments: ClassVar[list[dict]] = []
    requests: ClassVar[list[tuple[str, str, dict | None]]] = []
    read_only = False

    def _reply(self, status: int, payload) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def do_GET(self):
        self.requests.append(("GET", self.path, None))
        assert self.headers["Authorization"] == "Bearer t0ken"
        query = parse_qs(urlsplit(self.path).query)
        assert query["per_page"] == ["100"]
        page = int(query["page"][0])
        self._reply(200, self.comments[(page - 1) * 100 : page * 100])

    def do_POST(self):
        body = self._body()
        self.requests.append(("POST", self.path, body))
        if self.read_only:
            return self._reply(403, {"message": "Resource not accessible by integration"})
        comment = {"id": 1000 + len(self.comments), "body": body["body"]}
        self.comments.append(comment)
        self._reply(201, comment)

    def do_PATCH(self):
        body = self._body()
        self.requests.append(("PATCH", self.path, body))
        comment_id = int(self.path.rsplit("/", 1)[1])
        for comment in self.comments:
            if comment["id"] == comment_id:
                comment["body"] = body["body"]
        self._reply(200, {"id": comment_id})

    def log_message(self, *args):
        pass


@pytest.fixture
def github():
    FakeGitHub.comments = [{"id": i, "body": f"chatter {i}"} for i in range(150)]
    FakeGitHub.requests = []
    FakeGitHub.read_only = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield FakeGitHub, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_first_push_creates_one_comment_later_pushes_edit_it(github):
    fake, api = github
    assert upsert_comment(api, "o/r", 7, "t0ken", f"{MARKER}\nfirst") == "created"
    assert upsert_comment(api, "o/r", 7, "t0ken", f"{MARKER}\nsecond") == "updated"
    reports = [c for c in fake.comments if MARKER in c["body"]]
    assert len(reports) == 1 and reports[0]["body"].endswith("second")
    methods = [m for m, _, _ in fake.requests]
    assert methods == ["GET", "GET", "POST", "GET", "GET", "PATCH"]  # 150 comments: 2 pages
    assert fake.requests[-1][1] == f"/repos/o/r/issues/comments/{reports[0]['id']}"


def test_marker_is_added_when_the_body_lacks_it(github):
    fake, api = github
    upsert_comment(api, "o/r", 7, "t0ken", "plain")
    assert fake.comments[-1]["body"].startswith(MARKER)


def test_fork_pull_request_token_skips_without_failing(github, tmp_path, monkeypatch, capsys):
    fake, api = github
    fake.read_only = True
    body = tmp_path / "report.md"
    body.write_text(f"{MARKER}\nreport")
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
    args = ["comment", "--repo", "o/r", "--pr", "7", "--body-file", str(body), "--api-url", api]
    assert main(args) == 0
    assert "cannot write" in capsys.readouterr().err
    assert not any(MARKER in c["body"] for c in fake.comments)
