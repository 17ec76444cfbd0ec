"""Integrity's memory verification modes: which public memory cells are the program and which the output.

A Stone proof does not say; ``strict``, ``relaxed`` and ``cairo1`` carve them out as Integrity's Cairo code
does, and where a mode does not fit the memory :class:`MemoryVerificationError` says why (where Integrity
would abort). docs/stone.md ("Memory verification modes") describes each mode and the one check made
beyond Integrity.
"""

from __future__ import annotations

from collections.abc import Sequence

from zk_pipeline.facts.stone.proof import LAYOUT_BUILTINS, MemoryCell, Segment, StoneProof, StoneProofError

MEMORY_VERIFICATION_MODES = ("strict", "relaxed", "cairo1")

INITIAL_PC = 1
MAX_ADDRESS = 2**64 - 1
U32_LIMIT = 2**32
# Proof-mode entry stub of a Cairo 0 program: ap += N_BUILTINS; call rel main; jmp rel 0.
ENTRY_AP_ADD = 0x40780017FFF7FFF
ENTRY_CALL_REL = 0x1104800180018000
ENTRY_JMP_REL = 0x10780017FFF7FFF


class MemoryVerificationError(StoneProofError):
    """The public memory does not have the shape the chosen memory verification mode requires."""


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


def _verify_strict(proof: StoneProof, r: _Reader, program_seg: Segment, execution: Segment,
                   output_seg: Segment) -> tuple[list[int], list[int]]:
    cells = r.cells
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


def _verify_relaxed(proof: StoneProof, r: _Reader, program_seg: Segment, execution: Segment,
                    output_seg: Segment) -> tuple[list[int], list[int]]:
    cells = r.cells
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


def _verify_cairo1(proof: StoneProof, r: _Reader, program_seg: Segment, execution: Segment,
                   output_seg: Segment) -> tuple[list[int], list[int]]:
    cells = r.cells
    if program_seg.begin_addr != INITIAL_PC:
        raise r.fail(f"program segment begins at {program_seg.begin_addr}, not at {INITIAL_PC}")
    output_len = output_seg.stop_ptr - output_seg.begin_addr
    if output_len > len(cells):
        raise r.fail(f"output segment has {output_len} cells but the public memory only {len(cells)}")
    head, tail = cells[:len(cells) - output_len], cells[len(cells) - output_len:]

    # Beyond Integrity (docs/stone.md, "Memory verification modes"): refuse memory that is not program-then-output.
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
    cells = _main_page(proof, memory_verification)
    program_seg, execution, output_seg = _common_bounds(proof, memory_verification)
    return verify(proof, _Reader(memory_verification, cells), program_seg, execution, output_seg)
