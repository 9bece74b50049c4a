"""The trace benchmark's own lake, small: the trace of its batch tells the story it was written
with (so `make bench` cannot time a trace that has gone wrong)."""

from bench import trace as trace_bench


def test_the_benchmark_lake_traces_to_its_story() -> None:
    figures = trace_bench.run(n_movements=60_000, files_per_day=1)
    assert [f.unit for f in figures] == ["s", "s", "s"]
    assert all(f.value > 0 for f in figures)
