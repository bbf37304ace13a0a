"""The package's layering, checked on the source: every import of every module under src/fastprune.

foundation (errors, utils_io, provenance, threads, options, log, data/, models/, ops/, kernels/)
  <- engines/ <- stages (calibrate, prune, generate, train, evaluate, bench, export; tools/ stands beside
  them) <- orchestrators (pipeline/, cli.py).
A layer imports only its own and lower layers; a stage never imports another stage; kernels/ never import
ops/ (ops dispatch to kernels, not the other way round); an orchestrator imports a stage only through the
stage package's public names (``from fastprune.evaluate import make_tasks``, not ``fastprune.evaluate.lm``).
Function-level and TYPE_CHECKING imports count like any other, and so does ``importlib.import_module``
with a literal name: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Top-level name under fastprune ("" is fastprune/__init__.py itself) -> layer. A new top-level module or
# package must be placed here: an unplaced one fails the check rather than slipping through.
LAYERS = {
    **dict.fromkeys(["", "errors", "utils_io", "provenance", "threads", "options", "option_types", "log",
                     "data", "models", "importance", "ops", "kernels"], "foundation"),
    "engines": "engines",
    **dict.fromkeys(["calibrate", "prune", "generate", "train", "evaluate", "bench", "export", "tools"], "stages"),
    **dict.fromkeys(["pipeline", "cli", "__main__"], "orchestrators"),
}
RANK = {"foundation": 0, "engines": 1, "stages": 2, "orchestrators": 3}

# Accepted violations (importer, imported), each with the reason it is tolerated; none today. The test fails
# on any violation not listed here and on any listed one that is gone, so the list cannot go stale.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Violation:
    importer: str
    imported: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported}: {self.rule}"


def module_files(root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is_package) for every .py file of the package at ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def _import_module_name(node: ast.Call) -> str | None:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name == "import_module" and node.args and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str) and not node.args[0].value.startswith("."):
        return node.args[0].value
    return None


def imports_of(module: str, path: Path, is_package: bool, known: set[str]) -> list[tuple[str, int]]:
    """(imported module, line) of every import in ``path``; ``from pkg import sub`` names the submodule
    ``pkg.sub`` when it is one of ``known``, else ``pkg``."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.append((sub if sub in known else source, node.lineno))
        elif isinstance(node, ast.Call) and (name := _import_module_name(node)):
            found.append((name, node.lineno))
    return found


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def check_layers(root: Path) -> list[Violation]:
    """Every import of the package at ``root`` that breaks the layering (module docstring)."""
    package = root.name
    modules = module_files(root)
    violations = []
    for module, (path, is_package) in modules.items():
        top = _top(module)
        layer = LAYERS.get(top)
        if layer is None:
            violations.append(Violation(module, "-", 1, f"{package}.{top} is in no layer (add it to LAYERS)"))
            continue
        for imported, line in imports_of(module, path, is_package, set(modules)):
            if imported != package and not imported.startswith(package + "."):
                continue
            other = _top(imported)
            if other == top:
                continue
            other_layer = LAYERS.get(other)
            rule = None
            if other_layer is None:
                rule = f"{package}.{other} is in no layer"
            elif RANK[other_layer] > RANK[layer]:
                rule = f"{layer} must not import {other_layer}"
            elif layer == other_layer == "stages":
                rule = "a stage never imports another stage"
            elif top == "kernels" and other == "ops":
                rule = "kernels never import ops"
            elif layer == "orchestrators" and other_layer == "stages" and imported != f"{package}.{other}":
                rule = f"only {package}.{other}'s public names (its __init__), not its internals"
            if rule:
                violations.append(Violation(module, imported, line, rule))
    return violations


def _edges(violations: list[Violation]) -> set[tuple[str, str]]:
    return {(v.importer, v.imported) for v in violations}


def test_no_new_layer_violations():
    new = [v for v in check_layers(SRC / "fastprune") if (v.importer, v.imported) not in KNOWN_VIOLATIONS]
    assert not new, "imports that break the layering:\n" + "\n".join(map(str, new))


def test_known_violations_are_still_violations():
    gone = KNOWN_VIOLATIONS - _edges(check_layers(SRC / "fastprune"))
    assert not gone, f"fixed, so take them out of KNOWN_VIOLATIONS: {sorted(gone)}"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "fastprune" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "fastprune"


def test_checker_catches_each_rule(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "from fastprune.errors import E\n",
        "errors.py": "",
        "ops/__init__.py": "from .impl import f\n",
        "ops/impl.py": "def f():\n    from fastprune.prune.api import g  # lazy still counts\n",
        "kernels/__init__.py": "",
        "kernels/k.py": "from ..ops import impl\n",
        "engines/__init__.py": "",
        "engines/e.py": "from fastprune import errors\nimport fastprune.generate.types\n",
        "generate/__init__.py": "",
        "generate/types.py": "from fastprune.engines import e\nfrom fastprune.generate import types\n",
        "prune/__init__.py": "",
        "prune/api.py": "from fastprune.ops import f\n",
        "bench/__init__.py": "",
        "bench/suite.py": "import importlib\nsurgery = importlib.import_module('fastprune.prune.api')\n",
        "pipeline/__init__.py": "",
        "pipeline/runner.py": "from fastprune.prune import api\nfrom fastprune.prune import g\nimport fastprune.cli\n",
        "cli.py": "from fastprune.pipeline import runner\n",
        "newthing.py": "",
    })
    found = {(v.importer, v.imported, v.rule) for v in check_layers(root)}
    assert found == {
        ("fastprune.ops.impl", "fastprune.prune.api", "foundation must not import stages"),
        ("fastprune.kernels.k", "fastprune.ops.impl", "kernels never import ops"),
        ("fastprune.engines.e", "fastprune.generate.types", "engines must not import stages"),
        ("fastprune.bench.suite", "fastprune.prune.api", "a stage never imports another stage"),
        ("fastprune.pipeline.runner", "fastprune.prune.api",
         "only fastprune.prune's public names (its __init__), not its internals"),
        ("fastprune.newthing", "-", "fastprune.newthing is in no layer (add it to LAYERS)"),
    }


def test_checker_passes_a_clean_tree(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "",
        "errors.py": "",
        "models/__init__.py": "from fastprune.errors import E\nfrom . import loader\n",
        "models/loader.py": "from ..errors import E\n",
        "ops/__init__.py": "from fastprune.kernels import k\n",
        "kernels/__init__.py": "",
        "kernels/k.py": "",
        "engines/__init__.py": "from fastprune.models.loader import x\n",
        "evaluate/__init__.py": "from fastprune.evaluate.lm import EvalModel\n",
        "evaluate/lm.py": "def f():\n    from fastprune.engines import run\n    from fastprune.ops import k\n",
        "pipeline/__init__.py": "from fastprune.evaluate import EvalModel\nfrom fastprune.models import loader\n",
    })
    assert check_layers(root) == []


@pytest.mark.parametrize("source", ["from fastprune.generate import x\n", "import fastprune.generate\n"])
def test_public_names_are_the_stage_package_itself(tmp_path, source):
    root = _tree(tmp_path, {"__init__.py": "", "generate/__init__.py": "", "pipeline/runner.py": source})
    assert check_layers(root) == []


def test_no_module_beside_a_script_shadows_the_standard_library():
    """A module run as a script (``python path/to/x.py``: the vLLM worker, the sandbox init) puts its folder
    first on sys.path, so a sibling named like a standard module (``types.py``) replaces it for every import
    in that process, the interpreter's own included."""
    scripts = [p for p in (SRC / "fastprune").rglob("*.py") if '__name__ == "__main__"' in p.read_text()]
    assert scripts
    shadowing = sorted(str(sibling.relative_to(SRC)) for script in scripts for sibling in script.parent.glob("*.py")
                       if sibling.stem in sys.stdlib_module_names)
    assert not shadowing, f"rename these (they shadow the standard library beside a script): {shadowing}"
