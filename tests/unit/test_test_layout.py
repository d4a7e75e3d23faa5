"""The tests' own layout: helpers shared by several tests live in
``tests/support/``, so no test module (nor conftest.py) imports another test
module or a helper kept beside the tests; and the unit tests mirror ``src/``,
``tests/unit/<pkg>/test_<module>.py`` for ``src/passback/<pkg>/<module>.py``."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SRC = TESTS.parent / "src" / "passback"
#: Tests of the whole package rather than of one module.
WHOLE_PACKAGE = {"test_exports.py", "test_public_surface.py", "test_test_layout.py"}


def _imported(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # A relative import reaches a neighbour module: name it as such.
            names.append("." * node.level + (node.module or ""))
    return names


def _allowed(name: str) -> bool:
    if name.startswith("."):
        return False
    if name != "tests" and not name.startswith("tests."):
        return True
    return name == "tests.support" or name.startswith("tests.support.")


def test_tests_import_only_the_support_package() -> None:
    wrong = [
        f"{path.relative_to(TESTS.parent)}: {name}"
        for path in sorted(TESTS.rglob("*.py"))
        for name in _imported(ast.parse(path.read_text(), str(path)))
        if not _allowed(name)
    ]
    assert not wrong, "import shared helpers from tests.support:\n" + "\n".join(wrong)


def test_the_check_sees_every_kind_of_import() -> None:
    tree = ast.parse(
        "import tests.unit.x\n"
        "from tests.integration.server import harness\n"
        "from . import neighbour\n"
        "from tests.support.server import bearer\n"
        "import passback\n"
    )
    assert [name for name in _imported(tree) if not _allowed(name)] == [
        "tests.unit.x",
        "tests.integration.server",
        ".",
    ]


def test_unit_tests_are_named_after_their_module() -> None:
    unit = TESTS / "unit"
    wrong = []
    for path in sorted(unit.rglob("test_*.py")):
        relative = path.relative_to(unit)
        if relative.as_posix() in WHOLE_PACKAGE:
            continue
        module = SRC / relative.parent / relative.stem.removeprefix("test_")
        if not (module.with_suffix(".py").is_file() or module.is_dir()):
            wrong.append(f"tests/unit/{relative.as_posix()}")
    assert not wrong, "no module of src/passback by these names:\n" + "\n".join(wrong)
