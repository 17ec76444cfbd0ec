"""Run every benchmark in turn: ``python -m benchmarks`` (``make bench``)."""

import sys

from benchmarks import bench_fields, bench_pipeline, bench_stark

print("== pipeline ==")
bench_pipeline.main()
print("\n== field arithmetic (NTT) ==")
bench_fields.main([])
print("\n== STARK prover ==")
sys.exit(bench_stark.main([]))
