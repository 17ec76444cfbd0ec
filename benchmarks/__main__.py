"""Run every benchmark in turn: ``python -m benchmarks`` (``make bench``)."""

import sys

from benchmarks import bench_pipeline, bench_stark

print("== pipeline ==")
bench_pipeline.main()
print("\n== STARK prover ==")
sys.exit(bench_stark.main([]))
