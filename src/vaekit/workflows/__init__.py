"""What users do with a trained bundle: one module per job (explore, evaluate, report, anomaly, impute, inpaint,
molecules, optimize), each a run folder in and files out; ``kinds`` holds the one strategy per data kind.

Nothing is imported here: a command loads only the module it runs (the report's matplotlib, RDKit for molecules).
"""
