"""One pull-request comment per report: found by its hidden marker, edited on later pushes."""

import json
import urllib.error
import urllib.request

from reprotune.report import MARKER

API_VERSION = "2022-11-28"


class ReadOnlyToken(Exception):
    """The token may not write comments (a pull request from a fork)."""


def _request(method: str, url: str, token: str, body: dict | None = None):
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": API_VERSION,
            "Content-Type": "application/json",
            "User-Agent": "reprotune",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        if exc.code in (403, 404) and method != "GET":
            raise ReadOnlyToken(f"{method} {url}: HTTP {exc.code}") from exc
        raise


def _find_report_comment(api: str, repo: str, pr: int, token: str) -> int | None:
    page = 1
    while True:
        url = f"{api}/repos/{repo}/issues/{pr}/comments?per_page=100&page={page}"
        comments = _request("GET", url, token)
        for comment in comments:
            if MARKER in (comment.get("body") or ""):
                return comment["id"]
        if len(comments) < 100:
            return None
        page += 1


def upsert_comment(api: str, repo: str, pr: int, token: str, body: str) -> str:
    """Edit the pull request's report comment, or create it; returns 'updated' or 'created'."""
    api = api.rstrip("/")
    if MARKER not in body:
        body = f"{MARKER}\n{body}"
    existing = _find_report_comment(api, repo, pr, token)
    if existing is not None:
        _request("PATCH", f"{api}/repos/{repo}/issues/comments/{existing}", token, {"body": body})
        return "updated"
    _request("POST", f"{api}/repos/{repo}/issues/{pr}/comments", token, {"body": body})
    return "created"
