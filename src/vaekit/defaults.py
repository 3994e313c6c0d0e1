"""Defaults shared by the library and the CLI, defined once (plain values: importing this imports nothing)."""

IW_SAMPLES = 100  # importance samples per input: imputation, inpainting, the iwae anomaly score
EVAL_IW_SAMPLES = 1000  # vaekit evaluate's K for log p(x) of images and tables
SEQUENCE_EVAL_IW_SAMPLES = 100  # ... of molecules: each sample is a full pass of the GRU decoder
