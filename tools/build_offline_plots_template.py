"""Build `.dvc/plots/offline.html`: DVC's plots page with Vega inlined, so it renders offline.

DVC's default page loads vega, vega-lite and vega-embed from a CDN. This template carries the
three minified bundles inline instead; `.dvc/config` points `plots.html_template` at it.

Regenerate (needs npm):
    cd "$(mktemp -d)" && npm pack vega@5.33.1 vega-lite@5.23.0 vega-embed@6.29.0 \
        && for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
    python tools/build_offline_plots_template.py THAT_DIR
"""

import argparse
from pathlib import Path

BUNDLES = (
    "vega-5.33.1/package/build/vega.min.js",
    "vega-lite-5.23.0/package/build/vega-lite.min.js",
    "vega-embed-6.29.0/package/build/vega-embed.min.js",
)

PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {{refresh_tag}}
    <title>reprotune plots</title>
{scripts}
    <style>
        body {{ font-family: sans-serif; }}
        table {{ border-spacing: 15px; }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def build(packages_dir: Path) -> str:
    scripts = []
    for bundle in BUNDLES:
        source = (packages_dir / bundle).read_text(encoding="utf-8")
        # A literal "</script" inside a bundle would close the inline element early.
        source = source.replace("</script", "<\\/script")
        scripts.append(f"<script>/* {bundle.split('/')[0]} */\n{source}\n</script>")
    return PAGE.format(scripts="\n".join(scripts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages_dir", type=Path, help="folder holding the unpacked npm tarballs")
    parser.add_argument("--out", type=Path, default=Path(".dvc/plots/offline.html"))
    args = parser.parse_args()
    args.out.write_text(build(args.packages_dir), encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
