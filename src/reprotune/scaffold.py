"""`reprotune init`: a params.yaml for a new task, from a sample of the user's own file.

It reads up to SAMPLE_ROWS rows, infers each column's feature type (the feature registry's
own inference; image columns are paths to image files), proposes columns to drop
(identifiers, constant columns, columns that give the target away), picks candidates that fit
the task and its size, and writes the Bank Marketing example's commented params.yaml with
those choices filled in. The result is validated like any params.yaml before it is written.
"""

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from reprotune.errors import DataError, ParamsError, did_you_mean
from reprotune.features import infer_type
from reprotune.paths import COMMITTED_CONTRACT
from reprotune.planning import default_budget_s

SAMPLE_ROWS = 5000
# The Bank Marketing example's commented params.yaml: its families, phases, study, ensemble
# and explanations are what a tabular task starts from.
TEMPLATE = Path(__file__).parents[2] / "examples" / "bank-marketing" / "params.yaml"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")
MAX_CLASSES = 50
# Neural families need enough rows to beat the tree models; below this they are left out.
NEURAL_MIN_ROWS = 1000
SEPARATORS = (",", ";", "\t", "|")


@dataclass
class Profile:
    """What init found in the file."""

    location: str
    sep: str
    rows: int
    target: str
    task: str  # binary | multiclass
    classes: list[str]
    features: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)  # column -> reason
    candidates: list[str] = field(default_factory=list)
    hints: dict[str, str] = field(default_factory=dict)  # column -> what to check by hand
    contract: str | None = None  # the data contract written beside params.yaml, if one was
    total_rows: int | None = None  # every row of the file (a local file), for the budget

    @property
    def positive_label(self) -> str | None:
        """Binary tasks: the rarer class, the one precision, recall and costs are about."""
        return self.classes[-1] if self.task == "binary" else None


def read_sample(location: str) -> tuple[pd.DataFrame, str]:
    """Up to SAMPLE_ROWS rows of a CSV (separator detected), Parquet or JSON file, local or
    http(s)."""
    suffix = Path(location.split("?")[0]).suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(location).head(SAMPLE_ROWS), ","
        if suffix in (".json", ".jsonl"):
            return pd.read_json(location, lines=suffix == ".jsonl").head(SAMPLE_ROWS), ","
        head = _read_text_head(location)
    except FileNotFoundError as exc:
        raise DataError(f"--data {location!r}: no such file; fix: check the path") from exc
    except OSError as exc:
        raise DataError(f"--data {location!r} could not be read: {exc}") from exc
    sep = max(SEPARATORS, key=lambda s: head.splitlines()[0].count(s) if head else 0)
    frame = pd.read_csv(io.StringIO(head), sep=sep, nrows=SAMPLE_ROWS)
    return frame, sep


def _read_text_head(location: str) -> str:
    """The file's first SAMPLE_ROWS lines (and a header)."""
    if location.startswith(("http://", "https://")):
        import requests

        response = requests.get(location, timeout=30)
        response.raise_for_status()
        text = response.text
    else:
        text = Path(location).expanduser().read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.splitlines()[: SAMPLE_ROWS + 1])


def profile(
    frame: pd.DataFrame,
    location: str,
    sep: str,
    target: str,
    task: str = "auto",
    images_under: Path | None = None,
) -> Profile:
    if frame.empty:
        raise DataError(f"--data {location!r} has no rows; fix: point at a file with data")
    if target not in frame.columns:
        columns = [str(c) for c in frame.columns]
        raise ParamsError(
            f"--target {target!r} is not a column of {location}; "
            f"{did_you_mean(target, columns)}fix: use one of {columns}"
        )
    classes = _classes(frame[target], target, task)
    found = Profile(
        location=location, sep=sep, rows=len(frame), target=target,
        task="binary" if len(classes) == 2 else "multiclass", classes=classes,
    )  # fmt: skip
    for column in frame.columns:
        if column == target:
            continue
        if images_under is not None and _is_image_column(frame[column], images_under):
            found.features[str(column)] = "image"  # one file per row: not an identifier
            continue
        reason = drop_reason(frame[column], frame[target])
        if reason:
            found.dropped[str(column)] = reason
        else:
            found.features[str(column)] = infer_type(frame[column])
            hint = code_hint(frame[column], found.features[str(column)])
            if hint:
                found.hints[str(column)] = hint
    if not found.features:
        raise DataError(
            f"{location}: every column besides {target!r} was dropped ({found.dropped}); "
            "fix: a file with at least one usable feature"
        )
    found.candidates = pick_candidates(found)
    return found


def _classes(series: pd.Series, target: str, task: str) -> list[str]:
    """The target's classes, rarest last (the positive class of a binary task)."""
    counts = series.dropna().astype(str).value_counts()
    if len(counts) < 2:
        raise DataError(
            f"--target {target!r} has {len(counts)} distinct value(s); fix: a target with "
            "at least two classes"
        )
    if task == "binary" and len(counts) != 2:
        raise ParamsError(
            f"--task binary, but --target {target!r} has {len(counts)} classes; fix: "
            "--task multiclass (or auto)"
        )
    if task == "multiclass" and len(counts) == 2:
        raise ParamsError(
            f"--task multiclass, but --target {target!r} has 2 classes; fix: --task binary "
            "(or auto)"
        )
    if len(counts) > MAX_CLASSES:
        raise DataError(
            f"--target {target!r} has {len(counts)} distinct values: it looks like a "
            "quantity, and reprotune classifies; fix: a class column, or a derived target "
            "(data.target: {expression: ..., bins: median}) after init"
        )
    return list(counts.index)


def drop_reason(series: pd.Series, target: pd.Series) -> str | None:
    """Why a column should not be a feature, or None."""
    present = series.dropna()
    if present.nunique() <= 1:
        return "constant: one value"
    if _same_as_target(series, target):
        return "leak: it determines the target (a copy or a recoding of it)"
    is_text = present.astype(str).str.contains(r"\s").mean() > 0.5
    if present.nunique() == len(series) and not is_text and not _is_float(present):
        return "identifier: a different value on every row"
    return None


CODE_MAX_VALUES = 10


def code_hint(series: pd.Series, kind: str) -> str | None:
    """A number column of a few small integers (0-4, 1-7) may be codes, not amounts: say so
    beside it, with what to write if they are."""
    if kind != "number":
        return None
    present = pd.to_numeric(series.dropna(), errors="coerce").dropna()
    values = sorted(present.unique())
    if present.empty or len(values) > CODE_MAX_VALUES or (present != present.round()).any():
        return None
    shown = f"{int(values[0])}-{int(values[-1])}"
    return f"{len(values)} integer values ({shown}): if they are codes, not amounts, write category"


def _same_as_target(series: pd.Series, target: pd.Series) -> bool:
    """Each of the column's values maps to one class and each class to one value."""
    pairs = pd.DataFrame({"x": series.astype(str), "y": target.astype(str)}).dropna()
    if pairs["x"].nunique() != pairs["y"].nunique():
        return False
    return bool((pairs.groupby("x")["y"].nunique() == 1).all())


def _is_float(values: pd.Series) -> bool:
    numbers = pd.to_numeric(values, errors="coerce")
    return bool(numbers.notna().all() and (numbers != numbers.round()).any())


def _is_image_column(series: pd.Series, folder: Path) -> bool:
    values = series.dropna().astype(str)
    if values.empty or not values.str.lower().str.endswith(IMAGE_SUFFIXES).all():
        return False
    return all((folder / value).is_file() for value in values.head(20))


FUSED = {"family": "keras_multimodal", "categorical": "one_hot", "activation": "leaky_relu",
         "epochs": 30, "patience": 6}  # fmt: skip


def pick_candidates(found: Profile) -> list[str]:
    """Candidates that read these feature types and suit this many rows: the linear
    baseline and the tree families always; a neural network from NEURAL_MIN_ROWS rows (the
    Keras tabular family reads numbers and categories; images need the multimodal one)."""
    from reprotune.config import PARAMS_CLASSES

    kinds = set(found.features.values())
    picked = ["logreg", "random_forest", "xgboost", "xgboost_tuned"]
    if "image" in kinds:
        picked.append("fused")
    elif found.rows >= NEURAL_MIN_ROWS and kinds <= PARAMS_CLASSES["keras_tabular"].reads:
        picked.append("mlp_embeddings")
    return picked


def render(found: Profile) -> str:
    """The template with the profile's choices: a commented params.yaml."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    if not TEMPLATE.is_file():
        raise ParamsError(f"{TEMPLATE} is missing; fix: run init from a reprotune checkout")
    doc = yaml.load(TEMPLATE.read_text())
    _strip_comments(doc)  # the template's are about the Bank data: ours are written below
    name = _slug(found.location)
    doc.yaml_set_start_comment(
        f"Written by `reprotune init` from {found.location} ({found.rows} rows sampled, "
        f"target {found.target!r}, {found.task}).\nReview the feature types and dropped "
        "columns below, then run `dvc repro`. Every key is explained in\n"
        "examples/bank-marketing/params.yaml and the guides in docs/."
    )
    _set(doc, "lr", None, "a transformer's knobs (lr, epochs, batch_size, checkpoint): none here")
    data = doc["data"]
    _set(data, "text_columns", data["text_columns"], "text tasks only")
    _set(data["files"], "train", found.location, "the data file (a path or an http(s) URL)")
    _set(data["files"], "test", None, "one file: data.test_fraction of it is held out")
    _set(data["csv"], "sep", found.sep, "detected")
    _set(data, "label_column", found.target, "the target")
    _set(data, "positive_label", found.positive_label, "the rarer class" if found.task ==
         "binary" else "multiclass: none")  # fmt: skip
    dropped = CommentedSeq(found.dropped)
    for i, reason in enumerate(found.dropped.values()):
        dropped.yaml_add_eol_comment(reason, i)
    _set(data, "drop_columns", dropped, None)
    features = CommentedMap(found.features)
    features.yaml_set_start_comment("inferred from the sample: number, category, binary, "
                                    "text, set or image", indent=4)  # fmt: skip
    for column, hint in found.hints.items():
        features.yaml_add_eol_comment(hint, column)
    _set(data, "features", features, None)
    _candidates(doc, found)
    binary = found.task == "binary"
    metric = "pr_auc" if binary else "macro_f1"
    _set(doc["evaluate"], "threshold", "f1" if binary else "none",
         "tuned on validation for F1; `cost` with evaluate.costs" if binary else None)  # fmt: skip
    _set(doc["evaluate"], "costs", None, "{false_positive: 1, false_negative: 10}: your costs")
    _set(doc["compare"], "metric", metric, None)
    _set(doc["tune"], "metric", metric, "cross-validated over train + validation")
    rows = found.total_rows or found.rows
    _set(doc, "budget_s", default_budget_s(rows), f"seconds for the whole pipeline, from the "
         f"table's {rows:,} rows; null: the counts below as they are")  # fmt: skip
    _set(doc["compare"], "registered_model", f"reprotune-{name}", None)
    _set(doc["tracking"], "experiment", f"reprotune-{name}", None)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _strip_comments(node) -> None:
    """Remove every comment of a ruamel round-trip document, recursively."""
    if hasattr(node, "ca"):
        node.ca.comment = None
        node.ca.items.clear()
        node.ca.end = []
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        _strip_comments(child)


def _candidates(doc, found: Profile) -> None:
    candidates = doc["train"]["candidates"]
    if found.task != "binary":
        for settings in candidates.values():
            settings.pop("scale_pos_weight", None)  # a binary-only knob
    if "fused" in found.candidates:
        candidates["fused"] = dict(FUSED)
    for name in list(candidates):
        if name not in found.candidates:
            del candidates[name]
    metadata = [c for c, kind in found.features.items() if kind != "image"]
    if "fused" in found.candidates:
        for name in ("logreg", "random_forest", "xgboost", "xgboost_tuned"):
            candidates[name]["columns"] = metadata  # the tree and linear families: no images
    phases = doc["compare"]["phases"]
    for phase in list(phases):
        kept = [c for c in phases[phase] if c in found.candidates or c == "stack"]
        phases[phase][:] = kept
    if "fused" in found.candidates:
        phases["optimized"].append("fused")


def _set(mapping, key: str, value, comment: str | None) -> None:
    """Set a key, replacing the template's comment on it with ours (or none)."""
    mapping[key] = value
    mapping.ca.items.pop(key, None)
    if comment:
        mapping.yaml_add_eol_comment(comment, key)


def _slug(location: str) -> str:
    stem = Path(location.split("?")[0]).stem.lower()
    return "".join(c if c.isalnum() else "-" for c in stem).strip("-") or "task"


def validate(text: str) -> None:
    """Stop before writing a params.yaml the pipeline would refuse."""
    from reprotune.config import parse_params
    from reprotune.io import read_yaml

    parse_params(read_yaml(text), source="the generated params.yaml")


def params_location(data: str, out: Path) -> str:
    """The data file as params.yaml names it: a URL or an absolute path as given; a relative
    path stays relative, to the folder of params.yaml (the project root DVC runs from), so a
    committed params.yaml works in a teammate's clone and in CI."""
    path = Path(data).expanduser()
    if "://" in data or path.is_absolute():
        return data if "://" in data else str(path)
    return os.path.relpath(path.resolve(), Path(out).resolve().parent)


def init(
    data: str,
    target: str,
    task: str = "auto",
    images_under: Path | None = None,
    out: Path = Path("params.yaml"),
    dry_run: bool = False,
    force: bool = False,
) -> tuple[Profile, str]:
    location = data if "://" in data else str(Path(data).expanduser().resolve())
    if not dry_run and out.exists() and not force:
        raise ParamsError(f"{out} exists; fix: --force to replace it, or --dry-run to print")
    frame, sep = read_sample(location)
    data_folder = None if "://" in location else Path(location).parent
    if images_under is not None and data_folder is not None and images_under != data_folder:
        raise ParamsError(
            f"--images-under {images_under}: the pipeline reads image paths relative to the "
            f"data file's folder ({data_folder}); fix: put the file in {images_under}, or "
            "leave --images-under out"
        )
    images_under = images_under or data_folder
    found = profile(frame, location, sep, target, task, images_under)
    found.total_rows = count_rows(location) if len(frame) >= SAMPLE_ROWS else len(frame)
    found.location = params_location(data, out)
    text = render(found)
    validate(text)
    if not dry_run:
        contract_text = first_contract(text, location)  # before writing: it may stop
        temporary = out.with_name(out.name + ".tmp")
        temporary.write_text(text)
        temporary.replace(out)
        contract_file = out.parent / COMMITTED_CONTRACT
        if not contract_file.exists():  # a hand-tightened one is never replaced, --force or not
            contract_file.write_text(contract_text, encoding="utf-8")
            found.contract = str(contract_file)
    return found, text


def first_contract(params_text: str, location: str) -> str:
    """The data contract every row of the file meets, as the pipeline will store them (read,
    typed and split by its own code): the first `dvc repro` passes it, and a user tightens it
    by hand. Image columns are left out (each image is checked as it is decoded)."""
    from reprotune.config import parse_params
    from reprotune.data import contract
    from reprotune.data.sources import load_source
    from reprotune.data.tabular import prepare_tabular
    from reprotune.io import read_yaml

    params = parse_params(read_yaml(params_text), source="the generated params.yaml")
    files = params.data.files.model_copy(update={"train": location})
    features = {c: k for c, k in params.data.features.items() if k != "image"}
    data = params.data.model_copy(update={"files": files, "features": features})
    raw = load_source(data, params.seed)
    splits = prepare_tabular(raw.splits, data, params.seed)
    rows = pd.concat([table for _, table in splits.items()], ignore_index=True)
    origin = (
        f"Inferred by `reprotune init` from every row of {location};\n# tighten it by hand "
        "(e.g. age in_range 18..100) and commit it: preprocess checks every split against it."
    )
    return contract.to_yaml(contract.infer(rows, features), origin)


def count_rows(location: str) -> int | None:
    """The rows of a local file (lines of a CSV less its header; a Parquet file's metadata);
    None for a URL or another format (the sample's size then sets the budget)."""
    if "://" in location:
        return None
    path = Path(location)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if suffix not in (".csv", ".txt", ".tsv"):
        return None
    lines = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
    return max(lines - 1, 0)


def summary(found: Profile) -> str:
    kinds: dict[str, list[str]] = {}
    for column, kind in found.features.items():
        kinds.setdefault(kind, []).append(column)
    lines = [
        f"{found.rows} rows sampled from {found.location}; target {found.target!r} "
        f"({found.task}: {', '.join(found.classes[:6])})",
        "features: " + "; ".join(f"{k} {', '.join(v)}" for k, v in kinds.items()),
    ]
    if found.dropped:
        lines.append(
            "dropped: " + "; ".join(f"{c} ({r.split(':')[0]})" for c, r in found.dropped.items())
        )
    lines.append(f"candidates: {', '.join(found.candidates)}")
    rows = found.total_rows or found.rows
    lines.append(
        f"budget_s: {default_budget_s(rows)} s for the whole pipeline (a table of {rows:,} rows); "
        "change it in params.yaml, or null for the fixed counts"
    )
    return "\n".join(lines)
