"""Matrix specs: every shipped matrix loads and expands, ids are stable, filters and bad
files give one clear SuiteError, --dry-run shows each cell's status."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tomllib

import pytest

from suite import activations
from suite.errors import SuiteError
from suite.matrix import MATRICES_DIR, catalog_rows, expand, load_matrix, shipped
from suite.store import Store


def _expected_count(name: str) -> int:
    """Cells a matrix should expand to, computed from the file's lists and the registries."""
    data = tomllib.loads((MATRICES_DIR / f"{name}.toml").read_text())
    total = 0
    for block in data["block"]:
        acts = set()
        for act in block["activations"]:
            if act == "*":
                acts.update(activations.names())
            else:
                acts.add(activations.ACTIVATIONS.resolve(act))
        acts -= {activations.ACTIVATIONS.resolve(a) for a in block.get("exclude", [])}
        total += len(acts) * len(block["archs"]) * len(block.get("seeds", [0]))
    return total


def test_the_four_matrices_ship():
    assert {"smoke", "paper-pwlu", "paper-ortho", "full"} <= set(shipped())


@pytest.mark.parametrize("name", shipped())
def test_every_shipped_matrix_loads_and_expands(name):
    cells = expand(load_matrix(name))
    assert len(cells) == _expected_count(name)
    assert len({c.id for c in cells}) == len(cells), "cell ids must be distinct"
    for cell in cells:
        assert len(cell.id) == 16 and int(cell.id, 16) >= 0


def test_smoke_covers_every_activation_and_the_three_embedded_tasks():
    cells = expand("smoke")
    assert {c.activation for c in cells} == set(activations.names())
    assert {(c.task, c.dataset) for c in cells} == {
        ("classification", "digits"), ("lm", "local-text"), ("detection", "digits-detection")}
    assert {c.recipe for c in cells} == {"smoke"}
    assert {c.seed for c in cells} == {0}
    # exclude = ["meta_acon"] takes it out of the language-model block only
    assert "meta_acon" not in {c.activation for c in cells if c.task == "lm"}
    assert "meta_acon" in {c.activation for c in cells if c.task == "classification"}


def test_wildcard_picks_up_a_newly_registered_activation(monkeypatch):
    before = len(expand("smoke"))
    registry = activations.ACTIVATIONS
    entry = registry.get("relu")
    monkeypatch.setitem(registry._entries, "test_new_act", entry.__class__("test_new_act", entry.factory))
    monkeypatch.setitem(registry._alias_to_name, "test_new_act", "test_new_act")
    cells = expand("smoke")
    assert len(cells) == before + 3  # one cell per embedded task
    assert sum(c.activation == "test_new_act" for c in cells) == 3


def test_paper_matrices_hold_the_papers_grids():
    pwlu = expand("paper-pwlu")
    imagenet = [c for c in pwlu if c.dataset == "imagenet"]
    assert {c.arch for c in imagenet} == {"resnet18", "resnet50", "mobilenetv2_100",
                                          "mobilenetv3_large_100", "efficientnet_b0"}
    assert {c.activation for c in pwlu} == {activations.ACTIVATIONS.resolve(a) for a in ("relu", "swish", "pwlu")}
    assert {c.recipe for c in imagenet} == {"pwlu-imagenet"}
    coco = {(c.arch, c.recipe) for c in pwlu if c.dataset == "coco"}
    assert coco == {("retinanet_resnet50_fpn", "coco"), ("maskrcnn_resnet50_fpn", "coco-maskrcnn")}
    acon = expand("paper-acon")
    assert {(c.arch, c.recipe) for c in acon} == {
        ("shufflenet_v2_x0_5", "acon-shufflenet"), ("shufflenet_v2_x1_5", "acon-shufflenet"),
        ("resnet50", "acon-resnet"), ("resnet101", "acon-resnet"), ("resnet152", "acon-resnet")}
    assert {c.activation for c in acon} == {"relu", "silu", "acon_c", "meta_acon"}
    swish = expand("paper-swish")
    assert {c.activation for c in swish} >= {"silu", "swish_beta"}  # Swish-1 and Swish, apart
    assert {c.arch for c in swish} == {"inception_resnet_v2", "mobilenetv1_100", "inception_v3", "inception_v4"}
    params = {c.activation: c.act_params for c in swish}
    assert params["prelu"] == {"per_channel": True, "init": 0.25}  # the paper's PReLU
    assert params["leaky_relu"] == {"negative_slope": 0.01} and params["swish_beta"] == {"per_channel": True}
    ortho = expand("paper-ortho")
    degrees = {(c.activation, c.arch): c.act_params.get("degree") for c in ortho}
    for arch in ("convnext_tiny", "gpt2"):
        assert degrees[("hermite", arch)] == 3
        assert degrees[("fourier", arch)] == 5
        assert degrees[("tropical", arch)] == 5
    assert {c.recipe for c in ortho} == {"ortho-convnext", "ortho-gpt2"}
    assert all(c.resources.gpus > 0 for c in pwlu + ortho)


def test_cell_ids_are_stable_across_processes():
    here = {c.label: c.id for c in expand("smoke")}
    code = "import json; from suite.matrix import expand; print(json.dumps({c.label: c.id for c in expand('smoke')}))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout) == here


def test_filters_select_cells_and_reject_unknown_names():
    everything = expand("smoke")
    relu = expand("smoke", activations=["relu"])
    assert relu and {c.activation for c in relu} == {"relu"}
    assert len(relu) == sum(c.activation == "relu" for c in everything)
    lm = expand("smoke", tasks=["lm"], activations=["relu", "gelu"])
    assert {c.task for c in lm} == {"lm"} and {c.activation for c in lm} == {"relu", "gelu"}
    arch = everything[0].arch
    assert {c.arch for c in expand("smoke", archs=[arch])} == {arch}
    seeds = expand("smoke", activations=["relu"], seeds=[0, 1, 2])
    assert len(seeds) == 3 * len(relu) and {c.seed for c in seeds} == {0, 1, 2}

    with pytest.raises(SuiteError, match="did you mean 'relu'"):
        expand("smoke", activations=["rleu"])
    with pytest.raises(SuiteError, match="not in matrix 'paper-pwlu'.*it has"):
        expand("paper-pwlu", activations=["gelu"])
    with pytest.raises(SuiteError, match="task 'clasification' is not in matrix.*did you mean 'classification'"):
        expand("smoke", tasks=["clasification"])
    with pytest.raises(SuiteError, match="unknown architecture"):
        expand("smoke", archs=["resnet_9000"])


def test_unknown_matrix_name_suggests_the_shipped_ones():
    with pytest.raises(SuiteError, match="unknown matrix 'smok'; did you mean 'smoke'"):
        load_matrix("smok")


GOOD_BLOCK = """
[[block]]
activations = ["relu"]
archs = ["{arch}"]
task = "classification"
dataset = "digits"
recipe = "smoke"
"""


@pytest.fixture
def classifier_arch():
    return next(c.arch for c in expand("smoke") if c.task == "classification")


@pytest.mark.parametrize("mutation, field, accepted", [
    (("activations =", "activation ="), "block[0].activation", "did you mean 'activations'? accepted fields: label, activations, exclude, archs"),
    (('["relu"]', '["rleu"]'), "block[0].activations[0]", "did you mean 'relu'"),
    (('recipe = "smoke"', 'recipe = "smoke"\nseeds = "zero"'), "block[0].seeds", "valid list"),
    (('recipe = "smoke"', 'recipe = "smoke"\nresources = { gpus = -1 }'), "block[0].resources.gpus", "greater than or equal to 0"),
    (('dataset = "digits"', 'dataset = "digitz"'), "block[0].dataset", "did you mean 'digits'"),
    (('recipe = "smoke"', 'recipe = "smoky"'), "block[0].recipe", "smoke"),
])
def test_bad_matrix_files_give_one_error_naming_file_field_and_accepted(tmp_path, classifier_arch,
                                                                        mutation, field, accepted):
    text = 'name = "bad"\n' + GOOD_BLOCK.format(arch=classifier_arch)
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(*mutation))
    with pytest.raises(SuiteError) as info:
        load_matrix(str(path))
    message = str(info.value)
    assert str(path) in message and f"field {field}:" in message and accepted in message, message
    assert "\n" not in message


def test_unknown_top_level_field_and_arch_task_mismatch(tmp_path, classifier_arch):
    path = tmp_path / "m.toml"
    path.write_text('name = "m"\nseed = 3\n' + GOOD_BLOCK.format(arch=classifier_arch))
    with pytest.raises(SuiteError, match=r"field seed: unknown field 'seed'; accepted fields: name, description, act_params, block"):
        load_matrix(str(path))
    lm_arch = next(c.arch for c in expand("smoke") if c.task == "lm")
    path.write_text('name = "m"\n' + GOOD_BLOCK.format(arch=lm_arch))
    with pytest.raises(SuiteError, match=rf"field block\[0\].archs\[0\]: architecture '{lm_arch}' is built for task 'lm'"):
        load_matrix(str(path))


def test_block_and_matrix_act_params_merge(tmp_path, classifier_arch):
    path = tmp_path / "m.toml"
    path.write_text('name = "m"\n[act_params]\npwlu = { regions = 8, momentum = 0.05 }\n'
                    + GOOD_BLOCK.format(arch=classifier_arch).replace('["relu"]', '["relu", "pwlu"]')
                    + "[block.act_params]\npwlu = { regions = 4 }\n")
    cells = {c.activation: c for c in expand(str(path))}
    assert cells["pwlu"].act_params == {"regions": 4, "momentum": 0.05}
    assert cells["relu"].act_params == {}


def _run_cli(argv, capsys):
    from suite.launch import cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr().out


def test_dry_run_lists_every_cell_with_its_store_status(tmp_path, capsys):
    store = Store(tmp_path / "store")
    cells = expand("smoke", activations=["relu", "gelu"])
    store.write("train", cells[0].id, {"status": "done", "cell": cells[0].model_dump(mode="json")})
    store.write("train", cells[1].id, {"status": "failed", "cell": cells[1].model_dump(mode="json")})
    code, out = _run_cli(["run", "--matrix", "smoke", "--act", "relu", "--act", "gelu",
                          "--dry-run", "--store", str(store.root)], capsys)
    assert code == 0
    for cell in cells:
        assert cell.id in out and cell.label in out
    line = {c.id: next(l for l in out.splitlines() if c.id in l) for c in cells}
    assert "done" in line[cells[0].id] and "failed" in line[cells[1].id]
    assert all("pending" in line[c.id] for c in cells[2:])
    assert f"{len(cells)} cells: 1 done, 1 failed, {len(cells) - 2} pending; {len(cells) - 2} would run." in out
    assert not (store.root / "work").exists() or not any((store.root / "work").iterdir())


def test_catalog_rows_count_the_cells():
    rows = {r["name"]: r for r in catalog_rows()}
    assert rows["smoke"]["cells"] == _expected_count("smoke")
    assert rows["smoke"]["description"]
