"""Which source files a stage's results depend on, read from the code's own imports.

DVC re-runs a stage when one of its listed deps changes, so a module a stage uses but does not
list is a silent hole: editing it retrains nothing. `stage_modules` follows every `import`
(function-level ones included) from a stage script through the package; dvc.yaml lists what it
finds (tests/test_codedeps.py keeps the two equal) and the configure stage writes a digest of
each candidate family's modules into configs/<candidate>.json, so editing a module that one
family uses re-trains exactly the candidates of the families that use it.

Modules that only speak to the console or MLflow (`NOT_RESULTS`) are not followed: editing a
log line must not retrain anything. The families are reached through their registry by name
(reprotune.models.registry), not by an import: a family's settings and code reach its stages through
the configs/<candidate>.json that configure writes, with the digest below.
"""

import ast
import hashlib
import json
from functools import cache
from pathlib import Path

PACKAGE = "reprotune"
SOURCE_ROOT = Path(__file__).resolve().parent.parent  # src/
# Console lines, MLflow logging, error wording and the exit-status wrapper: none of them
# changes what a stage writes under DVC. Nor does this module, except through the digests in
# configs/, which configure (depending on the whole package) rewrites.
NOT_RESULTS = frozenset(
    {
        "reprotune.codedeps",
        "reprotune.errors",
        "reprotune.launcher",
        "reprotune.lineage",
        "reprotune.stage",
        "reprotune.summaries",
        "reprotune.tracking",
    }
)


def module_file(module: str, root: Path = SOURCE_ROOT) -> Path | None:
    """The file that defines `module`, or None when it is not a module of the package."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parents(module: str) -> list[str]:
    """Importing a.b.c runs a/__init__ and a/b/__init__ first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _top_level_nodes(tree: ast.AST):
    """Nodes that run when the module is imported: everything outside function bodies."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            todo.extend(ast.iter_child_nodes(node))


def imported_modules(path: Path, root: Path = SOURCE_ROOT, top_level: bool = False) -> set[str]:
    """The package's modules that `path` imports (anywhere in it, or with `top_level` only at
    import time), with their parent packages."""
    stat = Path(path).stat()  # a file edited since is parsed again
    return set(_imported(str(path), stat.st_mtime_ns, stat.st_size, root, top_level))


@cache
def _imported(path: str, mtime_ns: int, size: int, root: Path, top_level: bool) -> frozenset:
    """Each stage's closure visits the same modules: each is parsed once a process."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in _top_level_nodes(tree) if top_level else ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from reprotune import paths` imports the module reprotune.paths.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == PACKAGE and module_file(name, root) is not None:
                found.add(name)
    return frozenset(found)


def _followed(imported: str) -> bool:
    return imported not in NOT_RESULTS


@cache
def _closure_of(module: str, root: Path) -> frozenset[str]:
    """Modules reached from `module`. Importing a.b.c runs the packages a and a.b first, but
    only their import-time code: a function of a package's __init__ runs only when something
    imports it by name, which is then a full visit."""
    full: set[str] = set()
    init_only: set[str] = set()
    todo = [(module, True)]
    while todo:
        current, whole = todo.pop()
        if current in full or (not whole and current in init_only):
            continue
        (full if whole else init_only).add(current)
        path = module_file(current, root)
        if path is None:
            continue
        imported = imported_modules(path, root, top_level=not whole)
        todo.extend((m, True) for m in imported if _followed(m))
        todo.extend((parent, False) for parent in _parents(current))
    return frozenset(full | init_only)


def module_closure(module: str, root: Path = SOURCE_ROOT) -> set[str]:
    """`module` and every package module it reaches through followed imports."""
    return set(_closure_of(module, root))


def script_closure(script: Path, root: Path = SOURCE_ROOT) -> set[str]:
    """The package modules a stage script reaches."""
    modules: set[str] = set()
    for imported in imported_modules(script, root):
        if imported not in NOT_RESULTS:
            modules |= module_closure(imported, root)
    return modules


def family_modules(family: str, root: Path = SOURCE_ROOT) -> list[Path]:
    """Every source file a model family's code runs, sorted, relative to `root`'s parent."""
    from reprotune.models.registry import model_module

    modules = module_closure(model_module(family), root)
    files = {module_file(m, root) for m in modules} - {None}
    return sorted(path.relative_to(root.parent) for path in files)


def project_source_root() -> Path:
    """The project's src/ (what dvc.yaml's deps name), else the installed package's."""
    from reprotune.paths import project_root

    src = project_root() / "src"
    return src if (src / PACKAGE / "__init__.py").is_file() else SOURCE_ROOT


def family_code(family: str, root: Path | None = None) -> dict:
    """What configs/<candidate>.json records of the family's code: its modules and one md5
    of their contents (a change to any of them re-trains the family's candidates)."""
    root = root or project_source_root()
    digest = hashlib.md5()
    files = family_modules(family, root)
    for relative in files:
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update((root.parent / relative).read_bytes() + b"\0")
    return {"md5": digest.hexdigest(), "modules": [p.as_posix() for p in files]}


def stage_script(stage: str, project: Path) -> Path:
    return project / "stages" / f"{stage}.py"


def stage_code_files(stage: str, project: Path) -> set[Path]:
    """The stage script and the package files it runs, relative to the project."""
    root = project / "src"
    script = stage_script(stage, project)
    files = {module_file(m, root) for m in script_closure(script, root)} - {None}
    return {script.relative_to(project)} | {f.relative_to(project) for f in files}


def compact(files: set[Path], project: Path) -> list[str]:
    """`files` as dvc.yaml lists them: a folder when every .py file under it is in `files`
    (so the listing stays short and still exact), else the files one by one."""
    chosen: set[Path] = set(files)
    folders = sorted({p.parent for p in files}, key=lambda p: len(p.parts))
    for folder in folders:
        inside = {p.relative_to(project) for p in (project / folder).rglob("*.py")}
        if inside and inside <= files and not any(f in chosen for f in folder.parents):
            chosen = {p for p in chosen if folder not in p.parents} | {folder}
    return sorted(p.as_posix() for p in chosen)


# -- one digest file per stage ------------------------------------------------------------------
# Each stage depends on code/<script>.json instead of listing the ~30 modules it runs: the
# always-run `sources` stage rewrites a file only when the code it names changed, so an edited
# module marks exactly the stages that run it stale (`dvc status` names the file; its content
# names the module), and a no-op `dvc repro` checks one code dependency a stage, not 1,200.
CODE_DIR = "code"
ALWAYS_RUN = "sources"  # writes the digests; runs on every repro, so it needs none
WHOLE_PACKAGE = ("configure",)  # digests every family's modules into configs/


def stage_scripts(project: Path) -> list[str]:
    """The stage scripts whose code has a digest file (every one but `sources`)."""
    names = sorted(p.stem for p in (project / "stages").glob("*.py"))
    return [n for n in names if n != ALWAYS_RUN]


def digested_files(script: str, project: Path) -> list[Path]:
    """The files a stage's digest covers, relative to the project: the script and the package
    modules it runs (configure: the whole package)."""
    if script in WHOLE_PACKAGE:
        package = sorted((project / "src" / PACKAGE).rglob("*.py"))
        files = {stage_script(script, project).relative_to(project)}
        return sorted(files | {p.relative_to(project) for p in package})
    return sorted(stage_code_files(script, project))


def stage_digest(script: str, project: Path) -> dict:
    files = digested_files(script, project)
    each = {p.as_posix(): hashlib.md5((project / p).read_bytes()).hexdigest() for p in files}
    whole = hashlib.md5(json.dumps(each, sort_keys=True).encode()).hexdigest()
    return {"stage": script, "md5": whole, "files": each}


def write_stage_digests(project: Path) -> list[str]:
    """code/<script>.json for every stage script, rewritten only when it changed; returns the
    scripts whose code changed."""
    folder = project / CODE_DIR
    folder.mkdir(exist_ok=True)
    changed = []
    for script in stage_scripts(project):
        target = folder / f"{script}.json"
        text = json.dumps(stage_digest(script, project), indent=2, sort_keys=True) + "\n"
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            partial = target.with_suffix(".json.partial")
            partial.write_text(text, encoding="utf-8")
            partial.replace(target)
            changed.append(script)
    for stale in set(p.stem for p in folder.glob("*.json")) - set(stage_scripts(project)):
        (folder / f"{stale}.json").unlink()
    return changed
