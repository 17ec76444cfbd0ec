"""The versioned integer risk model, its registry and the statement it evaluates."""
