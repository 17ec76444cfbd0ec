"""The hashes a Starknet fact registry speaks (Herodotus Integrity's conventions).

``fact_hash = poseidon_many([program_hash, output_hash])`` and
``verification_hash = poseidon_many([fact_hash, verifier_config_hash, security_bits])``,
where ``poseidon_many`` is Starknet's Poseidon sponge over a list of felts
(``poseidon_hash_span`` in Cairo) — not the two-input ``poseidon_hash(x, y)``,
which gives a different value. Poseidon comes from starknet-py.
"""

from __future__ import annotations

from starknet_py.cairo.felt import encode_shortstring
from starknet_py.hash.hash_method import HashMethod

poseidon_hash_many = HashMethod.POSEIDON.hash_many


def fact_hash(program_hash: int, output_hash: int) -> int:
    return poseidon_hash_many([program_hash, output_hash])


def verification_hash(fact_hash_: int, verifier_config_hash: int, security_bits: int) -> int:
    return poseidon_hash_many([fact_hash_, verifier_config_hash, security_bits])


def short_string(text: str) -> int:
    """A Cairo short string (≤ 31 ASCII chars) as a felt."""
    return encode_shortstring(text)


def felt_hex(value: int) -> str:
    return hex(value)
