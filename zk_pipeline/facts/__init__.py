"""Facts: the on-chain identities of proven computations (program hash, output hash, fact hash)."""
