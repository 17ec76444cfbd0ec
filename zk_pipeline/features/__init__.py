"""Deterministic integer features (volatility, utilization, APY) that fit a felt252."""
