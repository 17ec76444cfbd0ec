"""Herodotus-Integrity facts for Stone proofs, computed off chain.

Why facts
---------
A STARK proof of a Cairo run says "this program, run with this public memory,
produced this output". Integrity, the Stone verifier on Starknet, checks such a
proof and then keeps only a *fact*: one felt naming the statement, so that a
contract can later ask "was this program proven to output that?" without ever
seeing the proof. The pipeline publishes its allocation results as Cairo
outputs; to know which fact to look up, or what a proof file will register
before paying to verify it, we compute the same felts here, bit for bit.

Derivation
----------
Every hash is Starknet's Poseidon sponge ``poseidon_hash_many`` (Cairo's
``poseidon_hash_span`` and ``PoseidonImpl::new().update(..).finalize()`` pad
the same way). The two-input ``poseidon_hash(x, y)`` (Hades on ``[x, y, 2]``)
is a different function; Integrity never uses it::

    program_hash         = H(values of the program cells)
    output_hash          = H(values of the output cells)
    fact_hash            = H([program_hash, output_hash])
    security_bits        = n_queries * log_n_cosets + proof_of_work_bits
    verifier_config_hash = H([layout, hasher, stone_version, memory_verification])
    verification_hash    = H([fact_hash, verifier_config_hash, security_bits])

The four configuration fields are Cairo short strings (ASCII, big-endian), as
the FactRegistry receives them: e.g. ``'recursive'``, ``'keccak_160_lsb'``,
``'stone5'``, ``'strict'``. The formulas follow Integrity's Cairo sources:
``src/contracts/verifier.cairo`` (fact), ``src/contracts/fact_registry.cairo``
and ``src/lib_utils.cairo`` (config and verification hashes),
``src/stark.cairo`` (``StarkConfig.validate`` returns the security bits),
``src/air/public_input.cairo`` and ``src/air/layouts/*/public_input.cairo``
(the memory verification modes), ``src/fri/fri_config.cairo`` (FRI degree).

Memory verification modes
-------------------------
A Stone proof's public memory is a list of (address, value) cells. Which of
them are "the program" and which "the output" is not written in the proof; the
verifier has to carve them out, and Integrity offers three ways:

``strict``
    For Cairo 0 programs run in proof mode. The program must start at address
    1 with the proof-mode entry stub ``ap += N_BUILTINS; call main; jmp rel 0``
    (cells ``0x40780017fff7fff, N, 0x1104800180018000, _, 0x10780017fff7fff,
    0``) where N is the number of builtins of the *layout*, and the run must
    stop on that final ``jmp rel 0`` (final_pc = 5). The program is every cell
    from address 1 up to the two cells just below the initial frame pointer,
    which must hold ``initial_fp`` and 0. Next come the builtin pointers passed
    to ``main`` (they must be the layout's segment begin addresses) and those it
    returned (the segment stop pointers), then the output builtin's cells, and
    nothing else. So the program hash is exactly the hash of the compiled
    program and nothing else can leak into the fact.
``relaxed``
    Same carving of program (addresses initial_pc .. initial_fp - 3,
    contiguous from the first public cell) and output, without the checks on
    initial_pc, the entry stub, the builtin pointers or trailing cells;
    whatever lies between program and output is skipped. For Cairo 0 programs
    whose entry code is not the standard stub.
``cairo1``
    For Cairo 1 programs (``cairo1-run --proof_mode``), whose public memory is
    just the program segment followed by the output segment. Integrity checks
    initial_pc = 1, takes the last ``output.stop_ptr - output.begin_addr``
    cells as output and all cells before them as the program, without looking
    at addresses.

Where a mode does not fit the memory, Integrity's Cairo code aborts (a failed
assertion or an out-of-range index); here the same condition raises
``MemoryVerificationError`` with the reason. One check goes beyond Integrity:
in ``cairo1`` mode Integrity would hash a Cairo 0 proof's entry stack cells as
part of the "program". That fact could be registered, but its program hash
belongs to no compiled program, so it is refused here unless the cells before
the output run contiguously from address 1 and stay below the execution
segment, and the output cells sit at the output segment's addresses. And in
``strict`` mode "nothing else" means every public cell is consumed; Integrity
only compares the last consumed cell with the last public cell, which is the
same for any memory Stone writes (no duplicate cells).

Security bits and the FRI degree equation
-----------------------------------------
The conjectured security of a Stone proof is ``n_queries * log_n_cosets +
proof_of_work_bits``: each query is worth log2(blowup) bits, grinding adds the
proof-of-work bits. Integrity registers this number next to the fact; a fact
is only as good as its security bits. Every CPU layout here has 16 trace rows
per Cairo step, so the trace has ``n_steps * 16`` rows and FRI has to reduce a
polynomial of that degree bound to the last layer::

    log2(last_layer_degree_bound) + sum(fri_step_list) == log2(n_steps) + 4

Integrity rejects a proof whose parameters break this; it is reported
(``FriDegreeCheck``), not enforced, because the facts do not depend on it.

Stone version, public input hash and verification hash
------------------------------------------------------
Stone 6 changed the public input hash (the Fiat-Shamir seed): it prepends
``n_verifier_friendly_commitment_layers``. The proof file does not record the
prover version, so the stone version is an input. Without it the public input
hash, the verifier configuration hash and the verification hash are not
computed (``None``); with it they are exact. The hasher comes from the proof's
``commitment_hash`` (``keccak256_masked160_lsb`` is ``keccak_160_lsb``, and so
on); a commitment hash Integrity has no verifier for leaves the configuration
and verification hashes ``None`` too. The public input hash is
``H([n_vf_layers (stone6 only), log2(n_steps), rc_min, rc_max, layout,
*dynamic_params, begin/stop of program, execution and the layout's builtins,
padding address, padding value, 1 + n_continuous_pages, len(main page),
pedersen-chain(main page cells)])`` with the first public cell as padding.

Nothing here verifies the STARK itself: the values are what Integrity would
register if the proof verifies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starknet_py.cairo.felt import encode_shortstring

from zk_pipeline.facts.hashing import fact_hash, poseidon_hash_many, verification_hash
from zk_pipeline.felts import felt_hex_minimal
from zk_pipeline.jsonio import JsonInputError, parse_json
from zk_pipeline.stark.field import P

MEMORY_VERIFICATION_MODES = ("strict", "relaxed", "cairo1")
STONE_VERSIONS = ("stone5", "stone6")

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

# log2(CPU_COMPONENT_HEIGHT * CPU_COMPONENT_STEP): 16 trace rows per Cairo step in all the layouts above.
LOG2_ROWS_PER_STEP = {layout: 4 for layout in LAYOUT_BUILTINS}

# Stone ``commitment_hash`` -> Integrity hasher name.
HASHERS = {
    "keccak256_masked160_lsb": "keccak_160_lsb",
    "keccak256_masked248_lsb": "keccak_248_lsb",
    "blake256_masked160_lsb": "blake2s_160_lsb",
    "blake256_masked248_lsb": "blake2s_248_lsb",
}

INITIAL_PC = 1
MAX_ADDRESS = 2**64 - 1
U32_LIMIT = 2**32
# Proof-mode entry stub of a Cairo 0 program: ap += N_BUILTINS; call rel main; jmp rel 0.
ENTRY_AP_ADD = 0x40780017FFF7FFF
ENTRY_CALL_REL = 0x1104800180018000
ENTRY_JMP_REL = 0x10780017FFF7FFF


class StoneProofError(ValueError):
    """The file is not a usable Stone proof; the message says what is wrong and where."""


class MemoryVerificationError(StoneProofError):
    """The public memory does not have the shape the chosen memory verification mode requires."""


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


@dataclass(frozen=True)
class FriDegreeCheck:
    log2_last_layer_degree_bound: int
    sum_fri_steps: int
    log2_n_steps: int
    log2_rows_per_step: int | None  # None: layout not known, the equation cannot be checked

    @property
    def lhs(self) -> int:
        return self.log2_last_layer_degree_bound + self.sum_fri_steps

    @property
    def rhs(self) -> int | None:
        return None if self.log2_rows_per_step is None else self.log2_n_steps + self.log2_rows_per_step

    @property
    def ok(self) -> bool | None:
        return None if self.rhs is None else self.lhs == self.rhs


@dataclass(frozen=True)
class StoneFacts:
    layout: str
    n_steps: int
    memory_verification: str
    program_hash: int
    output_hash: int
    fact_hash: int
    program_length: int
    output: tuple[int, ...]
    security_bits: int
    fri: FriDegreeCheck
    hasher: str | None
    stone_version: str | None
    public_input_hash: int | None
    verifier_config_hash: int | None
    verification_hash: int | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; felts as 0x-prefixed lowercase hex, absent hashes as null."""

        def opt(v: int | None) -> str | None:
            return None if v is None else felt_hex_minimal(v)

        return {
            "layout": self.layout,
            "n_steps": self.n_steps,
            "memory_verification": self.memory_verification,
            "program_hash": felt_hex_minimal(self.program_hash),
            "output_hash": felt_hex_minimal(self.output_hash),
            "fact_hash": felt_hex_minimal(self.fact_hash),
            "security_bits": self.security_bits,
            "fri_degree_equation_ok": self.fri.ok,
            "fri_degree_equation": {
                "log2_last_layer_degree_bound": self.fri.log2_last_layer_degree_bound,
                "sum_fri_steps": self.fri.sum_fri_steps,
                "log2_n_steps": self.fri.log2_n_steps,
                "log2_rows_per_step": self.fri.log2_rows_per_step,
                "lhs": self.fri.lhs,
                "rhs": self.fri.rhs,
            },
            "program_length": self.program_length,
            "output": [felt_hex_minimal(v) for v in self.output],
            "hasher": self.hasher,
            "stone_version": self.stone_version,
            "public_input_hash": opt(self.public_input_hash),
            "verifier_config_hash": opt(self.verifier_config_hash),
            "verification_hash": opt(self.verification_hash),
        }


# --------------------------------------------------------------------------- parsing


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


# --------------------------------------------------------------------------- memory verification


class _Reader:
    """Walks the main page in order, as Integrity's ``extract_range`` does, failing with reasons."""

    def __init__(self, mode: str, cells: Sequence[MemoryCell]):
        self.mode, self.cells, self.index = mode, cells, 0

    def fail(self, reason: str) -> MemoryVerificationError:
        return MemoryVerificationError(f"{self.mode} memory verification: {reason}")

    def cell(self, what: str) -> MemoryCell:
        if self.index >= len(self.cells):
            raise self.fail(f"public memory ends before {what}")
        c = self.cells[self.index]
        self.index += 1
        return c

    def expect(self, address: int, value: int | None, what: str) -> MemoryCell:
        c = self.cell(f"{what} (address {address})")
        if c.address != address:
            raise self.fail(f"{what}: expected the next public cell at address {address}, found address {c.address}")
        if value is not None and c.value != value:
            raise self.fail(f"{what}: cell {address} holds {hex(c.value)}, expected {hex(value)}")
        return c

    def take(self, start: int, length: int, what: str) -> list[int]:
        return [self.expect(start + k, None, what).value for k in range(length)]


def _main_page(proof: StoneProof, mode: str) -> tuple[MemoryCell, ...]:
    other = sorted({c.page for c in proof.public_memory if c.page != 0})
    if other:
        raise MemoryVerificationError(
            f"{mode} memory verification: public memory has cells on continuous page(s) {other}; "
            "Integrity only verifies proofs whose public memory is a single main page")
    return proof.public_memory


def _common_bounds(proof: StoneProof, mode: str) -> tuple[Segment, Segment, Segment]:
    program, execution, output = (proof.segments[n] for n in ("program", "execution", "output"))
    for name, v in (("execution.begin_addr (initial_ap)", execution.begin_addr),
                    ("execution.stop_ptr (final_ap)", execution.stop_ptr)):
        if v >= MAX_ADDRESS:
            raise MemoryVerificationError(f"{mode} memory verification: {name} {v} is not below 2**64 - 1")
    if output.stop_ptr < output.begin_addr:
        raise MemoryVerificationError(
            f"{mode} memory verification: output segment stops ({output.stop_ptr}) before it begins "
            f"({output.begin_addr})")
    return program, execution, output


def _verify_strict(proof: StoneProof) -> tuple[list[int], list[int]]:
    mode = "strict"
    cells = _main_page(proof, mode)
    program_seg, execution, output_seg = _common_bounds(proof, mode)
    r = _Reader(mode, cells)
    builtins = LAYOUT_BUILTINS.get(proof.layout)
    if builtins is None:
        raise r.fail(f"layout '{proof.layout}' has no known builtin list (known: {sorted(LAYOUT_BUILTINS)})")
    missing = [b for b in builtins if b not in proof.segments]
    if missing:
        raise r.fail(f"layout '{proof.layout}' needs memory segments {missing}, which the public input lacks")

    initial_pc, final_pc = program_seg.begin_addr, program_seg.stop_ptr
    initial_fp = initial_ap = execution.begin_addr
    if initial_pc != INITIAL_PC:
        raise r.fail(f"program segment begins at {initial_pc}, not at {INITIAL_PC}")
    if final_pc != INITIAL_PC + 4:
        raise r.fail(f"program stop_ptr (final_pc) is {final_pc}, not {INITIAL_PC + 4}: the run did not end on "
                     "the proof-mode 'jmp rel 0' of a Cairo 0 entry stub (a Cairo 1 proof? use cairo1 mode)")
    program_len = initial_fp - 2 - initial_pc
    if program_len < 6:
        raise r.fail(f"only {max(program_len, 0)} program cells before initial_fp - 2 = {initial_fp - 2}; "
                     "the entry stub alone needs 6")
    program = r.take(initial_pc, program_len, "program")
    stub = {0: (ENTRY_AP_ADD, "'ap += N_BUILTINS'"), 1: (len(builtins), f"N_BUILTINS of layout '{proof.layout}'"),
            2: (ENTRY_CALL_REL, "'call rel main'"), 4: (ENTRY_JMP_REL, "'jmp rel 0'"), 5: (0, "'jmp rel 0' offset")}
    for offset, (expected, meaning) in stub.items():
        if program[offset] != expected:
            raise r.fail(f"program cell {initial_pc + offset} is {hex(program[offset])}, expected {hex(expected)} "
                         f"({meaning}): not the Cairo 0 proof-mode entry stub")

    r.expect(initial_fp - 2, initial_fp, "saved frame pointer below initial_fp")
    r.expect(initial_fp - 1, 0, "return pc cell below initial_fp")
    for i, name in enumerate(builtins):
        r.expect(initial_ap + i, proof.segments[name].begin_addr, f"'{name}' pointer passed to main")
    final_ap = execution.stop_ptr
    for i, name in enumerate(builtins):
        r.expect(final_ap - len(builtins) + i, proof.segments[name].stop_ptr, f"'{name}' pointer returned by main")
    output = r.take(output_seg.begin_addr, output_seg.stop_ptr - output_seg.begin_addr, "output")
    if r.index != len(cells):
        extra = cells[r.index]
        raise r.fail(f"{len(cells) - r.index} public cell(s) after the output, first at address {extra.address}")
    return program, output


def _verify_relaxed(proof: StoneProof) -> tuple[list[int], list[int]]:
    mode = "relaxed"
    cells = _main_page(proof, mode)
    program_seg, execution, output_seg = _common_bounds(proof, mode)
    r = _Reader(mode, cells)
    for name in ("program", "execution", "output"):
        seg = proof.segments[name]
        if seg.begin_addr >= U32_LIMIT or seg.stop_ptr >= U32_LIMIT:
            raise r.fail(f"{name} segment addresses must fit in 32 bits")
    initial_pc, initial_fp = program_seg.begin_addr, execution.begin_addr
    program_len = initial_fp - 2 - initial_pc
    if program_len < 0:
        raise r.fail(f"execution begins at {initial_fp}, leaving no room for a program from {initial_pc}")
    program = r.take(initial_pc, program_len, "program")
    while True:
        if r.index >= len(cells):
            raise r.fail(f"no public cell at or after the output segment begin {output_seg.begin_addr}")
        if cells[r.index].address >= output_seg.begin_addr:
            break
        r.index += 1
    output = r.take(output_seg.begin_addr, output_seg.stop_ptr - output_seg.begin_addr, "output")
    return program, output


def _verify_cairo1(proof: StoneProof) -> tuple[list[int], list[int]]:
    mode = "cairo1"
    cells = _main_page(proof, mode)
    program_seg, execution, output_seg = _common_bounds(proof, mode)
    r = _Reader(mode, cells)
    if program_seg.begin_addr != INITIAL_PC:
        raise r.fail(f"program segment begins at {program_seg.begin_addr}, not at {INITIAL_PC}")
    output_len = output_seg.stop_ptr - output_seg.begin_addr
    if output_len > len(cells):
        raise r.fail(f"output segment has {output_len} cells but the public memory only {len(cells)}")
    head, tail = cells[:len(cells) - output_len], cells[len(cells) - output_len:]

    # Beyond Integrity (see the module docstring): refuse memory that is not program-then-output.
    for k, c in enumerate(tail):
        if c.address != output_seg.begin_addr + k:
            raise r.fail(f"the last {output_len} public cells are not the output segment "
                         f"{output_seg.begin_addr}..{output_seg.stop_ptr - 1} (found address {c.address})")
    for k, c in enumerate(head):
        if c.address != INITIAL_PC + k:
            raise r.fail(f"the cells before the output are not one program run from address {INITIAL_PC}: "
                         f"after address {INITIAL_PC + k - 1} comes {c.address} (a Cairo 0 entry stack? "
                         "use strict or relaxed mode)")
    if head and head[-1].address >= execution.begin_addr:
        raise r.fail(f"program cells reach address {head[-1].address}, inside the execution segment "
                     f"(from {execution.begin_addr})")
    return [c.value for c in head], [c.value for c in tail]


_MODES = {"strict": _verify_strict, "relaxed": _verify_relaxed, "cairo1": _verify_cairo1}


def program_and_output(proof: StoneProof, memory_verification: str = "strict") -> tuple[list[int], list[int]]:
    """The program cells' and the output cells' values as the given mode carves them from the public memory."""
    try:
        verify = _MODES[memory_verification]
    except KeyError:
        raise StoneProofError(f"unknown memory verification mode {memory_verification!r}; "
                              f"expected one of {list(MEMORY_VERIFICATION_MODES)}") from None
    return verify(proof)


# --------------------------------------------------------------------------- hashes and parameters


def program_hash(proof: StoneProof, memory_verification: str = "strict") -> int:
    return poseidon_hash_many(program_and_output(proof, memory_verification)[0])


def output_hash(proof: StoneProof, memory_verification: str = "strict") -> int:
    return poseidon_hash_many(program_and_output(proof, memory_verification)[1])


def security_bits(proof: StoneProof) -> int:
    return proof.n_queries * proof.log_n_cosets + proof.proof_of_work_bits


def fri_degree_check(proof: StoneProof) -> FriDegreeCheck:
    return FriDegreeCheck(
        log2_last_layer_degree_bound=proof.last_layer_degree_bound.bit_length() - 1,
        sum_fri_steps=sum(proof.fri_step_list),
        log2_n_steps=proof.n_steps.bit_length() - 1,
        log2_rows_per_step=LOG2_ROWS_PER_STEP.get(proof.layout),
    )


def _check_stone_version(stone_version: str) -> None:
    if stone_version not in STONE_VERSIONS:
        raise StoneProofError(f"unknown stone version {stone_version!r}; expected one of {list(STONE_VERSIONS)}")


def _short_string(text: str, what: str) -> int:
    try:
        return encode_shortstring(text)
    except ValueError as exc:
        raise StoneProofError(f"{what} {text!r} is not a Cairo short string: {exc}") from None


def verifier_config_hash(layout: str, hasher: str, stone_version: str, memory_verification: str) -> int:
    _check_stone_version(stone_version)
    if memory_verification not in MEMORY_VERIFICATION_MODES:
        raise StoneProofError(f"unknown memory verification mode {memory_verification!r}")
    return poseidon_hash_many([_short_string(layout, "layout"), _short_string(hasher, "hasher"),
                               _short_string(stone_version, "stone version"),
                               _short_string(memory_verification, "memory verification")])


def public_input_hash(proof: StoneProof, stone_version: str) -> int:
    """Integrity's Fiat-Shamir seed for this public input (``get_public_input_hash``)."""
    _check_stone_version(stone_version)
    builtins = LAYOUT_BUILTINS.get(proof.layout)
    if builtins is None:
        raise StoneProofError(f"layout '{proof.layout}': segment order unknown, cannot hash the public input")
    if proof.dynamic_params:
        raise StoneProofError("dynamic layouts are not supported for the public input hash")
    if any(c.page != 0 for c in proof.public_memory):
        raise StoneProofError("continuous memory pages are not supported for the public input hash")
    missing = [b for b in builtins if b not in proof.segments]
    if missing:
        raise StoneProofError(f"layout '{proof.layout}' needs memory segments {missing}")

    cells = proof.public_memory
    flat = [x for c in cells for x in (c.address, c.value)]
    data: list[int] = []
    if stone_version == "stone6":
        if proof.n_verifier_friendly_commitment_layers is None:
            raise StoneProofError("stone6 public input hash needs proof_parameters.n_verifier_friendly_commitment_layers")
        data.append(proof.n_verifier_friendly_commitment_layers)
    data += [proof.n_steps.bit_length() - 1, proof.rc_min, proof.rc_max, _short_string(proof.layout, "layout")]
    for name in ("program", "execution", *builtins):
        seg = proof.segments[name]
        data += [seg.begin_addr, seg.stop_ptr]
    # imported here: starknet_py.hash.utils loads the C Pedersen bindings (and sympy), ~0.6 s that every
    # `zkp` command, the built-in prover's child process included, would otherwise pay at start-up
    from starknet_py.hash.utils import compute_hash_on_elements

    data += [cells[0].address, cells[0].value, 1, len(cells), compute_hash_on_elements(flat)]
    return poseidon_hash_many(data)


def compute_facts(proof: StoneProof, memory_verification: str = "strict",
                  stone_version: str | None = None) -> StoneFacts:
    """Everything Integrity would register for this proof; configuration hashes only with a stone version."""
    program, output = program_and_output(proof, memory_verification)
    p_hash, o_hash = poseidon_hash_many(program), poseidon_hash_many(output)
    f_hash = fact_hash(p_hash, o_hash)
    bits = security_bits(proof)
    pi_hash = config_hash = v_hash = None
    if stone_version is not None:
        _check_stone_version(stone_version)
        if proof.layout in LAYOUT_BUILTINS and not proof.dynamic_params:
            pi_hash = public_input_hash(proof, stone_version)
        if proof.hasher is not None:
            config_hash = verifier_config_hash(proof.layout, proof.hasher, stone_version, memory_verification)
            v_hash = verification_hash(f_hash, config_hash, bits)
    return StoneFacts(
        layout=proof.layout, n_steps=proof.n_steps, memory_verification=memory_verification,
        program_hash=p_hash, output_hash=o_hash, fact_hash=f_hash, program_length=len(program),
        output=tuple(output), security_bits=bits, fri=fri_degree_check(proof), hasher=proof.hasher,
        stone_version=stone_version, public_input_hash=pi_hash, verifier_config_hash=config_hash,
        verification_hash=v_hash,
    )
