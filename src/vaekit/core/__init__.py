"""The mathematics under every model: distributions, likelihoods p(x|z), loss terms, input corruption and
conformal calibration. Tensors in, tensors out; imports nothing above ``nn/``."""
