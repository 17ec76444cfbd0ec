"""A felt (an integer below the Stark prime) written in hex: the project's two spellings, named apart.

* :func:`felt_hex` — ``0x`` and exactly 64 digits: model hashes in statements, the database and the API.
  Fixed width, so one hash has one spelling and hashes sort as numbers.
* :func:`felt_hex_minimal` — ``hex()``'s form, no leading zeros: fact, program, output and verification
  hashes, as the fact records store them and as Starknet tools print them.
"""

from __future__ import annotations


def felt_hex(value: int) -> str:
    return "0x" + format(value, "064x")


def felt_hex_minimal(value: int) -> str:
    return hex(value)
