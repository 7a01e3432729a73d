"""Judge a ``torch.save`` file without unpickling it (and without importing torch).

The CLI decides at plan time whether ``weights=FILE`` is loadable, before any job dir exists,
and must never run what the file's pickle asks for. So this reads the pickle's opcodes with
:func:`pickletools.genops` and plays them on a stack of inert values, the way torch's
``weights_only`` unpickler (``torch/_weights_only_unpickler.py``) plays them on real ones: the
same opcodes, the same allowed globals (:mod:`trn.checkpoints.torch_rules`), storages only as
persistent ids. It also checks that the file is whole: a zip's central directory and the storage records
its pickle names, or a legacy file's storage bytes after its pickles.

Beyond torch's own globals, a pickle may name what :mod:`trn.checkpoints.trust` trusts (the
classes of a ``save_hyperparameters()``): given the trusted prefixes, the scan lets those by
(built by ``__new__``, called only when plain) and says which it met, for the loader's
``safe_globals``. The runner loads with ``weights_only=True`` and that list, after the same scan.
"""

from __future__ import annotations

import pickletools
import struct
import zipfile
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from pathlib import Path
from typing import IO, Any

from trn.checkpoints import trust
from trn.checkpoints.torch_rules import ALLOWED_GLOBALS, ANY_CLASS, BYTES_PER, NEWER, OPCODES

ZIP_MAGIC = b"PK\x03\x04"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of a non-zip torch.save file
LEGACY_PROTOCOL = 1001


class NotWeights(Exception):
    """Why a file is not loadable as weights: :class:`CarriesCode`, :class:`Broken`, :class:`Foreign`.

    ``fix``, when set, is a better fix than the caller's default for the kind."""

    def __init__(self, what: str, fix: str = ""):
        super().__init__(what)
        self.fix = fix


class CarriesCode(NotWeights):
    """Its pickle asks for something other than tensors and plain containers.

    ``name``: the global at fault, if one; ``prefix``: the ``allow_targets`` entry that would
    trust it (None: nothing would)."""

    def __init__(self, what: str, fix: str = "", name: str = "", prefix: str | None = None):
        super().__init__(what, fix)
        self.name, self.prefix = name, prefix


class Broken(NotWeights):
    """A torch.save file cut short or damaged."""


class Foreign(NotWeights):
    """Not a torch.save file at all."""


class _Global(str):
    """An allowed global, by name: the only thing REDUCE and NEWOBJ may call."""


class _Trusted(_Global):
    """A global that :mod:`trn.checkpoints.trust` lets by: NEWOBJ builds it, REDUCE may call it
    only if it is plain (:data:`trust.CALLABLE`)."""


_INERT = object()  # whatever a call or a container would have built


def check_torch_file(path: Path, trusted: tuple[str, ...] | None = None) -> set[str]:
    """Return if ``path`` is a whole ``torch.save`` file that ``weights_only`` would load (with
    ``trusted`` prefixes: and the globals :mod:`trn.checkpoints.trust` allows, which are
    returned); else raise :class:`NotWeights` saying why."""
    found: set[str] = set()
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        if head == ZIP_MAGIC:
            _check_zip(f, trusted, found)
        elif head[:1] == b"\x80":
            _check_legacy(f, path.stat().st_size, trusted, found)
        else:
            raise Foreign("not a torch.save zip or pickle")
    return found


def _check_zip(f: IO[bytes], trusted: tuple[str, ...] | None, found: set[str]) -> None:
    try:
        archive = zipfile.ZipFile(f)
        names = archive.namelist()
        prefix = names[0].split("/")[0] if names else ""
        try:
            data = archive.read(f"{prefix}/data.pkl")
        except KeyError:
            raise Foreign("a zip archive, but not torch.save's (no data.pkl)") from None
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise Broken(f"truncated or corrupt zip archive ({err})") from None
    for kind, key, numel in _play(data, trusted=trusted, found=found):
        try:
            size = archive.getinfo(f"{prefix}/data/{key}").file_size
        except KeyError:
            raise Broken(f"truncated: storage {key} is missing from the archive") from None
        if size < numel * BYTES_PER.get(kind, 0):
            raise Broken(f"truncated: storage {key} holds {size} bytes of {numel} {kind}")


def _check_legacy(
    f: IO[bytes], size: int, trusted: tuple[str, ...] | None, found: set[str]
) -> None:
    magic = _only_value(f, "magic number", strict=False)
    if magic != LEGACY_MAGIC:
        raise Foreign("a pickle, but not a torch.save file (no torch magic number)")
    if _only_value(f, "protocol version") != LEGACY_PROTOCOL:
        raise Foreign("a torch.save file of an unknown legacy protocol")
    _play(f)  # sys info
    storages = {key: (kind, numel) for kind, key, numel in _play(f, trusted=trusted, found=found)}
    keys = _only_value(f, "storage keys")
    if not isinstance(keys, list):
        raise Broken("corrupt: no list of storage keys")
    for key in keys:
        kind, numel = storages.get(key, ("", 0))
        header = f.read(8)
        if len(header) < 8:
            raise Broken(f"truncated: storage {key} is missing")
        if kind not in BYTES_PER:
            return  # an element size this does not know: the runner's load will judge the rest
        f.seek(struct.unpack("<q", header)[0] * BYTES_PER[kind], 1)
        if f.tell() > size:
            raise Broken(f"truncated: storage {key} ends {f.tell() - size} bytes past the file")


def _only_value(f: IO[bytes], what: str, strict: bool = True) -> Any:
    stack: list[Any] = []
    _play(f, stack, strict=strict)
    if len(stack) != 1:
        raise Broken(f"corrupt {what}")
    return stack[0]


def _play(
    source: bytes | IO[bytes],
    out: list[Any] | None = None,
    *,
    strict: bool = True,
    trusted: tuple[str, ...] | None = None,
    found: set[str] | None = None,
) -> list[tuple[str, str, int]]:
    """Play one pickle on inert values; ``(storage kind, key, numel)`` of each storage it names.

    The top of the stack at STOP goes to ``out``. ``strict``: refuse a pickle that uses
    opcodes of protocol 4+, which torch's ``weights_only`` loader cannot read. ``trusted``:
    let by what :func:`trust.judge` allows with those prefixes, adding each to ``found``."""
    machine = _Machine(trusted, found if found is not None else set())
    try:
        storages = machine.run(source, out)
    except (ValueError, EOFError, IndexError, KeyError, TypeError, struct.error) as err:
        raise Broken(f"truncated or corrupt pickle ({err or type(err).__name__})") from None
    if strict and machine.newer:
        raise Foreign(
            "a pickle of protocol 4 or later, which weights_only cannot load",
            "save it again with torch.save's default pickle_protocol=2",
        )
    return storages


class _Machine:
    def __init__(self, trusted: tuple[str, ...] | None, found: set[str]) -> None:
        self.trusted, self.found = trusted, found
        self.stack: list[Any] = []
        self.marks: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.storages: list[tuple[str, str, int]] = []
        self.newer = ""  # the first opcode of protocol 4+, which torch's loader refuses

    def run(self, source: bytes | IO[bytes], out: list[Any] | None) -> list[tuple[str, str, int]]:
        for op, arg, _pos in pickletools.genops(source):
            if op.name == "STOP":
                if out is not None:
                    out.append(self.stack.pop())
                return self.storages
            if op.name in OPCODES:
                self.step(op.name, arg)
            elif op.name in NEWER:  # played on, so that a STACK_GLOBAL is judged by its name
                self.newer = self.newer or op.name
                self.step_newer(op.name, arg)
            elif op.name in ANY_CLASS:
                raise CarriesCode(f"its pickle uses {op.name}, which can call any class")
            else:
                raise Foreign(f"its pickle uses {op.name}, which weights_only cannot load")
        raise EOFError("no STOP")

    def step_newer(self, name: str, arg: Any) -> None:
        if name == "STACK_GLOBAL":
            attr, module = self.stack.pop(), self.stack.pop()
            self.stack.append(self.named(f"{module} {attr}"))
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = self.stack[-1]
        elif name != "FRAME":
            self.stack.append(arg)

    def step(self, name: str, arg: Any) -> None:
        stack = self.stack
        if name == "GLOBAL":
            stack.append(self.named(arg))
        elif name in ("REDUCE", "NEWOBJ"):
            stack.pop()  # the arguments
            called = stack[-1]
            if not isinstance(called, _Global):
                raise CarriesCode(f"its pickle calls something that is not a global ({name})")
            if name == "REDUCE" and isinstance(called, _Trusted) and called not in trust.CALLABLE:
                raise CarriesCode(
                    f"its pickle calls {called} (REDUCE); a trusted class is only ever rebuilt "
                    "from its state, never called",
                    name=str(called),
                )
            stack[-1] = _INERT
        elif name == "BINPERSID":
            stack.append(self.persistent(stack.pop()))
        elif name in ("BUILD", "APPEND", "SETITEM"):
            items = [stack.pop() for _ in range(2 if name == "SETITEM" else 1)]
            _add(stack[-1], items if name == "APPEND" else [])
        elif name == "MARK":
            self.marks.append(stack)
            self.stack = []
        elif name in ("APPENDS", "SETITEMS", "TUPLE"):
            items, self.stack = stack, self.marks.pop()
            if name == "TUPLE":
                self.stack.append(tuple(items))
            else:
                _add(self.stack[-1], items if name == "APPENDS" else [])
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            if len(stack) < n:
                raise IndexError("tuple of too few items")
            stack[-n:] = [tuple(stack[-n:])]
        elif name in ("BINPUT", "LONG_BINPUT"):
            self.memo[arg] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET"):
            stack.append(self.memo[arg])
        elif name != "PROTO":
            stack.append(_constant(name, arg))

    def persistent(self, pid: Any) -> object:
        """torch's persistent ids name storages: ``('storage', type, key, location, numel)``."""
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise CarriesCode(f"its pickle asks for a persistent object {str(pid)[:60]!r}")
        kind, key, numel = pid[1], pid[2], pid[4]
        if not isinstance(kind, _Global) or not isinstance(key, str) or not isinstance(numel, int):
            raise ValueError("malformed storage id")
        self.storages.append((kind.rpartition(".")[2].removesuffix("Storage"), key, numel))
        return _INERT

    def named(self, arg: str) -> _Global:
        """The global ``arg`` (``module name``) if torch's rules or the trusted prefixes
        allow it."""
        module, _, name = arg.partition(" ")
        # torch maps Python 2 names as pickle does (__builtin__.long is builtins.int)
        if (module, name) in NAME_MAPPING:
            module, name = NAME_MAPPING[(module, name)]
        elif module in IMPORT_MAPPING:
            module = IMPORT_MAPPING[module]
        full = f"{module}.{name}"
        if full in ALLOWED_GLOBALS:
            return _Global(full)
        if self.trusted is None:
            raise CarriesCode(f"its pickle asks for {full}, which weights_only refuses", name=full)
        verdict = trust.judge(full, self.trusted)
        if not verdict.ok:
            what = trust.NEVER.format(name=full)
            if verdict.prefix:
                what = f"its pickle asks for {full}, which is not trusted"
            raise CarriesCode(what, name=full, prefix=verdict.prefix)
        self.found.add(full)
        return _Trusted(full)


def _add(target: Any, items: list[Any]) -> None:
    """APPEND(S) onto a list keeps the items: a legacy file's storage keys are such a list."""
    if isinstance(target, list):
        target.extend(items)


def _constant(name: str, arg: Any) -> Any:
    if name == "EMPTY_LIST":
        return []
    fixed = {"EMPTY_TUPLE": (), "NONE": None, "NEWTRUE": True, "NEWFALSE": False}
    if name in fixed:
        return fixed[name]
    return _INERT if name in ("EMPTY_DICT", "EMPTY_SET") else arg
