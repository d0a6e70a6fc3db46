"""The guides as a site: MkDocs builds docs/ strictly (a broken link fails), every page in
the nav is built, the README stays a page and links into the guides, and the built index
renders in headless Chromium with its navigation linking every page."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from servers import CHROMIUM, chromium_dom

ROOT = Path(__file__).parents[1]
MKDOCS = Path(sys.executable).parent / "mkdocs"


def nav_pages() -> list[str]:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def walk(items):
        for item in items:
            for value in item.values():
                yield from walk(value) if isinstance(value, list) else [value]

    return list(walk(config["nav"]))


def build(site: Path, docs: Path | None = None) -> subprocess.CompletedProcess:
    config = ROOT / "mkdocs.yml"
    if docs is not None:  # the same configuration over another docs folder
        config = site.parent / "mkdocs.yml"
        text = (ROOT / "mkdocs.yml").read_text().replace("docs_dir: docs", f"docs_dir: {docs}")
        config.write_text(text)
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    done = build(out)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_every_guide_is_in_the_nav_and_built(site):
    pages = nav_pages()
    assert sorted(pages) == sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    for page in pages:
        built = site / ("index.html" if page == "index.md" else f"{page[:-3]}/index.html")
        assert built.is_file(), page


def test_a_broken_link_fails_the_build(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    (docs / "tour.md").write_text((docs / "tour.md").read_text() + "\n[gone](no-such-page.md)\n")
    done = build(tmp_path / "site", docs)
    assert done.returncode != 0 and "no-such-page.md" in done.stdout + done.stderr


def test_the_readme_is_a_page_that_links_every_guide():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "make pipeline" in readme and "make test-all" in readme
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", readme))
    assert linked == set(nav_pages()) - {"index.md"}


@pytest.mark.e2e
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_the_built_index_renders_in_chromium_and_its_pages_link(site, tmp_path):
    dom = chromium_dom((site / "index.html").as_uri(), tmp_path / "profile", 5000)
    assert "<h1" in dom and "reprotune" in dom
    assert 'class="md-nav' in dom  # Material's navigation, rendered
    hrefs = set(re.findall(r'href="([\w-]+)/"', dom))
    for page in nav_pages():
        if page != "index.md":
            assert page[:-3] in hrefs, page
            assert (site / page[:-3] / "index.html").is_file()
