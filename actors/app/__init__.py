"""The application layer behind bin/perpsbot: commands, wiring, run reports and benchmarks."""
