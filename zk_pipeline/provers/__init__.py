"""Prover backends behind one interface, and the orchestration that falls back between them."""
