"""Run every benchmark in turn: ``python -m benchmarks`` (``make bench``)."""

import sys

from benchmarks import bench_api, bench_fields, bench_pipeline, bench_stark, bench_stone

print("== pipeline ==")
bench_pipeline.main()
print("\n== API under load ==")
bench_api.main([])
print("\n== field arithmetic (NTT) ==")
bench_fields.main([])
print("\n== STARK prover ==")
code = bench_stark.main([])
print("\n== built-in prover vs Stone ==")
sys.exit(code or bench_stone.main([]))
