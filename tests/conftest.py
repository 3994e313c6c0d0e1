import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def mnist():
    from vaekit.data import load_dataset

    return load_dataset("mnist")
