"""Activations from outside the suite: entry points, ``--plugin`` modules and files.

A user's package declares its activation module in the entry-point group
``suite.activations``::

    [project.entry-points."suite.activations"]
    my_lab = "my_lab.activations"

and every process that imports ``suite.activations`` imports that module, which registers
its names with ``register_activation``. A module or file named by ``--plugin`` (or by a
matrix file's ``plugins = [...]``) is imported by ``load(spec)``, which also adds it to
``$SUITE_PLUGINS``: worker processes (the local pool, SLURM jobs) inherit that variable and
import the same plugins when they import ``suite.activations``, so a cell never runs in a
process that has not registered its activation.

Each loaded plugin is remembered with the sha256 of its source; ``provenance()`` lists them
so that a record says which version of the user's code produced it.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path

from suite.errors import SuiteError

GROUP = "suite.activations"
ENV_VAR = "SUITE_PLUGINS"  # os.pathsep-separated module names or absolute .py paths

# module name -> {"plugin", "module", "source", "sha256"}; filled as plugins are imported
_LOADED: dict[str, dict] = {}


def _source_hash(module) -> tuple[str | None, str | None]:
    """(path, sha256) of a module's source: its file's sha256 (as `sha256sum` gives it), or
    for a package one sha256 over every .py file in it, each preceded by its name."""
    path = getattr(module, "__file__", None)
    if not path:
        return None, None
    path = Path(path)
    if path.name != "__init__.py":
        return str(path), hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for file in sorted(path.parent.rglob("*.py")):
        digest.update(file.relative_to(path.parent).as_posix().encode() + b"\0")
        digest.update(file.read_bytes())
    return str(path), digest.hexdigest()


def _remember(spec: str, module) -> None:
    source, sha = _source_hash(module)
    _LOADED.setdefault(module.__name__, {"plugin": spec, "module": module.__name__,
                                         "source": source, "sha256": sha})


def _import_file(path: Path):
    """Import a .py file as a module named after its stem (once, even if asked twice)."""
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) and Path(module.__file__).resolve() == path:
            return module  # already imported, e.g. as an entry point: do not register twice
    name = path.stem
    if name in sys.modules:
        raise SuiteError(f"plugin file {str(path)!r} cannot be imported as module {name!r}: a module "
                         "of that name is already loaded; rename the file.")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: dataclasses and pickling look it up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _is_file(spec: str) -> bool:
    return spec.endswith(".py") or os.sep in spec or "/" in spec


def load(spec: str, *, base: Path | None = None, export: bool = True):
    """Import plugin ``spec`` (a module name, or a .py file path relative to ``base`` or
    the working directory); with ``export``, worker processes will import it too."""
    spec = spec.strip()
    if not spec:
        raise SuiteError("plugin '' is not accepted; expected a module name (my_lab.activations) "
                         "or the path of a .py file.")
    if _is_file(spec):
        path = Path(spec).expanduser()
        path = ((base / path) if base is not None and not path.is_absolute() else path).resolve()
        if not path.is_file():
            raise SuiteError(f"plugin file {spec!r} does not exist (looked at {str(path)!r}); expected "
                             "a module name (my_lab.activations) or the path of a .py file.")
        key = str(path)
        loader = lambda: _import_file(path)  # noqa: E731
    else:
        key = spec
        loader = lambda: importlib.import_module(spec)  # noqa: E731
    try:
        module = loader()
    except ModuleNotFoundError as exc:
        if exc.name and spec.startswith(exc.name):
            raise SuiteError(f"plugin module {spec!r} cannot be imported (no module named {exc.name!r}); "
                             "expected an importable module name or the path of a .py file.") from None
        raise SuiteError(f"plugin {spec!r} failed to import: {type(exc).__name__}: {exc}.") from exc
    except SuiteError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. a name the suite already has: say which plugin
        raise SuiteError(f"plugin {spec!r} failed to import: {type(exc).__name__}: {exc}.") from exc
    _remember(spec, module)
    if export:
        _export(key)
    return module


def _export(key: str) -> None:
    present = [p for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    if key not in present:
        os.environ[ENV_VAR] = os.pathsep.join(present + [key])


def load_environment() -> None:
    """Import the plugins of ``$SUITE_PLUGINS`` (what the launching process loaded)."""
    for spec in filter(None, os.environ.get(ENV_VAR, "").split(os.pathsep)):
        load(spec, export=False)


def load_entry_points() -> None:
    """Import every module declared in the ``suite.activations`` entry-point group."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=GROUP):
        # The module alone: its import registers the names (an ":attr" part is not needed).
        module_name = ep.value.partition(":")[0].strip()
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must name itself
            raise SuiteError(f"activation plugin {ep.name!r} ({ep.value}, entry point of group {GROUP!r}) "
                             f"failed to import: {type(exc).__name__}: {exc}.") from exc
        _remember(f"entry point {ep.name}", module)


def load_all() -> None:
    """Entry points, then ``$SUITE_PLUGINS``: called once by ``suite.activations``."""
    load_entry_points()
    load_environment()


def provenance() -> list[dict]:
    """The plugins loaded in this process, with the sha256 of their source."""
    return [dict(info) for _, info in sorted(_LOADED.items())]
