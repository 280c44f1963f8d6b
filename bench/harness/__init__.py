"""What the benchmark scripts share to run their processes: a free port, waiting until one
listens, a process pinned to one CPU, and percentiles of their timings."""
