"""asv suites over suite.bench: time_ (fwd, bwd, fwd+bwd), peakmem_, track_ (GB/s, x copy, x relu).

Thin wrappers: the workload, the pass closures and the references are the harness's, so
asv, pytest-benchmark and ``python -m suite bench`` measure the same thing. Set
``SUITE_ASV_ACTS=relu,pwlu`` to run a subset (e.g. for ``asv run --quick``).
"""
import os

import torch

from suite.bench import harness, run
from suite.bench.subjects import build, parse_act

ALL_ACTS = ["relu", "pwlu", "hermite:degree=3", "hermite:degree=8", "fourier:degree=3",
            "tropical:degree=3", "swish_beta", "apalu", "pau"]
ACTS = [a for a in os.environ.get("SUITE_ASV_ACTS", "").split(",") if a] or ALL_ACTS
SHAPE = (32, 100, 100)


def _workload():
    return harness.Workload(SHAPE, torch.device("cpu"), torch.float32, quick=True)


def _subject(work, act):
    return build(parse_act(act), "auto", work.device, work.dtype)


class Passes:
    """Wall time of each pass of the default implementation (fused where there is one)."""

    params = ACTS
    param_names = ["activation"]
    # The first C++ build of a kernel (40-140 s on a busy machine) happens once, in
    # setup_cache; a timed benchmark then loads the cached build in about a second. (Built
    # in setup, PWLU's backward ran past asv's 60 s default.)
    timeout = 600

    def setup_cache(self):
        work = _workload()
        for act in ACTS:
            harness.pass_functions(_subject(work, act).module, work)["fwdbwd"]()

    def setup(self, cache, act):
        self.work = _workload()
        self.fns = harness.pass_functions(_subject(self.work, act).module, self.work)
        for fn in self.fns.values():  # warm-up, includes torch.compile
            fn()

    def time_forward(self, cache, act):
        self.fns["fwd"]()

    def time_backward(self, cache, act):
        self.fns["bwd"]()

    def time_forward_backward(self, cache, act):
        self.fns["fwdbwd"]()

    def peakmem_forward_backward(self, cache, act):
        self.fns["fwdbwd"]()


class Ratios:
    """Same-run figures (fwd+bwd): what the project's targets are stated in."""

    params = ACTS
    param_names = ["activation"]
    timeout = 600

    def setup_cache(self):
        records = run.run(ACTS, shape=SHAPE)
        return {r["label"]: r["fwdbwd"] for r in records}

    def _get(self, cache, act):
        return cache[parse_act(act).label]

    def track_gbps(self, cache, act):
        return self._get(cache, act)["gbps"]

    track_gbps.unit = "GB/s"

    def track_ratio_to_copy(self, cache, act):
        return self._get(cache, act)["ratio_to_copy"]

    track_ratio_to_copy.unit = "x copy"

    def track_ratio_to_relu(self, cache, act):
        return self._get(cache, act)["ratio_to_relu"]

    track_ratio_to_relu.unit = "x relu"
