"""Run every benchmark in turn: ``python -m benchmarks`` (``make bench``); ``python -m benchmarks volume
[--requests N]`` runs the data-volume one alone, ``python -m benchmarks backfill [--hours N]`` the
backfill one (about 15 minutes with its defaults)."""

import sys

from benchmarks import bench_api, bench_backfill, bench_fields, bench_pipeline, bench_stark, bench_stone, bench_volume

if sys.argv[1:2] == ["volume"]:
    sys.exit(bench_volume.main(sys.argv[2:]))
if sys.argv[1:2] == ["backfill"]:
    sys.exit(bench_backfill.main(sys.argv[2:]))
print("== pipeline ==")
bench_pipeline.main()
print("\n== backfills through the Dagster daemon ==")
backfill_code = bench_backfill.main([])
print("\n== API under load ==")
bench_api.main([])
print("\n== data volume at a year of history ==")
bench_volume.main([])
print("\n== field arithmetic (NTT) ==")
bench_fields.main([])
print("\n== STARK prover ==")
code = bench_stark.main([])
print("\n== built-in prover vs Stone ==")
sys.exit(code or backfill_code or bench_stone.main([]))
