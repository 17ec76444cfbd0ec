"""Run every benchmark in turn."""

from benchmarks import bench_pipeline

print("== pipeline ==")
bench_pipeline.main()
