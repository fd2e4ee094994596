"""Long jobs of the tool: training, evaluation, benchmarks (called by the CLI)."""
