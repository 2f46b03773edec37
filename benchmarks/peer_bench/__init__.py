"""``python -m benchmarks.peers``: shipbot against peer SSH tools, whole processes, cold starts."""
