"""What ``torch.load(weights_only=True)`` accepts, as data: no torch import needed to read it.

Copied from torch 2.13's ``torch/_weights_only_unpickler.py`` (``_get_allowed_globals`` and the
opcodes its ``Unpickler.load`` executes); tests/test_weights_guard.py checks it against the
installed torch, so an upgrade that changes the rules fails a test rather than drifting.
"""

from __future__ import annotations

# bytes per element of each storage kind, to tell a whole storage record from a cut one
BYTES_PER = {
    "Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2,
    "Char": 1, "Byte": 1, "Bool": 1, "ComplexDouble": 16, "ComplexFloat": 8,
    "QInt32": 4, "QInt8": 1, "QUInt8": 1, "QUInt4x2": 1, "QUInt2x4": 1, "Untyped": 1,
}  # fmt: skip
_PLAIN = ["BFloat16", "Bool", "Byte", "Char", "Double", "Float", "Half", "Int", "Long", "Short"]
_DTYPES = (
    "bfloat16 bits16 bits1x8 bits2x4 bits4x2 bits8 bool complex128 complex32 complex64 float16 "
    "float32 float4_e2m1fn_x2 float64 float8_e4m3fn float8_e4m3fnuz float8_e5m2 float8_e5m2fnuz "
    "float8_e8m0fnu qint32 qint8 quint2x4 quint4x2 quint8"
).split()
_REBUILD = (
    "tensor tensor_v2 tensor_v3 parameter parameter_with_state qtensor sparse_tensor "
    "meta_tensor_no_storage nested_tensor wrapper_subclass device_tensor_from_numpy "
    "device_tensor_from_cpu_tensor"
).split()
_QSCHEMES = (
    "tensor_affine tensor_symmetric channel_affine channel_symmetric channel_affine_float_qparams"
)

# _get_allowed_globals(): the only names a GLOBAL may ask for
# fmt: off
ALLOWED_GLOBALS = frozenset(
    [
        "collections.OrderedDict", "collections.Counter", "_codecs.encode", "builtins.bytearray",
        "builtins.set", "builtins.complex", "torch.nn.parameter.Parameter", "torch.Size",
        "torch.Tensor", "torch.device", "torch.serialization._get_layout",
        "torch.storage.TypedStorage", "torch.storage.UntypedStorage",
        "torch._tensor._rebuild_from_type_v2",
    ]
    + [f"torch.{d}" for d in _DTYPES]
    + [f"torch.{u}int{n}" for u in ("", "u") for n in range(1, 9)]
    + [f"torch.uint{n}" for n in (16, 32, 64)] + [f"torch.int{n}" for n in (16, 32, 64)]
    + [f"torch.per_{q}" for q in _QSCHEMES.split()]
    + [f"torch._utils._rebuild_{f}" for f in _REBUILD]
    + [f"torch.{c}{t}Tensor" for c in ("", "cuda.") for t in _PLAIN]
    + [f"torch.{c}sparse.{t}Tensor" for c in ("", "cuda.") for t in _PLAIN if t != "Bool"]
    + [f"torch.{c}{t}Storage" for c in ("", "cuda.") for t in _PLAIN + ["ComplexDouble", "ComplexFloat"]]
    + [f"torch.{q}Storage" for q in ("QInt32", "QInt8", "QUInt2x4", "QUInt4x2", "QUInt8")]
)
# fmt: on

# protocol 4+ opcodes a plain pickle.dump writes: torch refuses them, but playing them on
# tells a file that asks for os.system from one merely saved with another protocol
NEWER = frozenset("FRAME MEMOIZE SHORT_BINUNICODE BINUNICODE8 STACK_GLOBAL SHORT_BINBYTES".split())
ANY_CLASS = frozenset("INST OBJ NEWOBJ_EX EXT1 EXT2 EXT4".split())
# the opcodes torch's weights_only unpickler executes; it refuses every other one
OPCODES = frozenset(
    "PROTO STOP GLOBAL NEWOBJ REDUCE BUILD APPEND APPENDS SETITEM SETITEMS MARK TUPLE TUPLE1 "
    "TUPLE2 TUPLE3 NONE NEWFALSE NEWTRUE EMPTY_TUPLE EMPTY_LIST EMPTY_DICT EMPTY_SET BININT "
    "BININT1 BININT2 BINFLOAT BINUNICODE SHORT_BINSTRING LONG1 BINPERSID BINGET LONG_BINGET "
    "BINPUT LONG_BINPUT".split()
)
