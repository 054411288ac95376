"""Cost model of the archive (`wa-archive cost`): pure arithmetic over parsed inputs.

The caller (admin/cost.py) reads the committed price sheet and the measured storage
calls per event (written by `bench.storage_ops --write-data`) and hands them in as
dicts; this package validates them (`inputs`), prices a workload year by year for a
blob layout (`model`, `layouts`), gives the tiering break-even size (`breakeven`) and
parses Azure Retail Prices API pages (`retail`). It reads no files, clock or
environment, so every figure it prints can be recomputed by hand from its inputs.
"""
