"""No module of the package writes another object's underscore attributes:
plugins talk through their public methods (``stored_tensors()``,
``snapshot()``/``restore()``), not through each other's private fields.

The check reads the source with :mod:`ast`. It flags an assignment, an
augmented assignment or a ``del`` whose target is ``<expr>._name`` with
``<expr>`` other than ``self`` or ``cls``, and a ``setattr``/``delattr`` whose
name is a string literal starting with an underscore on such an object, and
the same writes through such an object's ``__dict__`` (a subscript, or its
``setdefault``, ``pop`` or ``update``). Dunder names (``__module__``, ``__qualname__``) are not private fields.
"""

import ast
from pathlib import Path

import avalanche_featadapt

PACKAGE = Path(avalanche_featadapt.__file__).resolve().parent

#: Writes the package cannot avoid, each on an object of another library, with
#: the reason. (file relative to the package, the target as written)
ALLOWED = {
    # Avalanche 0.6's loaders rebuild their samplers at seed 0, epoch 0 on
    # every iteration and have no hook to reseed them (distributed.reshuffle)
    ("distributed.py", "loader._create_samplers"),
}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _foreign(value: ast.expr) -> bool:
    return not (isinstance(value, ast.Name) and value.id in ("self", "cls"))


def _targets(node):
    if isinstance(node, (ast.Assign, ast.Delete)):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    else:
        return
    stack = list(targets)
    while stack:
        t = stack.pop()
        if isinstance(t, (ast.Tuple, ast.List)):
            stack += t.elts
        elif isinstance(t, ast.Starred):
            stack.append(t.value)
        else:
            yield t


def private_writes(source: str):
    """``(line, target)`` of every write of another object's underscore
    attribute in ``source``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        for t in _targets(node):
            if isinstance(t, ast.Attribute) and _private(t.attr) and _foreign(t.value):
                out.append((node.lineno, ast.unparse(t)))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("setattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
            and _foreign(node.args[0])
        ):
            target = f"{ast.unparse(node.args[0])}.{node.args[1].value}"
            out.append((node.lineno, target))
        out += _dict_writes(node)
    return out


def _dict_key(owner: ast.expr, key: ast.expr):
    """``owner.name`` if ``key`` is a literal underscore name and ``owner``
    is another object's ``__dict__``."""
    if (
        isinstance(owner, ast.Attribute)
        and owner.attr == "__dict__"
        and _foreign(owner.value)
        and isinstance(key, ast.Constant)
        and isinstance(key.value, str)
        and _private(key.value)
    ):
        return f"{ast.unparse(owner.value)}.{key.value}"
    return None


def _dict_writes(node):
    """Writes through ``obj.__dict__``: ``obj.__dict__["_x"] = ...``, ``del``
    of it, and ``obj.__dict__.setdefault/pop/update("_x", ...)``."""
    found = []
    for t in _targets(node):
        if isinstance(t, ast.Subscript):
            target = _dict_key(t.value, t.slice)
            if target:
                found.append((node.lineno, target))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("setdefault", "pop", "update", "__setitem__")
        and node.args
    ):
        target = _dict_key(node.func.value, node.args[0])
        if target:
            found.append((node.lineno, target))
    return found


def test_the_check_finds_each_kind_of_write():
    source = """
def f(buffer, adapter, obj):
    buffer._data = {}
    buffer._data, buffer.feature_dim = {}, 1
    adapter._history += [1]
    del obj._teacher
    setattr(obj, "_staged", None)
    delattr(obj.inner, "_x")
    self._mine = 1
    cls._also_mine = 1
    obj.public = 1
    obj.__doc__ = ""
    setattr(obj, name, 1)
    obj.__dict__["_cache"] = {}
    obj.__dict__.setdefault("_teachers", {})
    obj.__dict__.pop("_features", None)
    self.__dict__["_own"] = 1
    obj.__dict__.get("_read_only")
"""
    found = sorted(t for _, t in private_writes(source))
    assert found == sorted(
        [
            "buffer._data",
            "buffer._data",
            "adapter._history",
            "obj._teacher",
            "obj._staged",
            "obj.inner._x",
            "obj._cache",
            "obj._teachers",
            "obj._features",
        ]
    )


def test_no_module_writes_another_objects_private_attributes():
    found, used = [], set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for line, target in private_writes(path.read_text()):
            if (rel, target) in ALLOWED:
                used.add((rel, target))
            else:
                found.append(f"{rel}:{line} writes {target}")
    assert found == [], "\n".join(found)
    assert used == ALLOWED, f"ALLOWED lists writes that are gone: {ALLOWED - used}"
