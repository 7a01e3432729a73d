"""A ``_target_`` read from its source, never imported: what it is (a class, a function), its
constructor's parameters, and the classes above it.

Planning must not import a project's module to look at it: that imports torch and Lightning
(seconds), and runs the project's code in the CLI. The module's file is found as the job will
find it (the top-level package through importlib's finders, the project root next, then the
package directories on disk) and parsed with :mod:`ast`; a name a module imports is followed to
the module that defines it. Anything this cannot tell (a C extension, a class made at run time,
``__getattr__`` at module level, an ``__init__`` inherited from a class it did not read) is an
unknown (None), never a guess: the checks built on it let an unknown pass.

Climbing stops at the standard library and torch: none of their classes derives from
Lightning's or a project's, which are all that is ever asked about.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

SUFFIX = ".py"
# never climbed into: nothing in them derives from the classes trn asks about
STOP = ("builtins", "typing", "typing_extensions", "abc", "collections", "enum", "torch")
LIGHTNING_MODULE = "lightning.pytorch.LightningModule"


@dataclass(frozen=True)
class Param:
    name: str
    annotation: ast.expr | None  # as written (a string annotation parsed)
    required: bool
    default: ast.expr | None = None


@dataclass(frozen=True)
class Signature:
    params: tuple[Param, ...]
    takes_any: bool  # **kwargs: any keyword goes

    def names(self) -> list[str]:
        return [p.name for p in self.params]


@dataclass(frozen=True)
class Target:
    """What a ``_target_`` names, as read from source."""

    name: str  # where it is defined: module.Name
    is_class: bool
    signature: Signature | None  # None: not known (an __init__ not read)
    ancestors: tuple[str, ...] = ()  # every class above it that was reached, defined-at names
    complete: bool = True  # every ancestor was reached (or is a stop class)
    owners: dict[str, str] = field(default_factory=dict)  # method -> the class that defines it


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    imports: dict[str, str]  # local name -> dotted name it stands for
    defs: dict[str, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef]
    aliases: dict[str, ast.expr]  # NAME = other.name
    stars: list[str]  # modules imported with *
    bound: set[str]  # every name bound at the top level
    dynamic: bool  # a module-level __getattr__: any name may exist


def find(target: str, root: Path | str | None = None) -> Target | None:
    """``target`` read from source, or None when it cannot be read (or does not exist: see
    :func:`missing_attribute`)."""
    found = _lookup(target, str(root) if root else None)
    if found is None:
        return None
    module, node = found
    if isinstance(node, ast.ClassDef):
        return _class_target(module, node, str(root) if root else None)
    return Target(f"{module.name}.{node.name}", False, _signature(node, skip_first=False))


def missing_attribute(target: str, root: Path | str | None = None) -> tuple[str, list[str]] | None:
    """``(module, the names it defines)`` when ``target``'s module is read whole and defines no
    such name; None when the name is there or that cannot be told."""
    module_name, attr = _split_module(target, str(root) if root else None)
    if module_name is None or len(attr) != 1:
        return None  # a missing sub-module (trn.config.imports says so) or a nested name
    module = _module(module_name, str(root) if root else None)
    if module is None or module.dynamic or module.stars or attr[0] in module.bound:
        return None
    return module.name, sorted(n for n in module.bound if not n.startswith("_"))


def is_subclass(target: str, base: str, root: Path | str | None = None) -> bool | None:
    """Whether the class ``target`` derives from ``base`` (both as written in a config or an
    import); None when its source cannot tell."""
    info = find(target, root)
    wanted = canonical(base, root)
    if info is None or wanted is None or not info.is_class:
        return None if info is None or wanted is None else False
    if wanted == info.name or wanted in info.ancestors:
        return True
    return False if info.complete else None


def canonical(name: str, root: Path | str | None = None) -> str | None:
    """Where ``name`` is defined (``lightning.pytorch.Trainer`` ->
    ``lightning.pytorch.trainer.trainer.Trainer``)."""
    found = _lookup(name, str(root) if root else None)
    return f"{found[0].name}.{found[1].name}" if found else None


# -- reading modules ------------------------------------------------------------------------------
def _module(name: str, root: str | None) -> Module | None:
    located = _locate(name, root)
    if located is None:
        return None
    path, is_package = located
    try:
        stat = path.stat()
    except OSError:
        return None
    # parsed once per version of the file: a long-lived process (trn serve) sees edits
    return _parse(name, path, is_package, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=512)
def _parse(name: str, path: Path, is_package: bool, mtime_ns: int, size: int) -> Module | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    module = Module(name, path, is_package, tree, {}, {}, {}, [], set(), False)
    for node in _top_level(tree.body):
        _bind(module, node)
    return module


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements run at import: the module's own, and those inside its ``if``/``try``
    blocks (a definition under ``if TYPE_CHECKING`` or ``try: import x`` counts)."""
    out: list[ast.stmt] = []
    for node in body:
        out.append(node)
        if isinstance(node, ast.If):
            out += _top_level(node.body) + _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            out += _top_level(node.body) + _top_level(node.orelse) + _top_level(node.finalbody)
            for handler in node.handlers:
                out += _top_level(handler.body)
        elif isinstance(node, ast.With | ast.For | ast.While):
            out += _top_level(node.body)
    return out


def _bind(module: Module, node: ast.stmt) -> None:
    if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        module.defs[node.name] = node
        module.bound.add(node.name)
        module.dynamic = module.dynamic or node.name == "__getattr__"
    elif isinstance(node, ast.Import):
        for alias in node.names:
            local = alias.asname or alias.name.split(".")[0]
            module.imports[local] = alias.name if alias.asname else local
            module.bound.add(local)
    elif isinstance(node, ast.ImportFrom):
        source = _absolute(module, node.module or "", node.level)
        for alias in node.names:
            if alias.name == "*":
                module.stars.append(source)
                continue
            module.imports[alias.asname or alias.name] = f"{source}.{alias.name}"
            module.bound.add(alias.asname or alias.name)
    elif isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    module.bound.add(name.id)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and node.value is not None:
            only = node.targets[0]
            if isinstance(only, ast.Name) and isinstance(node.value, ast.Name | ast.Attribute):
                module.aliases[only.id] = node.value


def _absolute(module: Module, name: str, level: int) -> str:
    if not level:
        return name
    parts = module.name.split(".")
    base = parts if module.is_package else parts[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, name] if name else base)


def _locate(name: str, root: str | None) -> tuple[Path, bool] | None:
    """The file of module ``name`` and whether it is a package, found without importing."""
    parts = name.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])  # a top-level name: nothing is imported
    except (ImportError, ValueError):
        spec = None
    if spec is None and root is not None:
        spec = importlib.machinery.PathFinder.find_spec(parts[0], [root])
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    path = Path(spec.origin) if spec.origin and spec.origin.endswith(SUFFIX) else None
    for part in parts[1:]:
        path = None
        for where in map(Path, locations):
            if (where / part / f"__init__{SUFFIX}").is_file():
                path, locations = where / part / f"__init__{SUFFIX}", [str(where / part)]
                break
            if (where / f"{part}{SUFFIX}").is_file():
                path, locations = where / f"{part}{SUFFIX}", []
                break
        if path is None:
            return None
    if path is None:
        return None
    return path, path.name == f"__init__{SUFFIX}"


def _split_module(name: str, root: str | None) -> tuple[str | None, list[str]]:
    """``a.b.C.D`` -> (``a.b``, [``C``, ``D``]): the longest prefix that is a module file."""
    parts = name.split(".")
    for n in range(len(parts) - 1, 0, -1):
        if _locate(".".join(parts[:n]), root) is not None:
            return ".".join(parts[:n]), parts[n:]
    return None, parts


def _lookup(
    name: str, root: str | None, depth: int = 0
) -> tuple[Module, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef] | None:
    """The module and definition ``name`` stands for, following imports and aliases."""
    if depth > 20:
        return None
    module_name, attrs = _split_module(name, root)
    if module_name is None or len(attrs) != 1:
        return None  # not a module's attribute, or a nested one: not followed
    module = _module(module_name, root)
    if module is None:
        return None
    attr = attrs[0]
    if attr in module.defs:
        return module, module.defs[attr]
    if attr in module.imports:
        return _lookup(module.imports[attr], root, depth + 1)
    if attr in module.aliases:
        dotted = _dotted(module, module.aliases[attr])
        return _lookup(dotted, root, depth + 1) if dotted else None
    for star in module.stars:
        found = _lookup(f"{star}.{attr}", root, depth + 1)
        if found is not None:
            return found
    return None


def _dotted(module: Module, expr: ast.expr) -> str | None:
    """A base-class or alias expression (``pl.LightningModule``) as a dotted name."""
    if isinstance(expr, ast.Subscript):  # Generic[T], Base[int]
        return _dotted(module, expr.value)
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.insert(0, expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    head = expr.id
    if head in module.imports:
        head = module.imports[head]
    elif head in module.defs or head in module.aliases:
        head = f"{module.name}.{head}"
    else:
        head = f"builtins.{head}"
    return ".".join([head, *parts])


# -- classes --------------------------------------------------------------------------------------
def _class_target(module: Module, node: ast.ClassDef, root: str | None) -> Target:
    """The class with what its ancestors tell, read depth first from the left (its MRO for
    single inheritance): the first ``__init__`` met is its signature, unless a class trn does
    not read comes first."""
    ancestors: list[str] = []
    owners: dict[str, str] = {}
    signature: Signature | None = None
    decided = False
    complete = True
    stack: list[tuple[Module, ast.ClassDef] | str] = [(module, node)]
    seen: set[str] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):  # a class not read: a stop class, or one not found
            if item and item != "builtins.object" and item not in seen:
                seen.add(item)
                ancestors.append(item)
            if not decided and item != "builtins.object":
                decided = True  # its __init__ is not known
            continue
        mod, cls = item
        name = f"{mod.name}.{cls.name}"
        for fn in cls.body:
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                owners.setdefault(fn.name, name)
                if fn.name == "__init__" and not decided:
                    signature, decided = _signature(fn, skip_first=True), True
        if not decided and (cls.decorator_list or cls.keywords or "__new__" in owners):
            decided = True  # a @dataclass, a metaclass, a __new__: its __init__ is made, not read
        children: list[tuple[Module, ast.ClassDef] | str] = []
        for base in cls.bases:
            dotted = _dotted(mod, base)
            found = None if dotted is None or _stopped(dotted) else _lookup(dotted, root)
            if found is None or not isinstance(found[1], ast.ClassDef):
                complete = complete and dotted is not None and _stopped(dotted)
                children.append(dotted or "")
            elif f"{found[0].name}.{found[1].name}" not in seen:
                seen.add(f"{found[0].name}.{found[1].name}")
                ancestors.append(f"{found[0].name}.{found[1].name}")
                children.append((found[0], found[1]))
        stack.extend(reversed(children))
    if not decided:  # nothing above defines one: object's, which takes nothing
        signature = Signature((), False)
    return Target(f"{module.name}.{node.name}", True, signature, tuple(ancestors), complete, owners)


def _stopped(dotted: str) -> bool:
    return dotted.startswith(tuple(f"{s}." for s in STOP))


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef, skip_first: bool) -> Signature:
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    if skip_first:
        positional = positional[1:]
    first_default = len(positional) - len(args.defaults)
    defaults: list[ast.expr | None] = [None] * first_default + list(args.defaults)
    params = [
        Param(a.arg, _annotation(a.annotation), i < first_default, defaults[i])
        for i, a in enumerate(positional)
    ]
    params += [
        Param(a.arg, _annotation(a.annotation), d is None, d)
        for a, d in zip(args.kwonlyargs, args.kw_defaults)
    ]
    return Signature(tuple(params), args.kwarg is not None)


def _annotation(expr: ast.expr | None) -> ast.expr | None:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):  # "int | None"
        try:
            return ast.parse(expr.value, mode="eval").body
        except SyntaxError:
            return None
    return expr
