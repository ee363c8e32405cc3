"""Loading a node class from a ``path/to/file.py:NodeName`` specification.

Background runs and the REST service re-run actions in a new process; they name
the tree with the same specification the ``deployer`` command takes.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from types import ModuleType
from typing import Any


class NodeSpecError(ValueError):
    """The specification does not name a loadable node class."""


def load_node_class(spec: str) -> Any:
    """Import ``file.py:Name`` or ``package.module:Name`` and return that class.

    >>> load_node_class('examples/hello_world.py:SayHelloOnLocalHost')   # doctest: +SKIP
    <class 'hello_world.SayHelloOnLocalHost'>
    """
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name:
        raise NodeSpecError("expected FILE.py:NodeName or module:NodeName, got %r" % spec)
    module = _load_module(target)
    obj: Any = module
    for part in name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise NodeSpecError("%s has no attribute %r (from %r)" % (target, part, spec)) from None
    if not inspect.isclass(obj):
        raise NodeSpecError("%r is not a class" % spec)
    return obj


def _load_module(target: str) -> ModuleType:
    if target.endswith(".py") or os.sep in target:
        path = os.path.abspath(target)
        if not os.path.isfile(path):
            raise NodeSpecError("no such file: %s" % target)
        name = os.path.splitext(os.path.basename(path))[0]
        # Scripts import their neighbours (as ``python file.py`` would allow).
        directory = os.path.dirname(path)
        if directory not in sys.path:
            sys.path.insert(0, directory)
        if name in sys.modules and getattr(sys.modules[name], "__file__", None) == path:
            return sys.modules[name]
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise NodeSpecError("cannot import %s" % target)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(target)
    except ImportError as e:
        raise NodeSpecError("cannot import module %r: %s" % (target, e)) from None


def spec_for_class(cls: type) -> str:
    """The specification that loads ``cls`` again in another process.

    A class from a top-level module with a file (a deploy script, ``__main__``)
    is named by the file's absolute path: the script's directory is on *our*
    ``sys.path`` only. A class in a package is named ``package.module:Name``.
    """
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    if path and (cls.__module__ == "__main__" or "." not in cls.__module__) and path.endswith(".py"):
        return "%s:%s" % (os.path.abspath(path), cls.__qualname__)
    if cls.__module__ == "__main__":
        raise NodeSpecError("%r was not defined in a file" % cls)
    return "%s:%s" % (cls.__module__, cls.__qualname__)
