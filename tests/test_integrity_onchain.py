"""The on-chain fact check against Integrity's FactRegistry, over real JSON-RPC.

The node is ``StarknetJsonRpcDouble`` (``tests/sources/doubles.py``), a test double
speaking Starknet JSON-RPC over HTTP on 127.0.0.1: no Starknet node is reachable
from CI. It serves the registry's ``get_all_verifications_for_fact_hash`` view
with the Serde layout of Integrity's ``Array<VerificationListElement>``.
"""

from __future__ import annotations

import pytest
from starknet_py.hash.selector import get_selector_from_name

from tests.sources.doubles import INTEGRITY_CONFIG as CONFIG
from tests.sources.doubles import StarknetJsonRpcDouble, closed_port_url, integrity_verification
from zk_pipeline.facts.integrity import (
    FACT_REGISTRY, GET_ALL_VERIFICATIONS, IntegrityError, IntegrityRegistry, registry_from_env,
)

REGISTRY = FACT_REGISTRY["sepolia"]
FACT = 0x1E69A6F91B41E77C283FDE3BDDA3D31E624B4535E541FD122BB0408E1AB6DEC


element = integrity_verification


@pytest.fixture()
def node():
    with StarknetJsonRpcDouble(block_number=777) as n:
        yield n


def registry(node, **kw) -> IntegrityRegistry:
    return IntegrityRegistry.for_network(node.url, "sepolia", **kw)


def test_a_registered_fact_is_found_with_its_security_and_config(node):
    node.add_integrity_registry(REGISTRY, {FACT: [element(FACT, 50), element(FACT, 96)]})
    lookup = registry(node).lookup(hex(FACT))
    assert lookup.block_number == 777 and lookup.network == "sepolia" and lookup.registry == hex(REGISTRY)
    assert [v.security_bits for v in lookup.verifications] == [50, 96]
    assert all(v.consistent for v in lookup.verifications)
    best = lookup.best(96)
    assert best.security_bits == 96 and (best.layout, best.hasher, best.stone_version, best.memory_verification) == CONFIG
    assert lookup.registered(96) and not lookup.registered(97)
    assert "registered" in lookup.summary(96) and "96 bits" in lookup.summary(96)
    # the wire: one starknet_call of the view, the fact as its only argument, pinned to the block read first
    calls = [r.body["params"] for r in node.requests if r.body.get("method") == "starknet_call"]
    assert len(calls) == 1
    req = calls[0]["request"]
    assert int(req["contract_address"], 16) == REGISTRY
    assert int(req["entry_point_selector"], 16) == get_selector_from_name(GET_ALL_VERIFICATIONS)
    assert [int(x, 16) for x in req["calldata"]] == [FACT] and calls[0]["block_id"] == {"block_number": 777}


def test_unknown_low_security_and_inconsistent_facts_are_not_registered(node):
    other = FACT + 1
    node.add_integrity_registry(REGISTRY, {FACT: [element(FACT, 60)], other: [element(other, 120, tamper=True)]})
    assert not registry(node).lookup(FACT + 2).verifications  # unknown: empty array
    low = registry(node).lookup(FACT)
    assert not low.registered(96) and low.registered(60) and "not registered" in low.summary(96)
    forged = registry(node).lookup(other)  # a verification hash that is not Integrity's for this fact
    assert forged.verifications[0].consistent is False and not forged.registered(0)


@pytest.mark.parametrize("answer", [[], [2, 1, 2, 3], [1] + [0] * 7, [10**6] + [0] * 6, [1, 5, 2**32, 0, 0, 0, 0]])
def test_answers_that_do_not_decode_are_errors(node, answer):
    node.register(REGISTRY, GET_ALL_VERIFICATIONS, lambda calldata: answer)
    with pytest.raises(IntegrityError):
        registry(node).lookup(FACT)


def test_node_failures_are_errors_without_the_url_secret(node):
    node.fail_methods.add("starknet_call")
    with pytest.raises(IntegrityError, match="cannot read"):
        registry(node).lookup(FACT)
    down = IntegrityRegistry.for_network(closed_port_url("/rpc/v0_8/SECRETKEY123456789"), "sepolia", timeout_s=2)
    with pytest.raises(IntegrityError) as err:
        down.lookup(FACT)
    assert "SECRETKEY123456789" not in str(err.value) and "SECRETKEY123456789" not in repr(down)
    node.fail_methods.clear()
    with pytest.raises(IntegrityError, match="cannot read"):  # no registry deployed at that address
        IntegrityRegistry(node.url, 0x1234).lookup(FACT)


def test_configuration_from_the_environment():
    assert registry_from_env({}) is None
    r = registry_from_env({"ZKP_INTEGRITY_RPC_URL": "http://node", "ZKP_INTEGRITY_NETWORK": "mainnet"})
    assert r.address == FACT_REGISTRY["mainnet"] and r.network == "mainnet"
    r = registry_from_env({"ZKP_INTEGRITY_RPC_URL": "http://node", "ZKP_INTEGRITY_FACT_REGISTRY": "0xabc"})
    assert r.address == 0xABC
    with pytest.raises(ValueError, match="ZKP_INTEGRITY_NETWORK"):
        registry_from_env({"ZKP_INTEGRITY_RPC_URL": "http://node"})
    with pytest.raises(ValueError, match="unknown Starknet network"):
        registry_from_env({"ZKP_INTEGRITY_RPC_URL": "http://node", "ZKP_INTEGRITY_NETWORK": "goerli"})
