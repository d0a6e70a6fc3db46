"""The package's shape, drawn from its imports (tools/import_graph.py): no module imports back
up into one that imports it, lazily or not; config names no family; training and the families
never reach into explanation, serving or the service."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "tools/import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GRAPH = _import_graph()
EDGES = GRAPH.graph()


def test_no_import_cycles_between_modules_or_layers():
    assert GRAPH.cycles(EDGES) == []
    assert GRAPH.cycles(GRAPH.layer_edges(EDGES)) == []


def test_config_knows_the_families_only_through_the_registry():
    imported = EDGES["reprotune.config"]
    assert not [m for m in imported if m.startswith("reprotune.families")]
    assert "reprotune.models.registry" in imported


def test_nothing_imports_a_family_by_name_but_its_own_folder_and_stage():
    for module, imported in EDGES.items():
        for target in imported:
            if target.startswith("reprotune.families."):
                family = target.split(".")[2]
                assert module.startswith(f"reprotune.families.{family}"), (module, target)


def test_training_never_reaches_into_explanation_serving_or_the_service():
    upper = ("reprotune.explanation", "reprotune.serving", "reprotune.service", "reprotune.cli")
    for module, imported in EDGES.items():
        if module.startswith(("reprotune.families", "reprotune.models", "reprotune.data")):
            assert not [t for t in imported if t.startswith(upper)], module
