"""Execution on Starknet: a verified decision signed and sent, at most once, dry run by default.

``calldata`` lays the decision out for the target contract, ``keys`` loads the signing key,
``sender`` talks to the nodes (starknet-py), ``gate`` decides whether a decision may be executed,
``records`` keeps the ``executions`` table and ``service`` ties them together. The derivations and
what an on-chain gate should check are in ``docs/execution.md``.
"""
