"""`python -m suite list activations`: every name, parameter counts computed from modules."""
import suite.activations as acts
from suite.activations.catalog import rows
from suite.cli import main


def _row(name):
    return next(r for r in rows() if r["name"] == name)


def test_cli_lists_every_registered_activation(capsys):
    assert main(["list", "activations"]) == 0
    out = capsys.readouterr().out
    for name in acts.names():
        assert name in out


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_pwlu_and_prelu_counts_match_the_modules():
    # PWLU with N regions learns N + 1 heights, two outer slopes and, as its paper, its two
    # bounds: N + 5 (21 at N = 16), the same per channel; pwlu_fixed does not learn the
    # bounds (N + 3). PReLU learns one slope per layer or per channel.
    regions = 16
    assert _count(acts.create("pwlu", regions=regions)) == regions + 5 == 21
    assert _count(acts.create("pwlu", regions=regions, channels=5)) == 5 * (regions + 5)
    assert _row("pwlu")["params/layer"] == str(regions + 5)
    assert _row("pwlu")["params/channel"] == f"{regions + 5}/ch"
    assert _count(acts.create("pwlu_fixed", regions=regions)) == regions + 3
    assert _row("pwlu_fixed")["params/layer"] == str(regions + 3)
    assert _count(acts.create("prelu")) == 1 and _count(acts.create("prelu", channels=5)) == 5
    assert _row("prelu")["params/layer"] == "1" and _row("prelu")["params/channel"] == "1/ch"


def test_per_layer_count_pau():
    # P of degree 5 has a_0..a_5 (6 coefficients); Q = 1 + |b_1 x + ... + b_4 x^4| has 4.
    assert _row("pau")["params/layer"] == str(6 + 4)


def test_per_channel_count_bspline():
    # Per channel: grid_size + spline_order = 5 + 3 coefficients, base and spline weights.
    assert _row("bspline")["params/channel"] == f"{5 + 3 + 2}/ch"
    assert _row("bspline")["params/layer"] == str(5 + 3 + 2)


def test_per_channel_count_with_a_channel_free_part_meta_acon():
    # Meta-ACON at C channels: p1, p2 (2C); fc1 C->W plus bias W; bn1 2W; fc2 W->C plus
    # bias C; bn2 2C, with W = max(16, C // 16) = 16 for the probe widths 64 and 128:
    # 2C + 16C + 16 + 32 + 16C + C + 2C.
    assert _row("meta_acon")["params/channel"] == "37/ch + 48"
    assert _row("meta_acon")["params/layer"] == "-"


def test_fixed_activations_have_no_parameters():
    assert _row("relu")["params/layer"] == "0" and _row("relu")["learnable"] == "no"
