"""Vectors of field elements for the prover, with a native and a pure-Python backend.

Why: the prover spends its time in element-wise products and NTT butterflies over
whole evaluation domains. :class:`FVec` is a NumPy-like vector (or matrix; the last
axis is the element axis) with ``+ - *`` against other vectors and Python ints, so
the AIR's constraint functions run on it unchanged, exactly as they run on single
ints in the verifier.

Two backends compute the same values:

* ``native`` (the default when ``_felt`` is built): ``uint64[..., 4]`` limbs in
  Montgomery form, operated on by the C kernels in ``_felt.c`` (4-limb CIOS
  Montgomery products, radix-2 NTT, batch inversion, linear combinations);
* ``python``: NumPy object arrays of Python ints reduced mod ``p`` — the
  portable fallback when no C compiler was available at install time.

``use_backend("python")`` forces the fallback (the project calls it for
``ZKP_FIELD_BACKEND=python``). Proofs do not depend on the
backend (the tests prove the same statement on both and compare the bytes); the
verifier never uses this module.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import repeat
from typing import Iterable, Sequence

import numpy as np

from zk_pipeline.stark.field import P, batch_inverse as _batch_inverse_ints, inv, powers, root_of_unity

try:  # built by setup.py when a C compiler is available
    from zk_pipeline.stark import _felt
except ImportError:  # pragma: no cover - exercised on machines without a compiler
    _felt = None

R = 2**256 % P  # Montgomery radix mod p
_MASK = 2**64 - 1


# ------------------------------------------------------------------------------------------------
# Backends: the same primitive operations on two data representations
# ------------------------------------------------------------------------------------------------
class _PythonOps:
    """Object arrays of canonical Python ints (shape = the logical shape)."""

    name = "python"
    elem_axis = -1

    @staticmethod
    def from_ints(a: np.ndarray) -> np.ndarray:
        return np.asarray(np.asarray(a, dtype=object) % P, dtype=object)  # a 0-d array stays an array

    @staticmethod
    def to_ints(d: np.ndarray) -> np.ndarray:
        return d

    @staticmethod
    def logical_shape(d: np.ndarray) -> tuple:
        return d.shape

    @staticmethod
    def scalar(c: int):
        return c % P

    @staticmethod
    def add(a, b):
        return (a + b) % P

    @staticmethod
    def sub(a, b):
        return (a - b) % P

    @staticmethod
    def rsub(a, b):
        return (b - a) % P

    @staticmethod
    def mul(a, b):
        return a * b % P

    @staticmethod
    def zeros(shape: tuple) -> np.ndarray:
        return np.zeros(shape, dtype=object)

    @staticmethod
    def ntt(d: np.ndarray, inverse: bool) -> np.ndarray:
        n = d.shape[-1]
        a = d[..., _bit_reverse(n)]
        lead = a.shape[:-1]
        m = 2
        while m <= n:
            h = m // 2
            blocks = a.reshape(lead + (n // m, 2, h))
            u = blocks[..., 0, :]
            v = blocks[..., 1, :] if m == 2 else blocks[..., 1, :] * _twiddles_int(m, inverse) % P
            top, bot = (u + v) % P, (u - v) % P
            blocks[..., 0, :] = top
            blocks[..., 1, :] = bot
            a = blocks.reshape(lead + (n,))
            m *= 2
        return a

    @staticmethod
    def batch_inverse(d: np.ndarray) -> np.ndarray:
        return np.array(_batch_inverse_ints(list(d.ravel())), dtype=object).reshape(d.shape)

    @staticmethod
    def lincomb(coeffs: np.ndarray, mat: np.ndarray) -> np.ndarray:
        return np.dot(coeffs, mat) % P

    @staticmethod
    def leaf_bytes(d: np.ndarray) -> list[bytes]:
        cols = [list(map(int.to_bytes, col, repeat(32), repeat("big"))) for col in d]
        return [b"".join(parts) for parts in zip(*cols)]


def _limbs(values: Iterable[int]) -> np.ndarray:
    """Canonical ints -> ``uint64[k, 4]`` little-endian limbs (no Montgomery factor)."""
    raw = b"".join(map(int.to_bytes, values, repeat(32), repeat("little")))
    return np.frombuffer(raw, dtype=np.uint64).reshape(-1, 4).copy()


def _elementwise(kernel: str):
    """``out = a op b`` by the C kernel of that name (``b``: same shape, or one element)."""

    def op(cls, a, b):
        return cls._call(getattr(_felt, kernel), a.shape[:-1], a, b)

    op.__name__ = kernel
    return classmethod(op)


class _NativeOps:
    """``uint64[..., 4]`` Montgomery limbs (shape = logical shape + (4,)), C kernels."""

    name = "native"
    elem_axis = -2

    @staticmethod
    def _call(kernel, shape: tuple, *operands) -> np.ndarray:
        out = np.empty(shape + (4,), dtype=np.uint64)
        kernel(out, *[np.ascontiguousarray(x) for x in operands])
        return out

    @classmethod
    def from_ints(cls, a) -> np.ndarray:
        arr = np.asarray(a, dtype=object)
        if arr.size == 0:
            return np.zeros(arr.shape + (4,), dtype=np.uint64)
        rows = arr.reshape(-1, arr.shape[-1]) if arr.ndim else arr.reshape(1, 1)
        limbs = np.zeros(rows.shape + (4,), dtype=np.uint64)
        for i, row in enumerate(rows):
            try:  # most trace columns hold values in [0, 2^64): one limb, converted by NumPy
                limbs[i, :, 0] = row.astype(np.uint64)
            except (OverflowError, TypeError):
                limbs[i] = _limbs(int(x) % P for x in row)
        return cls.mul(limbs.reshape(arr.shape + (4,)), _mont_limbs(R * R % P, raw=True))

    @classmethod
    def canonical(cls, d: np.ndarray) -> np.ndarray:
        """Out of Montgomery form: limbs of ``x`` itself (``x R * 1 / R = x``)."""
        return cls.mul(d, _mont_limbs(1, raw=True))

    @classmethod
    def to_ints(cls, d: np.ndarray) -> np.ndarray:
        words = np.ascontiguousarray(cls.canonical(d)).reshape(-1, 4)
        out = np.empty(words.shape[0], dtype=object)
        raw = words.tobytes()
        for i in range(words.shape[0]):
            out[i] = int.from_bytes(raw[32 * i : 32 * i + 32], "little")
        return out.reshape(d.shape[:-1])

    @staticmethod
    def logical_shape(d: np.ndarray) -> tuple:
        return d.shape[:-1]

    @staticmethod
    def scalar(c: int) -> np.ndarray:
        return _mont_limbs(c % P)

    add = _elementwise("add")
    sub = _elementwise("sub")
    rsub = _elementwise("rsub")
    mul = _elementwise("mul")

    @staticmethod
    def zeros(shape: tuple) -> np.ndarray:
        return np.zeros(tuple(shape) + (4,), dtype=np.uint64)

    @staticmethod
    def ntt(d: np.ndarray, inverse: bool) -> np.ndarray:
        n = d.shape[-2]
        a = np.array(d, dtype=np.uint64, order="C", copy=True)
        rows = a.size // (4 * n) if n else 0
        if n > 1 and rows:
            _felt.ntt(a, _twiddles_native(n, inverse), rows)
        return a

    @classmethod
    def batch_inverse(cls, d: np.ndarray) -> np.ndarray:
        return cls._call(_felt.batch_inverse, d.shape[:-1], d)

    @classmethod
    def lincomb(cls, coeffs: np.ndarray, mat: np.ndarray) -> np.ndarray:
        return cls._call(_felt.lincomb, mat.shape[1:-1], coeffs, mat)

    @classmethod
    def leaf_bytes(cls, d: np.ndarray) -> list[bytes]:
        canon = cls.canonical(d)  # (w, N, 4) little-endian limbs
        # point-major, each element big-endian: reverse the limbs, byte-swap each limb
        be = np.ascontiguousarray(canon.transpose(1, 0, 2)[..., ::-1]).byteswap()
        rows = be.view(np.uint8).reshape(be.shape[0], -1)
        return [r.tobytes() for r in rows]


@lru_cache(maxsize=4096)
def _mont_limbs(c: int, raw: bool = False) -> np.ndarray:
    """One element as a ``uint64[1, 4]`` operand: Montgomery form ``c R``, or ``raw`` limbs of ``c``."""
    x = c if raw else c * R % P
    out = np.array([(x >> (64 * i)) & _MASK for i in range(4)], dtype=np.uint64).reshape(1, 4)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=64)
def _bit_reverse(n: int) -> np.ndarray:
    logn = n.bit_length() - 1
    idx = np.arange(n)
    out = np.zeros(n, dtype=np.int64)
    for b in range(logn):
        out |= ((idx >> b) & 1) << (logn - 1 - b)
    return out


def _root(n: int, inverse: bool) -> int:
    w = root_of_unity(n)
    return inv(w) if inverse else w


@lru_cache(maxsize=256)
def _twiddles_int(m: int, inverse: bool) -> np.ndarray:
    return np.array(powers(_root(m, inverse), m // 2), dtype=object)


@lru_cache(maxsize=64)
def _twiddles_native(n: int, inverse: bool) -> np.ndarray:
    out = np.empty((n // 2, 4), dtype=np.uint64)
    _felt.powers(out, _mont_limbs(_root(n, inverse)), _mont_limbs(1))
    out.flags.writeable = False
    return out


#: The active backend and its name (``"native"`` or ``"python"``); :func:`use_backend` changes both.
OPS = _PythonOps if _felt is None else _NativeOps
BACKEND = OPS.name


def use_backend(name: str | None) -> str:
    """Select the arithmetic of new vectors: ``"python"`` forces the fallback, anything else is native if built.

    The library reads no configuration itself; the application calls this once, before proving.
    Returns the name of the backend now in use.
    """
    global OPS, BACKEND
    wanted = (name or "").strip().lower()
    OPS = _PythonOps if wanted == "python" or _felt is None else _NativeOps
    BACKEND = OPS.name
    return BACKEND


# ------------------------------------------------------------------------------------------------
# The vector type
# ------------------------------------------------------------------------------------------------
class FVec:
    """Field elements with a NumPy-like shape; immutable (every operation returns a new vector)."""

    __slots__ = ("d", "ops")

    def __init__(self, data, ops=None):
        self.d = data
        self.ops = ops or OPS

    # -- construction / export ---------------------------------------------------------------------
    @classmethod
    def of(cls, values, ops=None) -> "FVec":
        """From ints (any integers: reduced mod ``p``) or from an object array of them."""
        ops = ops or OPS
        return cls(ops.from_ints(np.asarray(values, dtype=object)), ops)

    @classmethod
    def zeros(cls, shape, ops=None) -> "FVec":
        ops = ops or OPS
        return cls(ops.zeros(tuple(np.atleast_1d(shape))), ops)

    @classmethod
    def powers(cls, base: int, count: int, start: int = 1, ops=None) -> "FVec":
        ops = ops or OPS
        if ops is _NativeOps:
            out = np.empty((count, 4), dtype=np.uint64)
            _felt.powers(out, _mont_limbs(base % P), _mont_limbs(start % P))
            return cls(out, ops)
        return cls.of(powers(base, count, start), ops)

    @classmethod
    def stack(cls, vecs: Sequence["FVec"]) -> "FVec":
        ops = vecs[0].ops
        return cls(np.stack([v.d for v in vecs]), ops)

    def ints(self) -> np.ndarray:
        """Canonical Python ints in an object array of the same shape."""
        return self.ops.to_ints(self.d)

    def tolist(self) -> list:
        return self.ints().tolist()

    # -- shape -------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.ops.logical_shape(self.d)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, idx) -> "FVec":
        if idx is Ellipsis or (isinstance(idx, tuple) and any(i is Ellipsis for i in idx)):
            raise IndexError("FVec indexing does not take Ellipsis")
        return FVec(self.d[idx], self.ops)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def reshape(self, *shape) -> "FVec":
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], tuple) else shape
        extra = self.d.shape[len(self.shape):]
        return FVec(self.d.reshape(shape + extra), self.ops)

    def roll(self, shift: int) -> "FVec":
        """Rotate along the element axis (``np.roll`` semantics)."""
        return FVec(np.roll(self.d, shift, axis=self.ops.elem_axis), self.ops)

    def pad(self, size: int) -> "FVec":
        """Zero-extend the element axis to ``size``."""
        n = self.shape[-1]
        if size < n:
            raise ValueError("pad cannot shorten")
        out = self.ops.zeros(self.shape[:-1] + (size,))
        if self.ops is _NativeOps:
            out[..., :n, :] = self.d
        else:
            out[..., :n] = self.d
        return FVec(out, self.ops)

    @classmethod
    def interleave(cls, parts: Sequence["FVec"]) -> "FVec":
        """Element ``i * len(parts) + j`` of the result is element ``i`` of ``parts[j]``."""
        ops = parts[0].ops
        shape = parts[0].shape
        stacked = np.stack([v.d for v in parts], axis=ops.elem_axis)
        return cls(stacked, ops).reshape(shape[:-1] + (shape[-1] * len(parts),))

    def tile(self, reps: int) -> "FVec":
        if self.ops is _NativeOps:
            return FVec(np.tile(self.d, (reps, 1)), self.ops)
        return FVec(np.tile(self.d, reps), self.ops)

    # -- arithmetic --------------------------------------------------------------------------------
    def _operand(self, o):
        """The other operand's data: same shape, a trailing-axes shape (broadcast), or an int."""
        if isinstance(o, FVec):
            if o.shape == self.shape:
                return o.d
            if o.shape == self.shape[len(self.shape) - len(o.shape):]:
                return np.broadcast_to(o.d, self.d.shape)
            raise ValueError(f"FVec shapes differ: {self.shape} vs {o.shape}")
        return self.ops.scalar(int(o))

    def __add__(self, o) -> "FVec":
        return FVec(self.ops.add(self.d, self._operand(o)), self.ops)

    __radd__ = __add__

    def __sub__(self, o) -> "FVec":
        return FVec(self.ops.sub(self.d, self._operand(o)), self.ops)

    def __rsub__(self, o) -> "FVec":
        return FVec(self.ops.rsub(self.d, self._operand(o)), self.ops)

    def __mul__(self, o) -> "FVec":
        return FVec(self.ops.mul(self.d, self._operand(o)), self.ops)

    __rmul__ = __mul__

    def __neg__(self) -> "FVec":
        return 0 - self

    # -- bulk operations ---------------------------------------------------------------------------
    def ntt(self, inverse: bool = False) -> "FVec":
        """Radix-2 NTT of every row (unscaled: an inverse transform is ``n`` times the coefficients)."""
        n = self.shape[-1]
        if n & (n - 1):
            raise ValueError("NTT size must be a power of two")
        return FVec(self.ops.ntt(self.d, inverse), self.ops)

    def inverse(self) -> "FVec":
        """Element-wise inverses (Montgomery's trick); ``ZeroDivisionError`` on a zero."""
        return FVec(self.ops.batch_inverse(self.d), self.ops)

    def combine(self, coeffs: Sequence[int]) -> "FVec":
        """``sum_i coeffs[i] * self[i]`` over the rows of a matrix."""
        if len(coeffs) != self.shape[0]:
            raise ValueError("one coefficient per row")
        c = FVec.of(list(coeffs), self.ops)
        return FVec(self.ops.lincomb(c.d, self.d), self.ops)

    @classmethod
    def linear_combination(cls, vectors: Sequence["FVec"], coeffs: Sequence[int], batch: int = 16) -> "FVec":
        """``sum_i coeffs[i] * vectors[i]``, stacking at most ``batch`` vectors at a time (bounded memory)."""
        if not vectors or len(vectors) != len(coeffs):
            raise ValueError("one coefficient per vector, at least one vector")
        acc = None
        for i in range(0, len(vectors), batch):
            part = cls.stack(vectors[i : i + batch]).combine(coeffs[i : i + batch])
            acc = part if acc is None else acc + part
        return acc

    @classmethod
    def concat(cls, parts: Sequence["FVec"]) -> "FVec":
        """Join vectors along the element axis."""
        ops = parts[0].ops
        return cls(np.concatenate([v.d for v in parts], axis=ops.elem_axis), ops)

    def dot(self, other: "FVec") -> int:
        """``sum_i self[i] * other[i]`` of two vectors, as an int."""
        if other.shape != self.shape or len(self.shape) != 1:
            raise ValueError("dot needs two vectors of one length")
        col = FVec(other.d.reshape(other.d.shape[:1] + (1,) + other.d.shape[1:]), self.ops)
        return int(FVec(self.ops.lincomb(self.d, col.d), self.ops).ints()[0])

    def is_zero(self) -> bool:
        return not np.any(self.d != 0)

    def leaf_bytes(self) -> list[bytes]:
        """For a ``(columns, points)`` matrix: per point, the 32-byte big-endian values concatenated."""
        if len(self.shape) != 2:
            raise ValueError("leaf_bytes needs a (columns, points) matrix")
        return self.ops.leaf_bytes(self.d)
