"""Rewrite each stage's code dependency in dvc.yaml: `code/<script>.json`, the digest of the
code it runs that the `sources` stage writes (reprotune.codedeps), instead of module paths.

    python tools/dvc_code_deps.py          # show what would change
    python tools/dvc_code_deps.py --write  # rewrite dvc.yaml (comments kept)

tests/test_codedeps.py fails when dvc.yaml and the stage scripts disagree; this fixes it."""

import difflib
import io
import sys
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedSeq

from reprotune import codedeps

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = {"explain_ensemble": "explain"}  # explain_ensemble runs the explain script


def code_dep(stage: str) -> str:
    return f"{codedeps.CODE_DIR}/{SCRIPT.get(stage, stage)}.json"


def rewritten(text: str) -> str:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    document = yaml.load(text)
    for name, stage in document["stages"].items():
        if name == codedeps.ALWAYS_RUN:
            continue
        body = stage.get("do", stage)
        deps = body["deps"]
        comments = {str(d): deps.ca.items.get(i) for i, d in enumerate(deps)}
        others = [
            d for d in deps if not str(d).startswith(("src/", "stages/", f"{codedeps.CODE_DIR}/"))
        ]
        listed = CommentedSeq([code_dep(name), *others])
        for i, dep in enumerate(listed):
            if comments.get(str(dep)):
                listed.ca.items[i] = comments[str(dep)]
        body["deps"] = listed
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def main(argv: list[str]) -> int:
    path = ROOT / "dvc.yaml"
    before = path.read_text(encoding="utf-8")
    after = rewritten(before)
    if "--write" in argv:
        path.write_text(after, encoding="utf-8")
    else:
        sys.stdout.writelines(
            difflib.unified_diff(before.splitlines(True), after.splitlines(True), "dvc.yaml", "new")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
