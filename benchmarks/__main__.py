"""Run every benchmark in turn: ``python -m benchmarks`` (``make bench``); ``python -m benchmarks volume
[--requests N]`` runs the data-volume one alone."""

import sys

from benchmarks import bench_api, bench_fields, bench_pipeline, bench_stark, bench_stone, bench_volume

if sys.argv[1:2] == ["volume"]:
    sys.exit(bench_volume.main(sys.argv[2:]))
print("== pipeline ==")
bench_pipeline.main()
print("\n== API under load ==")
bench_api.main([])
print("\n== data volume at a year of history ==")
bench_volume.main([])
print("\n== field arithmetic (NTT) ==")
bench_fields.main([])
print("\n== STARK prover ==")
code = bench_stark.main([])
print("\n== built-in prover vs Stone ==")
sys.exit(code or bench_stone.main([]))
