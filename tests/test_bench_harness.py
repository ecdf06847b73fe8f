"""The bench harness on tiny shapes: complete records, same-run ratios, correct saved bytes."""
import math
import statistics

import pytest
import torch

from suite.bench import harness, measure, run
from suite.bench.subjects import parse_act
from suite.errors import SuiteError
from suite.store import Store

SHAPE = (4, 8, 32)
PASS_FIELDS = {"median_s", "iqr_s", "gbps", "elements_per_s", "ratio_to_copy", "ratio_to_relu"}
RECORD_FIELDS = {"activation", "act_params", "impl", "device", "dtype", "shape", "numel", "fwd", "bwd",
                 "fwdbwd", "saved_bytes", "saved_tensors", "input_bytes", "peak_mem_bytes"}


def test_quick_run_records_have_every_field_and_same_run_ratios():
    records = run.run(["relu", "pwlu", "meta_acon"], shape=SHAPE, impl="all", quick=True)
    kinds = {(r["activation"], r["impl"]) for r in records}
    assert {("relu", "reference"), ("pwlu", "reference"), ("meta_acon", "reference")} <= kinds
    # meta_acon cannot be built without channels: it gets the input's dim 1
    assert all(r["act_params"] == {"channels": SHAPE[1]} for r in records if r["activation"] == "meta_acon")
    for r in records:
        assert RECORD_FIELDS <= set(r)
        assert r["numel"] == math.prod(SHAPE) and r["shape"] == list(SHAPE)
        assert r["input_bytes"] == math.prod(SHAPE) * 4
        for name in harness.PASSES:
            p = r[name]
            assert PASS_FIELDS <= set(p) and p["median_s"] > 0 and p["iqr_s"] >= 0
            # ratios are medians of per-round ratios: subject and references timed in alternation
            rounds = p["samples_s"]
            assert len(rounds["subject"]) == len(rounds["copy"]) == len(rounds["relu"]) == p["runs"] >= 3
            for ref in ("copy", "relu"):
                per_round = [a / b for a, b in zip(rounds["subject"], rounds[ref])]
                assert p[f"ratio_to_{ref}"] == pytest.approx(statistics.median(per_round))
                assert r["reference"][ref][name]["median_s"] == pytest.approx(statistics.median(rounds[ref]))
            assert p["median_s"] == pytest.approx(statistics.median(rounds["subject"]))
            moved = harness.TENSORS_MOVED[name] * r["numel"] * 4
            assert p["gbps"] == pytest.approx(moved / p["median_s"] / 1e9)
            assert p["elements_per_s"] == pytest.approx(r["numel"] / p["median_s"])
        # fwd+bwd holds y and dx (and, unfused, more): at least the two outputs
        assert r["peak_mem_bytes"] >= 2 * r["input_bytes"]
    # each record got its own reference timings (interleaved, not one set for the run)
    refs = [r["reference"]["relu"]["fwdbwd"]["median_s"] for r in records]
    assert len(set(refs)) == len(refs)
    by = {(r["activation"], r["impl"]): r for r in records}
    # ReLU against itself, paired round by round: close to 1 even on a loaded machine
    # (an unpaired harness once reported 14x here)
    assert 0.5 < by["relu", "reference"]["fwdbwd"]["ratio_to_relu"] < 2.0
    input_bytes = math.prod(SHAPE) * 4
    assert by["relu", "reference"]["saved_bytes"] == input_bytes
    # the reference PWLU formula keeps several input-sized temporaries for backward
    assert by["pwlu", "reference"]["saved_bytes"] > 2 * input_bytes
    if ("pwlu", "fused") in by:  # the fused kernel keeps about the input only
        assert by["pwlu", "fused"]["saved_bytes"] <= input_bytes + 1024
    # peak memory sees the reference formula's temporaries, which the fused kernel avoids
    if ("pwlu", "fused") in by:
        assert by["pwlu", "fused"]["peak_mem_bytes"] < by["pwlu", "reference"]["peak_mem_bytes"]


def test_saved_bytes_known_cases():
    x = torch.randn(3, 5, 7, requires_grad=True)
    one = 3 * 5 * 7 * 4
    # nn.ReLU saves its output only
    assert measure.saved_tensor_bytes(lambda: torch.nn.ReLU()(x)) == (one, 1)
    # x * sigmoid(x) in autograd saves x and sigmoid(x): two input-sized storages
    assert measure.saved_tensor_bytes(lambda: x * torch.sigmoid(x)) == (2 * one, 2)
    # views of one storage count once
    assert measure.saved_tensor_bytes(lambda: x * x) == (one, 1)
    # parameters are not counted: w * x saves x and w, only x is reported
    w = torch.nn.Parameter(torch.randn(1))
    assert measure.saved_tensor_bytes(lambda: w * x, exclude=[w]) == (one, 1)


def test_cli_stores_records_with_provenance_and_stable_keys(tmp_path):
    from suite.cli import main

    argv = ["bench", "--act", "hermite:degree=3", "--act", "relu", "--shape", "2,4,8", "--quick",
            "--threads", "1", "--store", str(tmp_path)]
    assert main(argv) == 0
    records, problems = Store(tmp_path).load("bench")
    assert not problems and len(records) == 2
    rec = next(r for r in records if r["activation"] == "hermite")
    assert rec["act_params"] == {"degree": 3} and rec["impl"] in ("fused", "reference")
    assert rec["provenance"]["versions"]["torch"] == torch.__version__ and rec["kind"] == "bench"
    assert rec["key"] == harness.record_key(rec) and len(rec["key"]) == 16
    other = {**rec, "shape": [2, 4, 9]}
    assert harness.record_key(other) != rec["key"]


def test_unknown_activation_exits_2_with_closest_names(capsys):
    from suite.cli import main

    assert main(["bench", "--act", "hermit", "--quick", "--no-store"]) == 2
    err = capsys.readouterr().err
    assert "hermit" in err and "hermite" in err


@pytest.mark.parametrize("bad", [{"acts": ["relu"], "impl": "fast"}, {"acts": ["relu"], "dtype": "fp8"},
                                 {"acts": ["relu"], "impl": "fused"}, {"acts": ["relu"], "device": "tpu"}])
def test_bad_arguments_are_one_sentence_errors(bad):
    kwargs = {"shape": SHAPE, "quick": True, **bad}
    with pytest.raises(SuiteError):
        run.run(kwargs.pop("acts"), **kwargs)


def test_bad_shape_and_act_param():
    with pytest.raises(SuiteError):
        run.parse_shape("3,x")
    with pytest.raises(SuiteError):
        parse_act("hermite:degree")


def test_default_set_is_every_registered_activation_plus_hermite_8():
    import suite.activations as A

    acts = run.default_acts()
    assert set(A.ACTIVATIONS.names()) <= set(acts) and "hermite:degree=8" in acts
    assert parse_act("hermite").params == {"degree": 3}


def test_end_to_end_step_ratio_is_from_the_same_run():
    from suite.bench import endtoend

    tiny = endtoend.Model("tiny", "cnn_small", (1, 8, 8))
    records = endtoend.run(["pwlu"], batch=8, quick=True, models=(tiny,))
    (rec,) = records
    assert rec["activation"] == "pwlu" and rec["step"]["median_s"] > 0
    # the median of per-round ratios: the two steps alternate, round by round
    rounds = rec["samples_s"]
    assert len(rounds["step"]) == len(rounds["relu_step"]) == rec["step"]["runs"] >= 3
    per_round = [a / b for a, b in zip(rounds["step"], rounds["relu_step"])]
    assert rec["ratio_to_relu"] == pytest.approx(statistics.median(per_round))


def test_matrix_acts_are_the_trained_activations_with_their_parameters():
    acts = run.matrix_acts("smoke")
    assert "relu" in acts and "hermite:degree=3" in acts and "fourier:degree=5" in acts
    assert len(acts) == len(set(acts)) == len({a.split(":")[0] for a in acts})  # one spec per activation
    assert parse_act("fourier:degree=5").params == {"degree": 5}


def test_peers_include_the_compiled_kernels_a_cpp_kernel_replaced(monkeypatch):
    """--peers on the CPU times fused.cpu's torch.compile kernel beside the C++ one (the
    A/B behind the docs' figures), through that very kernel; on CUDA there is no such peer."""
    from suite.activations.fused import cpu
    from suite.bench import peers

    calls = []
    real = cpu.swish_beta_kernel
    monkeypatch.setattr(cpu, "swish_beta_kernel", lambda m, x: calls.append(1) or real(m, x))
    records = run.run(["swish_beta"], shape=SHAPE, with_peers=True, quick=True)
    assert [r["impl"] for r in records] == ["fused", "peer:torch.compile"]
    assert calls, "the torch.compile peer did not run fused.cpu's kernel"
    assert all(r["fwdbwd"]["ratio_to_relu"] > 0 for r in records)
    spec = parse_act("fourier:degree=5")
    assert "torch.compile" in peers.peers_for(spec, torch.device("cpu"))
    assert set(peers.peers_for(spec, torch.device("cuda"))) == {"torchortho"}


def test_compute_floor_shape_fits_the_cache_and_keeps_the_channels():
    from suite.bench import floor

    assert floor.in_cache_shape((32, 100, 1000)) == (5, 100, 1000)  # 4 x 5 x 100 x 1000 floats = 8 MB
    assert floor.in_cache_shape((4, 8, 32)) == (4, 8, 32)  # small already
    assert floor.in_cache_shape((2, 4096, 4096)) == (1, 4096, 4096)  # at least one sample


def test_compute_floor_rows_from_one_interleaved_run(capsys):
    from suite.bench import floor
    from suite.cli import main

    rows = floor.run(["relu", "hermite:degree=8"], shape=(64, 4, 4096), quick=True)
    assert [r["label"] for r in rows] == ["relu", "hermite:degree=8"] and rows[1]["impl"] == "fused"
    assert rows[0]["in_cache_shapes"] == [[32, 4, 4096], [16, 4, 4096]]  # 4 tensors of the first: 8 MB
    full, big, half = 64 * 4 * 4096, 32 * 4 * 4096, 16 * 4 * 4096
    for r in rows:  # medians of per-round ratios: all four timed in alternation
        rounds = r["samples_s"]
        assert len({len(v) for v in rounds.values()}) == 1 and len(rounds["relu"]) >= 3
        assert r["ratio_to_relu"] == pytest.approx(statistics.median(
            [a / b for a, b in zip(rounds["full"], rounds["relu"])]))
        slope = [(b - h) / (big - half) for b, h in zip(rounds["in_cache"], rounds["in_cache_half"])]
        assert r["floor_ratio_to_relu"] == pytest.approx(statistics.median(
            [e * full / t for e, t in zip(slope, rounds["relu"])]))
    assert main(["bench", "--floor", "--quick", "--act", "relu", "--shape", "8,4,256"]) == 0
    assert "floor ×relu" in capsys.readouterr().out
    assert main(["bench", "--floor", "--quick", "--act", "relu", "--shape", "2,1000,1000"]) == 2  # dim 0 too short
