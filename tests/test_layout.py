"""The package's structure: no import circle between its modules, and no module reaching into
another module's private names."""

import ast
import graphlib
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "reptopo"


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports():
    """(importer, imported module, names, at module level) for every import of a reptopo module."""
    for path in SRC.rglob("*.py"):
        name = _module(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text())
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.startswith("reptopo"):
                    yield name, target, [a.name for a in node.names], id(node) in top


def test_no_module_imports_another_modules_private_names():
    bad = []
    for importer, target, names, _ in _imports():
        for n in names:
            private = n.startswith("_") and not n.startswith("__")
            # a package may re-export its own private modules' public names (measures/__init__)
            if private and not target.startswith(importer + ".") and importer != target:
                bad.append(f"{importer} imports {target}.{n}")
            if any(p.startswith("_") and not p.startswith("__") for p in target.split(".")[1:]) and not (
                target.rsplit(".", 1)[0] == importer.rsplit(".", 1)[0] or target.startswith(importer + ".")
            ):
                bad.append(f"{importer} imports from the private module {target}")
    assert not bad, bad


def test_no_import_circle_between_modules():
    modules = {_module(p) for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for importer, target, names, _ in _imports():
        for n in names:  # "from . import x" imports the module x
            candidate = f"{target}.{n}"
            dep = candidate if candidate in modules else target
            if dep != importer and not importer.startswith(dep + "."):  # a package's own __init__ aside
                graph[importer].add(dep)
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import circle: {' -> '.join(exc.args[1])}") from None


def _loaded_after(statement: str) -> set[str]:
    """The top-level modules a fresh interpreter holds after ``statement``."""
    import subprocess
    import sys

    code = f"import sys; {statement}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return set(out.stdout.split())


HEAVY = {"torch", "ripser", "sklearn", "numba", "scipy"}


def test_the_record_and_the_measures_package_import_without_the_estimators_libraries():
    """Reading a record (the analysis, the site, cite) never loads the estimators: the record's
    result types live in reptopo.measures.results and the package loads its modules on first use."""
    assert not _loaded_after("import reptopo.record") & HEAVY
    assert not _loaded_after("import reptopo.measures") & HEAVY
    assert not _loaded_after("from reptopo.cli import build_parser; build_parser()") & HEAVY
    loaded = _loaded_after("from reptopo.measures import twonn")  # a name loads its module, and only then
    assert {"sklearn", "scipy"} <= loaded and "torch" not in loaded


def test_the_estimators_named_like_their_modules_stay_functions_whatever_imported_first():
    """phdim and rtd are each a module and its function: importing the module first by another
    route (as the record's readers do) must not leave the package exporting the module."""
    code = (
        "import reptopo.measures.phdim, reptopo.measures.rtd\n"
        "from reptopo.measures import phdim, rtd\n"
        "import reptopo.measures as M\n"
        "assert callable(phdim) and callable(rtd) and callable(M.phdim) and callable(M.rtd)\n"
        "assert phdim.__module__ == 'reptopo.measures.phdim' and M.rtd.__module__ == 'reptopo.measures.rtd'\n"
    )
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# The pipeline's stages, lowest first: a module imports only from its own stage or an earlier
# one (at module level or inside a function alike). Data flows one way: registry -> tasks and
# models -> training -> probe -> measures -> store -> analysis -> site; the measures and the
# record sit low because every stage reads them.
STAGES = [
    {"errors", "resources", "limits", "names"},
    {"registry"},
    {"measures"},
    {"record"},
    {"protocol"},
    {"pipeline.tasks", "pipeline.probe"},
    {"pipeline.models"},
    {"pipeline.train"},
    {"store"},
    {"pipeline.jobs"},
    {"pipeline.checkpoints"},
    {"pipeline.compare", "pipeline.runner"},
    {"analysis"},
    {"submission.reproduce"},
    {"figures"},
    {"submission", "profiling"},
    {"cite"},
    {"site"},
    {"plots"},
    {"cli"},
]


def _stage(module: str) -> int | None:
    """The stage of a module: that of the longest stage name its path (below reptopo) starts with."""
    path = module.split(".", 1)[1] if "." in module else ""
    found = [
        (len(name), i)
        for i, names in enumerate(STAGES)
        for name in names
        if path == name or path.startswith(name + ".")
    ]
    return max(found)[1] if found else None  # None: a package's own __init__ (pipeline/)


def test_every_module_imports_only_its_own_or_earlier_stages():
    modules = {_module(p) for p in SRC.rglob("*.py")}
    bad = []
    for importer, target, names, _ in _imports():
        for n in names:
            dep = f"{target}.{n}" if f"{target}.{n}" in modules else target
            have, need = _stage(importer), _stage(dep)
            if have is not None and need is not None and need > have:
                bad.append(f"{importer} imports {dep}")
    assert not bad, bad


def test_profiling_and_the_figures_never_load_the_site():
    """The notebook API draws with the shared figures module, not the leaderboard's pages."""
    import subprocess
    import sys

    code = (
        "import sys, reptopo.profiling, reptopo.figures; print(sorted(m for m in sys.modules if 'reptopo.site' in m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_every_import_of_a_reptopo_module_names_one_that_exists():
    """Imports inside functions run only when called: a moved module's stale import is found here."""
    modules = {_module(p) for p in SRC.rglob("*.py")}
    missing = sorted({f"{importer} imports {target}" for importer, target, _, _ in _imports() if target not in modules})
    assert not missing, missing
