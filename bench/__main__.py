"""`make bench`: every benchmark, each against a baseline measured in the same run."""

from bench import pipeline

pipeline.main()
