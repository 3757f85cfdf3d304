"""What a user installs is what runs: the declared dependencies are the packages the code imports, and the
lock files pin them.

- Every third-party package that a module of the installed ``connector`` package imports (anywhere in the
  module: at the top, inside a function, under ``TYPE_CHECKING``) is a runtime dependency in
  pyproject.toml, or belongs to an optional extra and is imported only where it is guarded; every runtime
  dependency is imported by some module (or is in ``NEEDED_WITHOUT_IMPORT``, with the reason).
- ``requirements.lock`` pins every runtime dependency, ``requirements-dev.lock`` every runtime and dev one,
  each at a version its specifier allows, and the two agree on the packages they share.
"""

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import connector

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(connector.__file__).resolve().parent
PROJECT = "consent-sync"

NEEDED_WITHOUT_IMPORT = {
    "python-multipart": "Starlette parses the HTML form posts with it (Form(), request.form())",
}
OPTIONAL_EXTRAS = ("parquet", "oidc")
"""Extras whose packages runtime code imports only where it is guarded (an import that can fail)."""
STALE = "the lock files are out of step with pyproject.toml: run scripts/lock"


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]  # type: ignore[no-any-return]


def _requirements(group: str | None) -> list[Requirement]:
    project = _pyproject()
    texts = project["dependencies"] if group is None else project["optional-dependencies"][group]  # type: ignore[index]
    return [Requirement(text) for text in texts]  # type: ignore[union-attr]


def _names(requirements: list[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements} - {PROJECT}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(node: ast.AST) -> Iterator[str]:
    """The absolute module names an import statement names."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        yield node.module


@cache
def _modules() -> dict[str, ast.Module]:
    return {_module_name(path): ast.parse(path.read_text(), str(path)) for path in PACKAGE.rglob("*.py")}


def _third_party(name: str) -> str | None:
    top = name.partition(".")[0]
    return None if top in sys.stdlib_module_names or top in {"connector", "__future__"} else top


@cache
def _imported_distributions() -> dict[str, set[str]]:
    """Each distribution the package imports from, with the modules that do."""
    distributions = packages_distributions()
    found: dict[str, set[str]] = {}
    for module, tree in _modules().items():
        for node in ast.walk(tree):
            for name in _imports(node):
                top = _third_party(name)
                if top is None:
                    continue
                assert top in distributions, (
                    f"{module} imports {top!r}, which no installed distribution provides"
                )
                for distribution in distributions[top]:
                    found.setdefault(canonicalize_name(distribution), set()).add(module)
    return found


def test_runtime_dependencies_are_exactly_what_the_code_imports() -> None:
    imported = _imported_distributions()
    runtime = _names(_requirements(None))
    optional = set().union(*(_names(_requirements(extra)) for extra in OPTIONAL_EXTRAS))
    undeclared = {d: sorted(m)[:3] for d, m in imported.items() if d not in runtime | optional}
    assert undeclared == {}, f"imported but not a runtime dependency in pyproject.toml: {undeclared}"
    unused = runtime - set(imported) - set(NEEDED_WITHOUT_IMPORT)
    assert unused == set(), f"runtime dependencies that no module of connector/ imports: {sorted(unused)}"
    assert set(NEEDED_WITHOUT_IMPORT) <= runtime
    assert optional - set(imported) == set(), "an optional extra holds a package nothing imports"


def _top_level_imports(tree: ast.Module) -> Iterator[str]:
    """Imports that run when the module is imported: its body, not functions or ``if TYPE_CHECKING``."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
        elif isinstance(node, ast.If | ast.With):
            pending.extend([*node.body, *getattr(node, "orelse", [])])
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody])
        else:
            yield from _imports(node)


def test_optional_packages_are_imported_only_behind_a_guard() -> None:
    """A module importing an optional package at its top is itself imported, by the modules outside that
    set, only inside functions: the rest of the package imports without the extra."""
    optional = set().union(*(_names(_requirements(extra)) for extra in OPTIONAL_EXTRAS))
    distributions = packages_distributions()
    modules = _modules()
    needs_extra = {
        module
        for module, tree in modules.items()
        for name in _top_level_imports(tree)
        if (top := _third_party(name))
        and {canonicalize_name(d) for d in distributions.get(top, [])} & optional
    }
    assert "connector.imports.plain_csv" in needs_extra  # the check sees what it is meant to see
    growing = True
    while growing:  # a module importing one of them at its top needs the extra too
        more = {
            module
            for module, tree in modules.items()
            if module not in needs_extra and any(name in needs_extra for name in _top_level_imports(tree))
        }
        growing = bool(more)
        needs_extra |= more
    allowed = {
        "connector.imports.plain_csv",
        "connector.imports.contact_columns",
        "connector.imports.contact_plan",
    }
    assert needs_extra <= allowed, (
        f"modules that fail to import without the extra: {sorted(needs_extra - allowed)}"
    )


def _pins(lock: str) -> dict[str, Version]:
    path = ROOT / lock
    assert path.exists(), f"{lock} is missing: run scripts/lock"
    pins: dict[str, Version] = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)", line)
        if match:
            pins[canonicalize_name(match[1])] = Version(match[2])
    return pins


@pytest.mark.parametrize(
    ("lock", "groups"),
    [("requirements.lock", (None,)), ("requirements-dev.lock", (None, "dev", *OPTIONAL_EXTRAS))],
)
def test_the_lock_files_pin_every_declared_dependency(lock: str, groups: tuple[str | None, ...]) -> None:
    pins = _pins(lock)
    for requirement in (r for group in groups for r in _requirements(group)):
        name = canonicalize_name(requirement.name)
        if name == PROJECT:
            continue
        assert name in pins, f"{lock} does not pin {requirement.name}: {STALE}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {requirement.name}=={pins[name]}, outside {requirement}: {STALE}"
        )


def test_the_runtime_lock_holds_no_dev_or_optional_package_and_agrees_with_the_dev_lock() -> None:
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    extras = {"dev", *OPTIONAL_EXTRAS}
    only_extra = set().union(*(_names(_requirements(e)) for e in extras)) - _names(_requirements(None))
    assert only_extra & set(runtime) == set(), (
        f"requirements.lock pins extras: {sorted(only_extra & set(runtime))}"
    )
    differ = {name: (str(v), str(dev.get(name))) for name, v in runtime.items() if dev.get(name) != v}
    assert differ == {}, f"the two lock files pin these differently: {differ}; {STALE}"
