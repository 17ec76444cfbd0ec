"""The proof object and its versioned binary encoding.

Layout of format version 2 (all integers big-endian; ``elem`` = 32-byte
canonical field element ``< p``; ``digest`` = 32-byte BLAKE2s digest)::

    magic            8 bytes  b"ZKPSTARK"
    version          u16      1
    air_id           u16 length + UTF-8
    params           u8 blowup, u8 num_queries, u8 grinding_bits,
                     u8 fri_folding_factor, u16 fri_remainder_max_degree
    log2(trace_len)  u8
    main_width       u16
    aux_width        u16
    chunks           u16      composition polynomial chunks
    main_root        digest
    aux_root         digest   (only if aux_width > 0)
    comp_root        digest
    ood              u32 count + elem*   trace cells of the frame at z*g^off, then chunks at z
    fri_roots        u8 count + digest*
    fri_remainder    u32 count + elem*
    pow_nonce        u64
    main_opening     section
    aux_opening      section  (only if aux_width > 0)
    comp_opening     section
    fri_layers       one per FRI root: u32 count + elem*, u32 auth count + digest*
                     (the opened cosets' values except those at query positions, see fri.py)

    section := u16 rows, rows * width elem, u32 auth count + digest*

Version 2 (with one query per first-layer coset and the FRI values the verifier
knows left out) replaced version 1, which version-2 verifiers refuse.

Rows of an opening are in ascending order of leaf index. Deserialisation
checks every length against the bytes that remain *before* allocating, checks
canonical field elements and rejects trailing bytes, so any byte string either
parses or raises :class:`ProofFormatError` with a message, in time linear in
its length. Shapes that depend on the AIR (widths, counts) are checked again
by the verifier. The proof hash is SHA-256 of the encoding.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from zk_pipeline.stark.field import ELEMENT_BYTES, P, to_bytes
from zk_pipeline.stark.fri import FriLayerProof, FriProof
from zk_pipeline.stark.merkle import DIGEST_BYTES
from zk_pipeline.stark.params import ParamsError, ProofParams

MAGIC = b"ZKPSTARK"
FORMAT_VERSION = 2
MAX_LOG_TRACE = 28
MAX_WIDTH = 4096


class ProofFormatError(ValueError):
    """The bytes are not a well-formed proof of this format version."""


@dataclass
class Opening:
    rows: list[list[int]]
    auth: list[bytes]


@dataclass
class Proof:
    air_id: str
    params: ProofParams
    trace_length: int
    main_width: int
    aux_width: int
    chunks: int
    main_root: bytes
    aux_root: bytes | None
    comp_root: bytes
    ood: list[int]
    fri: FriProof
    nonce: int
    main_open: Opening
    aux_open: Opening | None
    comp_open: Opening
    version: int = field(default=FORMAT_VERSION)

    # -- encoding ---------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        out = bytearray(MAGIC)
        out += self.version.to_bytes(2, "big")
        aid = self.air_id.encode()
        out += len(aid).to_bytes(2, "big") + aid
        out += self.params.to_bytes()
        out += (self.trace_length.bit_length() - 1).to_bytes(1, "big")
        out += self.main_width.to_bytes(2, "big") + self.aux_width.to_bytes(2, "big") + self.chunks.to_bytes(2, "big")
        out += self.main_root
        if self.aux_width:
            out += self.aux_root
        out += self.comp_root
        _elems(out, self.ood)
        out += len(self.fri.roots).to_bytes(1, "big") + b"".join(self.fri.roots)
        _elems(out, self.fri.remainder)
        out += self.nonce.to_bytes(8, "big")
        _section(out, self.main_open)
        if self.aux_width:
            _section(out, self.aux_open)
        _section(out, self.comp_open)
        for layer in self.fri.layers:
            _elems(out, layer.values)
            _digests(out, layer.auth)
        return bytes(out)

    def hash(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Proof":
        return cls._parse(data)[0]

    @classmethod
    def layout(cls, data: bytes) -> list[tuple[str, int, int]]:
        """``(section name, start, end)`` byte spans of an encoded proof (docs, tests)."""
        return cls._parse(data)[1]

    @classmethod
    def _parse(cls, data: bytes) -> tuple["Proof", list[tuple[str, int, int]]]:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ProofFormatError("proof must be bytes")
        r = _Reader(bytes(data))
        spans: list[tuple[str, int, int]] = []
        mark = [0]

        def span(name: str) -> None:
            spans.append((name, mark[0], r.pos))
            mark[0] = r.pos

        if r.take(len(MAGIC), "magic") != MAGIC:
            raise ProofFormatError("not a zk-pipeline STARK proof (bad magic)")
        version = r.u(2, "version")
        if version != FORMAT_VERSION:
            raise ProofFormatError(f"unsupported proof format version {version} (expected {FORMAT_VERSION})")
        try:
            air_id = r.take(r.u(2, "air id length"), "air id").decode()
        except UnicodeDecodeError:
            raise ProofFormatError("air id is not UTF-8") from None
        span("header")
        raw = r.take(6, "params")
        try:
            params = ProofParams(raw[0], raw[1], raw[2], raw[3], int.from_bytes(raw[4:6], "big"))
        except ParamsError as exc:
            raise ProofFormatError(str(exc)) from None
        log_n = r.u(1, "trace length")
        if log_n > MAX_LOG_TRACE:
            raise ProofFormatError("trace length too large")
        main_w, aux_w, chunks = r.u(2, "main width"), r.u(2, "aux width"), r.u(2, "chunks")
        if not 0 < main_w <= MAX_WIDTH or aux_w > MAX_WIDTH or not 0 < chunks <= 64:
            raise ProofFormatError("trace widths out of range")
        span("params+shape")
        main_root = r.take(DIGEST_BYTES, "main root")
        aux_root = r.take(DIGEST_BYTES, "aux root") if aux_w else None
        comp_root = r.take(DIGEST_BYTES, "composition root")
        span("trace commitments")
        ood = r.elems("ood values")
        span("ood values")
        n_roots = r.u(1, "fri layer count")
        fri_roots = [r.take(DIGEST_BYTES, "fri root") for _ in range(n_roots)]
        span("fri commitments")
        remainder = r.elems("fri remainder")
        span("fri remainder")
        nonce = r.u(8, "nonce")
        span("pow nonce")
        main_open = r.section(main_w, "main opening")
        span("main opening")
        aux_open = r.section(aux_w, "aux opening") if aux_w else None
        span("aux opening")
        comp_open = r.section(chunks, "composition opening")
        span("composition opening")
        layers = []
        for i in range(n_roots):
            values = r.elems(f"fri layer {i}")
            layers.append(FriLayerProof(values, r.digests(f"fri layer {i}")))
            span(f"fri layer {i} opening")
        if r.remaining():
            raise ProofFormatError(f"{r.remaining()} trailing bytes after the proof")
        return cls(
            air_id=air_id, params=params, trace_length=1 << log_n, main_width=main_w, aux_width=aux_w,
            chunks=chunks, main_root=main_root, aux_root=aux_root, comp_root=comp_root, ood=ood,
            fri=FriProof(fri_roots, remainder, layers), nonce=nonce, main_open=main_open,
            aux_open=aux_open, comp_open=comp_open, version=version,
        ), [s for s in spans if s[2] > s[1]]


def _elems(out: bytearray, xs: list[int]) -> None:
    out += len(xs).to_bytes(4, "big")
    for x in xs:
        out += to_bytes(x)


def _section(out: bytearray, op: Opening) -> None:
    out += len(op.rows).to_bytes(2, "big")
    for row in op.rows:
        for x in row:
            out += to_bytes(x)
    _digests(out, op.auth)


def _digests(out: bytearray, ds: list[bytes]) -> None:
    out += len(ds).to_bytes(4, "big") + b"".join(ds)


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, k: int, what: str) -> bytes:
        if k < 0 or k > self.remaining():
            raise ProofFormatError(f"truncated proof while reading {what}")
        b = self.data[self.pos : self.pos + k]
        self.pos += k
        return b

    def u(self, k: int, what: str) -> int:
        return int.from_bytes(self.take(k, what), "big")

    def elem(self, what: str) -> int:
        return self.elem_list(1, what)[0]

    def elem_list(self, count: int, what: str) -> list[int]:
        raw = self.take(count * ELEMENT_BYTES, what)
        xs = [int.from_bytes(raw[i : i + ELEMENT_BYTES], "big") for i in range(0, len(raw), ELEMENT_BYTES)]
        if any(x >= P for x in xs):
            raise ProofFormatError(f"non-canonical field element in {what}")
        return xs

    def elems(self, what: str) -> list[int]:
        count = self.u(4, what + " count")
        if count * ELEMENT_BYTES > self.remaining():
            raise ProofFormatError(f"truncated proof: {what} claims {count} elements")
        return self.elem_list(count, what)

    def section(self, width: int, what: str) -> Opening:
        rows = self.u(2, what + " rows")
        if rows * width * ELEMENT_BYTES > self.remaining():
            raise ProofFormatError(f"truncated proof: {what} claims {rows} rows")
        flat = self.elem_list(rows * width, what)
        values = [flat[i * width : (i + 1) * width] for i in range(rows)]
        return Opening(values, self.digests(what))

    def digests(self, what: str) -> list[bytes]:
        count = self.u(4, what + " auth count")
        if count * DIGEST_BYTES > self.remaining():
            raise ProofFormatError(f"truncated proof: {what} claims {count} authentication nodes")
        return [self.take(DIGEST_BYTES, what) for _ in range(count)]
