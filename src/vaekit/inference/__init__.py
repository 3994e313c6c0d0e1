"""Algorithms over a trained module: log-likelihood estimators, imputation and inpainting, anomaly scores.
Tensors in, tensors or dataclasses out; no paths, no files."""
