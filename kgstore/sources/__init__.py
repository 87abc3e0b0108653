"""Sources a load can read: EComm files, the CSV interchange format, a synthetic shop.

Each turns its input into a :class:`~kgstore.sources.plan.LoadPlan` (validated,
nothing written); :func:`kgstore.ingest.write_plan` writes it.
"""
