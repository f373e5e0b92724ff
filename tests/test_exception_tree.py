"""assay.errors draws every exception Assay raises as a tree, and exports its own: the
drawing, the classes and ``__all__`` cannot drift apart."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass

import assay
from assay import errors
from assay.errors import AssayError

# A line of the drawing: its branches (four characters a level), the class, then what is
# said of it: its own error_code, the module it lives in, a note.
_LINE = re.compile(r"(?P<branches>(?:[│ ]   |[├└]── )*)(?P<name>\w+)(?P<said>.*)")
_CODE = re.compile(r"\s+([A-Z][A-Z_]+)\b")
_MODULE = re.compile(r"\bin (assay(?:\.\w+)*)")


@dataclass(frozen=True)
class Drawn:
    parent: str | None
    said: str

    @property
    def code(self) -> str | None:
        match = _CODE.match(self.said)
        return match.group(1) if match else None

    @property
    def module(self) -> str | None:
        match = _MODULE.search(self.said)
        return match.group(1) if match else None


def drawn_tree(docstring: str) -> dict[str, Drawn]:
    """The classes of the drawing after ``::``, by name, with their parents."""
    block = docstring.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    tree: dict[str, Drawn] = {}
    path: list[str] = []
    for line in block.splitlines():
        match = _LINE.fullmatch(line.removeprefix("    "))
        assert match, line
        depth = len(match["branches"]) // 4
        assert depth <= len(path), line
        del path[depth:]
        name = match["name"]
        assert name not in tree, f"{name} is drawn twice"
        tree[name] = Drawn(path[-1] if path else None, match["said"])
        path.append(name)
    return tree


def assay_error_classes() -> set[type[AssayError]]:
    """Every subclass of AssayError that a module of Assay defines (all of them imported)."""
    for module in pkgutil.walk_packages(assay.__path__, "assay."):
        if ".migrations." not in module.name:  # Alembic's scripts run only under Alembic
            importlib.import_module(module.name)
    found: set[type[AssayError]] = set()
    todo: list[type[AssayError]] = [AssayError]
    while todo:
        cls = todo.pop()
        if cls.__module__.split(".")[0] == "assay" and cls not in found:
            found.add(cls)
            todo += cls.__subclasses__()
    return found


def test_every_public_name_of_assay_errors_is_exported() -> None:
    public = {name for name, value in vars(errors).items()
              if not name.startswith("_") and getattr(value, "__module__", None) == errors.__name__}
    assert sorted(errors.__all__) == sorted(public)
    exceptions = {name for name, value in vars(errors).items()
                  if inspect.isclass(value) and issubclass(value, BaseException)
                  and value.__module__ == errors.__name__}
    assert exceptions <= set(errors.__all__)
    assert exceptions >= {"AssayError", "RequestTooLargeError", "UnsupportedMediaTypeError"}


def test_the_drawing_holds_every_error_under_its_parent() -> None:
    assert errors.__doc__ is not None
    tree = drawn_tree(errors.__doc__)
    classes = {cls.__name__: cls for cls in assay_error_classes()}
    assert len(classes) == len(assay_error_classes()), "two error classes share a name"
    assert set(tree) == set(classes)
    assert tree["AssayError"].parent is None
    for name, drawn in tree.items():
        cls = classes[name]
        if cls is AssayError:
            continue
        [parent] = [base for base in cls.__bases__ if issubclass(base, AssayError)]
        assert drawn.parent == parent.__name__, name
        for base in cls.__bases__:
            if not issubclass(base, AssayError):
                assert f"also a {base.__name__}" in drawn.said, name


def test_the_drawing_shows_each_class_own_error_code_and_module() -> None:
    assert errors.__doc__ is not None
    tree = drawn_tree(errors.__doc__)
    classes = {cls.__name__: cls for cls in assay_error_classes()}
    for name, drawn in tree.items():
        cls = classes[name]
        if drawn.parent is not None:
            inherited = classes[drawn.parent].error_code
            expected = cls.error_code if cls.error_code != inherited else None
            assert drawn.code == expected, name
        if cls.__module__ == errors.__name__:
            assert drawn.module is None, name
        else:
            assert drawn.module is not None, f"{name}: the drawing names no module"
            assert getattr(importlib.import_module(drawn.module), name, None) is cls, name
