"""The on-chain check: does Herodotus Integrity's FactRegistry on Starknet hold a fact?

Integrity's ``FactRegistry`` stores, per fact hash, every verification of a proof
of it: ``get_all_verifications_for_fact_hash(fact_hash) ->
Array<VerificationListElement>``, each element ``(verification_hash,
security_bits: u32, verifier_config: (layout, hasher, stone_version,
memory_verification))`` — short strings, Cairo Serde: the array length, then six
felts per element. This module reads that view with ``starknet_call`` (via
starknet-py) at the node's latest block and decodes it strictly.

Each element is also checked for consistency: its ``verification_hash`` must be
``poseidon(fact_hash, poseidon(config), security_bits)``, as Integrity computes
it (``facts.hashing``). An element that is not — a decoding error, or a node
that answers nonsense — is reported and never counted as a verification.

Which contract: the FactRegistry of the configured network (``sepolia`` or
``mainnet``; the addresses Integrity's ``lib_utils.cairo`` pins), or any address
(``ZKP_INTEGRITY_FACT_REGISTRY``, e.g. a registry on a devnet). A fact is
"registered" when at least one consistent verification reaches the minimum
security. Only Stone and Atlantic proofs can ever be there: Integrity verifies
Cairo (Stone) proofs, not this project's built-in STARK.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import aiohttp
from starknet_py.cairo.felt import decode_shortstring
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.client_models import Call
from starknet_py.net.full_node_client import FullNodeClient

from zk_pipeline.facts.hashing import poseidon_hash_many, verification_hash
from zk_pipeline.redaction import public_text, redact_url
from zk_pipeline.settings import get_settings, load_settings
from zk_pipeline.starknet_client import NODE_ERRORS, read_node

#: Integrity's FactRegistry per Starknet network.
FACT_REGISTRY = {
    "sepolia": 0x4CE7851F00B6C3289674841FD7A1B96B6FD41ED1EDC248FACCD672C26371B8C,
    "mainnet": 0xCC63A1E8E7824642B89FA6BAF996B8ED21FA4707BE90EF7605570CA8E4F00B,
}
GET_ALL_VERIFICATIONS = "get_all_verifications_for_fact_hash"
_ELEMENT_FELTS = 6
#: A registry answer longer than this many verifications is refused (a fact has a handful).
MAX_VERIFICATIONS = 1000


class IntegrityError(Exception):
    """The registry could not be read (node down, error, or an answer that does not decode)."""


@dataclass(frozen=True)
class OnChainVerification:
    verification_hash: str
    security_bits: int
    layout: str
    hasher: str
    stone_version: str
    memory_verification: str
    consistent: bool  # verification_hash == poseidon(fact, poseidon(config), security_bits)


@dataclass(frozen=True)
class OnChainLookup:
    fact_hash: str
    registry: str
    network: str | None
    block_number: int
    verifications: tuple[OnChainVerification, ...]

    def registered(self, min_security_bits: int) -> bool:
        return self.best(min_security_bits) is not None

    def best(self, min_security_bits: int) -> OnChainVerification | None:
        """The consistent verification with the most security bits, if it reaches the minimum."""
        ok = [v for v in self.verifications if v.consistent and v.security_bits >= min_security_bits]
        return max(ok, key=lambda v: v.security_bits, default=None)

    def summary(self, min_security_bits: int) -> str:
        best = self.best(min_security_bits)
        where = f"{self.network or self.registry} at block {self.block_number}"
        if best is None:
            return (f"not registered in Integrity's FactRegistry ({where}; {len(self.verifications)} "
                    f"verification(s), none consistent at >= {min_security_bits} bits)")
        return (f"registered in Integrity's FactRegistry ({where}): {best.security_bits} bits, "
                f"{best.layout}/{best.hasher}/{best.stone_version}/{best.memory_verification}")

    def to_json(self) -> dict:
        return {"fact_hash": self.fact_hash, "registry": self.registry, "network": self.network,
                "block_number": self.block_number, "verifications": [asdict(v) for v in self.verifications]}


def _short(felt: int) -> str:
    try:
        text = decode_shortstring(felt)
    except Exception:  # not ASCII: keep the number
        return hex(felt)
    return text if text.isprintable() else hex(felt)


def decode_verifications(fact_hash: int, felts: list[int]) -> tuple[OnChainVerification, ...]:
    """``Array<VerificationListElement>`` from the call's felts; ``IntegrityError`` unless exact."""
    if not felts:
        raise IntegrityError(f"{GET_ALL_VERIFICATIONS} returned nothing (expected an array)")
    count = felts[0]
    if count > MAX_VERIFICATIONS or len(felts) != 1 + _ELEMENT_FELTS * count:
        raise IntegrityError(f"{GET_ALL_VERIFICATIONS} returned {len(felts)} felts for {count} verification(s)")
    out = []
    for i in range(count):
        vh, bits, *config = felts[1 + _ELEMENT_FELTS * i : 1 + _ELEMENT_FELTS * (i + 1)]
        if bits >= 2**32:
            raise IntegrityError(f"verification {i}: security_bits {bits} is not a u32")
        expected = verification_hash(fact_hash, poseidon_hash_many(config), bits)
        out.append(OnChainVerification(hex(vh), bits, *(_short(c) for c in config), consistent=expected == vh))
    return tuple(out)


class IntegrityRegistry:
    """Read-only client of one FactRegistry contract through one Starknet node."""

    def __init__(self, rpc_url: str, address: int | str, *, network: str | None = None, timeout_s: float = 10.0):
        self.rpc_url = rpc_url
        self.address = int(address, 16) if isinstance(address, str) else int(address)
        self.network = network
        self.timeout_s = timeout_s

    @classmethod
    def for_network(cls, rpc_url: str, network: str, **kw) -> "IntegrityRegistry":
        if network not in FACT_REGISTRY:
            raise ValueError(f"unknown Starknet network {network!r}; choose one of {sorted(FACT_REGISTRY)}")
        return cls(rpc_url, FACT_REGISTRY[network], network=network, **kw)

    def __repr__(self) -> str:  # never the URL: it may carry an API key
        return f"IntegrityRegistry({self.network or hex(self.address)} via {redact_url(self.rpc_url)})"

    async def _read(self, fact_hash: int) -> tuple[int, list[int]]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as session:
            client = FullNodeClient(node_url=self.rpc_url, session=session)
            block = await client.get_block_number()
            if not isinstance(block, int) or isinstance(block, bool):
                raise IntegrityError(f"starknet_blockNumber returned {block!r}")
            call = Call(self.address, get_selector_from_name(GET_ALL_VERIFICATIONS), [fact_hash])
            return block, list(await client.call_contract(call, block_number=block))

    def lookup(self, fact_hash: int | str) -> OnChainLookup:
        """Every verification the registry holds for ``fact_hash``, at the node's latest block."""
        fh = int(fact_hash, 16) if isinstance(fact_hash, str) else int(fact_hash)
        try:
            block, felts = read_node(self.rpc_url, lambda: self._read(fh))
        except IntegrityError:
            raise
        except NODE_ERRORS as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            raise IntegrityError(f"cannot read Integrity's FactRegistry via {redact_url(self.rpc_url)}: "
                                 f"{public_text(reason, [self.rpc_url], limit=300)}") from None
        return OnChainLookup(hex(fh), hex(self.address), self.network, block, decode_verifications(fh, felts))


def configured_registry(rpc_url: str | None, network: str | None = None, address: str | None = None, *,
                        timeout_s: float = 10.0) -> IntegrityRegistry | None:
    """The registry a configuration names: None without a node; an explicit address wins over the network's."""
    if not rpc_url:
        return None
    if address:
        return IntegrityRegistry(rpc_url, address, network=network or None, timeout_s=timeout_s)
    if not network:
        raise ValueError("a Starknet node is configured for the on-chain check (ZKP_INTEGRITY_RPC_URL): also set "
                         "ZKP_INTEGRITY_NETWORK (sepolia or mainnet) or ZKP_INTEGRITY_FACT_REGISTRY")
    return IntegrityRegistry.for_network(rpc_url, network, timeout_s=timeout_s)


def registry_from_env(env: Mapping[str, str] | None = None) -> IntegrityRegistry | None:
    """``ZKP_INTEGRITY_RPC_URL`` + ``ZKP_INTEGRITY_NETWORK`` (or ``ZKP_INTEGRITY_FACT_REGISTRY``); None if unset.

    ``env``: these variables instead of the process's settings.
    """
    s = (get_settings() if env is None else load_settings(env)).integrity
    return configured_registry(s.rpc_url.get_secret_value() if s.rpc_url else None, s.network, s.fact_registry)
