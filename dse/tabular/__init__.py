"""Tabular benchmarks: every candidate of a space trained with many seeds (``dse tabulate``), and studies replayed
against such a table in seconds (``dse replay``), the real driver and strategies unchanged."""
