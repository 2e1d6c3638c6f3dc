"""The model stands on its own: `lsevos.model` imports nothing from the losses, training, video or
evaluation code (the helpers it shares with the losses live in `lsevos.model.geometry`)."""

import ast
from pathlib import Path

import lsevos.model

ALLOWED = ("lsevos.model", "lsevos.errors")


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_the_model_package_imports_no_other_lsevos_area():
    files = sorted(Path(lsevos.model.__file__).parent.glob("*.py"))
    assert any(path.name == "geometry.py" for path in files)
    for path in files:
        outside = {
            name
            for name in imported_modules(path)
            if name.split(".")[0] == "lsevos" and not name.startswith(ALLOWED)
        }
        assert not outside, f"{path.name} imports {sorted(outside)}"
