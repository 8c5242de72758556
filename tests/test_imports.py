"""The shape of the package: no import circle, and no torch or training code on the inference path.

The imports are read from the source (ast), so this also covers modules no other test imports,
and lazy imports inside functions count: a command that imports torch when it runs is as much
on the inference path as one that imports it at the top.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "emostyle"
# Where torch and emostyle.training may be imported: the workbench and its commands.
WORKBENCH = ("emostyle.training", "emostyle.cli_train")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_from(node: ast.ImportFrom, name: str, is_package: bool) -> str | None:
    """The absolute module ``from ... import`` in module ``name`` reads from; None when a
    relative import climbs out of the package."""
    if not node.level:
        return node.module
    parts = name.split(".") if is_package else name.split(".")[:-1]
    if node.level - 1 >= len(parts):
        return None
    base = parts[:len(parts) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(path: Path, name: str | None = None) -> set[str]:
    """Every module ``path`` imports (absolute names, relative imports resolved against
    ``name``, by default the module ``path`` is), outside ``if TYPE_CHECKING:`` blocks."""
    name = name or module_name(path)
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                module = imported_from(child, name, is_package)
                for a in child.names if module else ():
                    # `from emostyle import pipeline` (or `from . import pipeline`) imports a
                    # module
                    sub = f"{module}.{a.name}"
                    found.add(sub if sub in MODULES else module)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


GRAPH = {name: {m for m in imports(path) if m in MODULES and m != name}
         for name, path in MODULES.items()}


def cycle_from(start: str) -> list[str] | None:
    """An import circle through ``start``, as a path of module names, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in GRAPH[node]:
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_the_graph_is_read():
    assert GRAPH["emostyle.pipeline"] >= {"emostyle.classifier", "emostyle.results"}
    assert "emostyle.cli_common" in GRAPH["emostyle.cli_style"]
    assert "emostyle.faces" in GRAPH["emostyle.pipeline"]  # a lazy import counts too
    assert "emostyle.stylizer" not in GRAPH["emostyle.pipeline"]  # TYPE_CHECKING does not


def test_no_import_circle():
    circles = [c for c in (cycle_from(m) for m in sorted(GRAPH)) if c]
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_relative_imports_count(tmp_path):
    # A circle or a torch path written with relative imports is still one.
    source = tmp_path / "mod.py"
    source.write_text("from . import pipeline\nfrom .app import engine\n"
                      "def later():\n    from .training import configs\n", encoding="utf-8")
    assert imports(source, "emostyle.results") == {
        "emostyle.pipeline", "emostyle.app.engine", "emostyle.training.configs"}
    source.write_text("from .. import pipeline\nfrom ..training.configs import TrainConfig\n"
                      "from .ui import stylizer\n", encoding="utf-8")
    assert imports(source, "emostyle.app.engine") == {
        "emostyle.pipeline", "emostyle.training.configs", "emostyle.app.ui"}
    package = tmp_path / "__init__.py"
    package.write_text("from .engine import paint\n", encoding="utf-8")
    assert imports(package, "emostyle.app") == {"emostyle.app.engine"}


def test_the_cycle_finder_finds_one(monkeypatch):
    monkeypatch.setitem(GRAPH, "emostyle.results", GRAPH["emostyle.results"] | {
        "emostyle.pipeline"})
    assert cycle_from("emostyle.results")[0] == "emostyle.results"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith(WORKBENCH)))
def test_inference_modules_import_no_torch_and_no_training(name):
    bad = sorted(m for m in imports(MODULES[name])
                 if m.split(".")[0] in ("torch", "torchvision") or m.startswith(
                     "emostyle.training"))
    assert not bad, f"{name} imports {bad}"


def test_nothing_imports_the_cli_back():
    importers = sorted(n for n, deps in GRAPH.items() if "emostyle.cli" in deps)
    # Only the entry point `python -m emostyle` may: it is above the CLI, not part of it.
    assert importers == ["emostyle.__main__"], (
        f"{importers} import emostyle.cli (commands register from its list)")


def test_core_modules_do_not_borrow_sideways():
    assert "emostyle.faces" not in GRAPH["emostyle.classifier"]  # crops and results instead
    assert "emostyle.classifier" not in GRAPH["emostyle.stylizer"]  # model_files instead
    assert GRAPH["emostyle.detection"] == set()  # constants and a protocol only


# What `emostyle stylize PHOTO` must not load: each was once loaded on that path and cost start-up
# time for nothing (benchmarks/bench_stylize.py startup). Left for the commands that use them:
# socket (app), rich tables (analyze, info), OpenSSL's hashes (a face model download), Pillow's
# other format plugins (Pillow loads five when told a format), the emoji codes of rich, torch,
# the other commands' modules (the CLI imports only the one it runs), rich itself (plain lines
# need no console: cli_common.say).
NOT_FOR_ONE_PHOTO = ("socket", "secrets", "hmac", "_hashlib", "rich",
                     "PIL.PngImagePlugin", "PIL.GifImagePlugin", "PIL.BmpImagePlugin",
                     "PIL.PpmImagePlugin", "torch", "matplotlib", "streamlit", "emostyle.app",
                     "emostyle.training", "emostyle.cli_train", "emostyle.cli_analyze",
                     "emostyle.cli_video", "emostyle.cli_app", "ray", "scipy", "sklearn")
LOADED_MODULES = """
import atexit, gc, os, sys
atexit.register(lambda: sys.stderr.write("MODULES=" + " ".join(sorted(sys.modules)) + "\\n"
                                         + f"FROZEN={gc.get_freeze_count()}\\n"
                                         + f"BLAS={os.environ.get('OPENBLAS_NUM_THREADS')}\\n"))
from emostyle.cli import main
sys.argv = ["emostyle", *sys.argv[1:]]
main()
"""


def test_stylizing_one_photo_loads_only_what_it_uses(face_model, tmp_path):
    import os
    import subprocess
    import sys

    photo = PACKAGE.parents[1] / "examples" / "astronaut.jpg"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-c", LOADED_MODULES, "stylize", str(photo), "-o",
                           str(tmp_path)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = next(line[8:].split() for line in done.stderr.splitlines()
                  if line.startswith("MODULES="))
    assert {"onnxruntime", "cv2", "PIL.JpegImagePlugin", "typer"} <= set(loaded)  # it ran
    bad = sorted(m for m in loaded if m.startswith(NOT_FOR_ONE_PHOTO))
    assert not bad, f"emostyle stylize loaded {bad}"
    # and its objects were left to the operating system at exit (cli.main freezes them)
    frozen = next(int(line[7:]) for line in done.stderr.splitlines()
                  if line.startswith("FROZEN="))
    assert frozen > 10_000
    # and numpy's OpenBLAS started with one thread (cli.ONE_BLAS_THREAD)
    assert "BLAS=1" in done.stderr.splitlines()


README = PACKAGE.parents[1] / "README.md"


def layout_rows(text: str) -> list[list[str]]:
    """The module names of each row of the README's project layout under ``src/emostyle/``."""
    block = text.split("## Project layout", 1)[1].split("```", 2)[1]
    rows, inside = [], False
    for line in block.splitlines():
        if line.startswith("src/emostyle/ "):
            inside = True
        elif not line.startswith(" "):
            inside = False
        elif inside and line[2] != " ":  # a row; deeper lines go on describing the one above
            rows.append([n.strip() for n in re.split(r"\s{2,}", line.strip())[0].split(",")])
    return rows


def layout_place(rows: list[list[str]], module: str) -> tuple[int, int] | None:
    """(row, position in it) of the first name in the layout that covers ``module``."""
    short = module.removeprefix("emostyle.")
    for r, names in enumerate(rows):
        for i, name in enumerate(names):
            if (short == name or (name.endswith("/") and short.split(".")[0] == name[:-1])
                    or ("*" in name and fnmatch.fnmatchcase(short, name))):
                return r, i
    return None


def layout_problems(rows: list[list[str]]) -> list[str]:
    problems = []
    for names in rows:
        for name in names:
            if "*" not in name and f"emostyle.{name.rstrip('/')}" not in MODULES:
                problems.append(f"the layout names {name}, which is not a module")
    for module, deps in sorted(GRAPH.items()):
        if module in ("emostyle", "emostyle.__main__") or module.startswith("emostyle.training"):
            continue
        place = layout_place(rows, module)
        if place is None:
            problems.append(f"{module} is not in the layout")
            continue
        for dep in sorted(deps):
            if dep == "emostyle" or dep.startswith("emostyle.training"):
                continue  # the lazy package root; the workbench is listed on its own
            other = layout_place(rows, dep)
            same_package = rows[place[0]][place[1]].endswith("/") and other == place
            if other is not None and not same_package and other >= place:
                problems.append(f"{module} imports {dep}, listed below it")
    return problems


def test_the_readme_layout_lists_every_module_above_the_modules_importing_it():
    rows = layout_rows(README.read_text(encoding="utf-8"))
    assert ["pipeline"] in rows or any("pipeline" in r for r in rows)  # the block is read
    problems = layout_problems(rows)
    assert not problems, "README project layout: " + "; ".join(problems)


def test_the_layout_check_finds_a_missing_module_and_a_wrong_order():
    rows = layout_rows(README.read_text(encoding="utf-8"))
    without = [[n for n in r if n != "outputs"] for r in rows]
    assert "emostyle.outputs is not in the layout" in layout_problems(without)
    upside_down = list(reversed(rows))
    assert any("emostyle.pipeline imports emostyle.classifier" in p
               for p in layout_problems(upside_down))
    assert "the layout names nothing_here, which is not a module" in layout_problems(
        [*rows, ["nothing_here"]])
