"""Per-sample random streams, so a sample's augmentation never depends on who loads it.

A DataLoader worker draws its augmentations from its own RNG, seeded once when it starts
and advanced by every sample it loads; batch ``b`` goes to worker ``b % num_workers``. A
run resumed at batch ``k`` hands batch ``k`` to worker 0 with a fresh RNG where the
uninterrupted run had worker ``k % num_workers`` with an RNG advanced by earlier batches,
so resumed runs saw other crops and flips. ``SeededSamples`` instead seeds torch,
numpy and Python's ``random`` from (cell seed, epoch, sample index) just before loading a
sample, and puts the caller's RNG states back afterwards: a sample's augmentation is the
same whichever worker loads it, with any number of workers, after any resume, and the
training process's own random stream (dropout, mixup) is left as it was. Nothing needs
saving in the checkpoint beyond the data position (epoch, batch) it already holds.
"""
from __future__ import annotations

import random

import numpy as np
import torch


class SeededSamples(torch.utils.data.Dataset):
    """``dataset[i]`` under RNGs seeded from ``derived_seed(seed, "sample", epoch, i)``."""

    def __init__(self, dataset, seed: int, epoch: int):
        self.dataset, self.seed, self.epoch = dataset, seed, epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        from suite.tasks.loop import derived_seed

        sample_seed = derived_seed(self.seed, "sample", self.epoch, int(index))
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):  # CPU generator only: transforms run on the CPU
            torch.manual_seed(sample_seed)
            random.seed(sample_seed)
            np.random.seed(sample_seed % 2**32)
            try:
                return self.dataset[index]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)
