import os

import pytest
import torch

# Two cores: keep each test process to few threads so tests don't fight each other.
torch.set_num_threads(int(os.environ.get("SUITE_TEST_THREADS", "2")))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def store_dir(tmp_path):
    from suite.store import Store

    return Store(tmp_path / "store")
