"""A Stone proof JSON, read and validated: the parts its Integrity facts and security depend on.

Every problem is a :class:`StoneProofError` naming the field, so a bad file is refused with a reason
before anything is hashed. docs/stone.md ("Integrity facts of a Stone proof") explains what is read and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zk_pipeline.jsonio import JsonInputError, parse_json
from zk_pipeline.stark.field import P

# Builtins of each layout, in the layout's segment order (Integrity's
# ``src/air/layouts/<layout>/constants.cairo``: ``get_builtins``).
LAYOUT_BUILTINS: dict[str, tuple[str, ...]] = {
    "dex": ("output", "pedersen", "range_check", "ecdsa"),
    "recursive": ("output", "pedersen", "range_check", "bitwise"),
    "recursive_with_poseidon": ("output", "pedersen", "range_check", "bitwise", "poseidon"),
    "small": ("output", "pedersen", "range_check", "ecdsa"),
    "starknet": ("output", "pedersen", "range_check", "ecdsa", "bitwise", "ec_op", "poseidon"),
    "starknet_with_keccak": ("output", "pedersen", "range_check", "ecdsa", "bitwise", "ec_op", "keccak",
                             "poseidon"),
}

# Stone ``commitment_hash`` -> Integrity hasher name.
HASHERS = {
    "keccak256_masked160_lsb": "keccak_160_lsb",
    "keccak256_masked248_lsb": "keccak_248_lsb",
    "blake256_masked160_lsb": "blake2s_160_lsb",
    "blake256_masked248_lsb": "blake2s_248_lsb",
}


class StoneProofError(ValueError):
    """The file is not a usable Stone proof; the message says what is wrong and where."""


@dataclass(frozen=True)
class Segment:
    begin_addr: int
    stop_ptr: int


@dataclass(frozen=True)
class MemoryCell:
    address: int
    page: int
    value: int


@dataclass(frozen=True)
class StoneProof:
    """The parts of a Stone proof JSON that facts and security depend on."""

    layout: str
    n_steps: int
    rc_min: int
    rc_max: int
    segments: Mapping[str, Segment]
    public_memory: tuple[MemoryCell, ...]
    dynamic_params: Any
    fri_step_list: tuple[int, ...]
    last_layer_degree_bound: int
    n_queries: int
    proof_of_work_bits: int
    log_n_cosets: int
    commitment_hash: str | None
    n_verifier_friendly_commitment_layers: int | None

    @property
    def hasher(self) -> str | None:
        """Integrity's name for the commitment hasher, or None when Integrity has no verifier for it."""
        return HASHERS.get(self.commitment_hash or "")


def _get(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise StoneProofError(f"{where}: missing field '{key}'")
    return obj[key]


def _obj(obj: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise StoneProofError(f"{where}: expected an object, got {type(obj).__name__}")
    return obj


def _int(value: Any, where: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StoneProofError(f"{where}: expected an integer, got {value!r}")
    if value < minimum:
        raise StoneProofError(f"{where}: must be at least {minimum}, got {value}")
    return value


def _power_of_two(value: int, where: str) -> int:
    if value < 1 or value & (value - 1):
        raise StoneProofError(f"{where}: must be a power of two, got {value}")
    return value


def _felt(value: Any, where: str) -> int:
    if isinstance(value, str):
        text = value.strip().lower()
        if not text.startswith("0x") or len(text) < 3:
            raise StoneProofError(f"{where}: expected a 0x-prefixed hex felt, got {value!r}")
        try:
            n = int(text, 16)
        except ValueError:
            raise StoneProofError(f"{where}: not a hex number: {value!r}") from None
    else:
        n = _int(value, where)
    if not 0 <= n < P:
        raise StoneProofError(f"{where}: {value!r} is not a field element (must be below the Stark prime)")
    return n


def parse_stone_proof(doc: Any) -> StoneProof:
    """Validate a decoded Stone proof JSON; every problem is a ``StoneProofError`` naming the field."""
    doc = _obj(doc, "proof")
    params = _obj(_get(doc, "proof_parameters", "proof"), "proof_parameters")
    public = _obj(_get(doc, "public_input", "proof"), "public_input")
    proof_hex = _get(doc, "proof_hex", "proof")
    if not isinstance(proof_hex, str) or not proof_hex.strip():
        raise StoneProofError("proof.proof_hex: expected a non-empty hex string")

    stark = _obj(_get(params, "stark", "proof_parameters"), "proof_parameters.stark")
    fri = _obj(_get(stark, "fri", "proof_parameters.stark"), "proof_parameters.stark.fri")
    where = "proof_parameters.stark.fri"
    steps = _get(fri, "fri_step_list", where)
    if not isinstance(steps, list) or not steps:
        raise StoneProofError(f"{where}.fri_step_list: expected a non-empty list of integers")
    fri_steps = tuple(_int(s, f"{where}.fri_step_list[{i}]") for i, s in enumerate(steps))
    last_layer = _power_of_two(_int(_get(fri, "last_layer_degree_bound", where),
                                    f"{where}.last_layer_degree_bound", minimum=1),
                               f"{where}.last_layer_degree_bound")
    n_queries = _int(_get(fri, "n_queries", where), f"{where}.n_queries", minimum=1)
    pow_bits = _int(_get(fri, "proof_of_work_bits", where), f"{where}.proof_of_work_bits")
    log_n_cosets = _int(_get(stark, "log_n_cosets", "proof_parameters.stark"),
                        "proof_parameters.stark.log_n_cosets", minimum=1)
    commitment_hash = params.get("commitment_hash")
    if commitment_hash is not None and not isinstance(commitment_hash, str):
        raise StoneProofError("proof_parameters.commitment_hash: expected a string")
    n_vf = params.get("n_verifier_friendly_commitment_layers")
    if n_vf is not None:
        n_vf = _int(n_vf, "proof_parameters.n_verifier_friendly_commitment_layers")

    layout = _get(public, "layout", "public_input")
    if not isinstance(layout, str) or not layout:
        raise StoneProofError("public_input.layout: expected a non-empty string")
    n_steps = _power_of_two(_int(_get(public, "n_steps", "public_input"), "public_input.n_steps", minimum=1),
                            "public_input.n_steps")
    rc_min = _int(_get(public, "rc_min", "public_input"), "public_input.rc_min")
    rc_max = _int(_get(public, "rc_max", "public_input"), "public_input.rc_max")
    if rc_min > rc_max:
        raise StoneProofError(f"public_input: rc_min {rc_min} is above rc_max {rc_max}")

    raw_segments = _obj(_get(public, "memory_segments", "public_input"), "public_input.memory_segments")
    segments: dict[str, Segment] = {}
    for name, seg in raw_segments.items():
        w = f"public_input.memory_segments.{name}"
        seg = _obj(seg, w)
        segments[name] = Segment(_int(_get(seg, "begin_addr", w), f"{w}.begin_addr"),
                                 _int(_get(seg, "stop_ptr", w), f"{w}.stop_ptr"))
    for name in ("program", "execution", "output"):
        if name not in segments:
            raise StoneProofError(f"public_input.memory_segments: missing segment '{name}'")

    raw_memory = _get(public, "public_memory", "public_input")
    if not isinstance(raw_memory, list) or not raw_memory:
        raise StoneProofError("public_input.public_memory: expected a non-empty list of cells")
    cells = []
    for i, cell in enumerate(raw_memory):
        w = f"public_input.public_memory[{i}]"
        cell = _obj(cell, w)
        cells.append(MemoryCell(address=_int(_get(cell, "address", w), f"{w}.address"),
                                page=_int(_get(cell, "page", w), f"{w}.page"),
                                value=_felt(_get(cell, "value", w), f"{w}.value")))

    return StoneProof(
        layout=layout, n_steps=n_steps, rc_min=rc_min, rc_max=rc_max, segments=segments,
        public_memory=tuple(cells), dynamic_params=public.get("dynamic_params"),
        fri_step_list=fri_steps, last_layer_degree_bound=last_layer, n_queries=n_queries,
        proof_of_work_bits=pow_bits, log_n_cosets=log_n_cosets, commitment_hash=commitment_hash,
        n_verifier_friendly_commitment_layers=n_vf,
    )


def load_stone_proof(path: str | Path) -> StoneProof:
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise StoneProofError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise StoneProofError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        doc = parse_json(text)
    except JsonInputError as exc:
        raise StoneProofError(f"{path}: {exc}") from None
    try:
        return parse_stone_proof(doc)
    except StoneProofError as exc:
        raise StoneProofError(f"{path}: {exc}") from None
