"""The hashes a Starknet fact registry speaks (Herodotus Integrity's conventions).

``fact_hash = poseidon_many([program_hash, output_hash])`` and
``verification_hash = poseidon_many([fact_hash, verifier_config_hash, security_bits])``,
where ``poseidon_many`` is Starknet's Poseidon sponge over a list of felts
(``poseidon_hash_span`` in Cairo) — not the two-input ``poseidon_hash(x, y)``,
which gives a different value. Poseidon is ``poseidon_py``'s, the implementation
starknet-py's ``HashMethod.POSEIDON`` delegates to (imported directly: going
through ``starknet_py.hash.hash_method`` loads the C Pedersen bindings and sympy,
~0.6 s of start-up for every ``zkp`` command, the prover's child process included).
"""

from __future__ import annotations

from starknet_py.cairo.felt import encode_shortstring
from poseidon_py.poseidon_hash import poseidon_hash_many


def fact_hash(program_hash: int, output_hash: int) -> int:
    return poseidon_hash_many([program_hash, output_hash])


def verification_hash(fact_hash_: int, verifier_config_hash: int, security_bits: int) -> int:
    return poseidon_hash_many([fact_hash_, verifier_config_hash, security_bits])


def short_string(text: str) -> int:
    """A Cairo short string (≤ 31 ASCII chars) as a felt."""
    return encode_shortstring(text)
