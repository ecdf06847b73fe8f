"""A matrix is checked whole at load (and so at --dry-run): every cell's activation builds
with its parameters, recipe overrides are valid, seeds are integers, no block is emptied
by its exclude list, and the docs give the smoke matrix's true size (issue 22, items 8,
17, 19)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from suite.errors import SuiteError
from suite.matrix import expand, load_matrix

DOCS = Path(__file__).resolve().parents[1] / "docs" / "readme"


def matrix_file(tmp_path, body: str, acts='["relu"]', top: str = "") -> str:
    path = tmp_path / "m.toml"
    path.write_text(f'name = "m"\n{top}[[block]]\nactivations = {acts}\narchs = ["cnn_small"]\n'
                    f'task = "classification"\ndataset = "digits"\nrecipe = "smoke"\n{body}')
    return str(path)


@pytest.mark.parametrize("body, top, acts, where, why", [
    ('act_params = { hermite = { degree = -2 } }\n', "", '["hermite"]', r"block\[0\]\.act_params\.hermite",
     "degree -2 is not accepted"),
    ("", '[act_params]\nhermite = { degree = "three" }\n', '["hermite"]', r"act_params\.hermite",
     "degree 'three' is not accepted"),
    ("", "", '["hermite"]', r"block\[0\]\.activations", "hermite needs degree"),
    ('act_params = { pwlu = { regionz = 8 } }\n', "", '["pwlu"]', r"block\[0\]\.act_params\.pwlu",
     "no parameter 'regionz'"),
    ('act_params = { fourier = { degree = 400 } }\n', "", '["fourier"]', r"block\[0\]\.act_params\.fourier",
     "fourier degree 400 is not accepted"),
    ('recipe_overrides = { lr = -1.0 }\n', "", '["relu"]', r"block\[0\]\.recipe_overrides", "lr"),
    ('recipe_overrides = { lrate = 0.1 }\n', "", '["relu"]', r"block\[0\]\.recipe_overrides", "lrate"),
])
def test_bad_activation_parameters_and_recipe_overrides_fail_at_load(tmp_path, body, top, acts, where, why):
    path = matrix_file(tmp_path, body, acts, top)
    with pytest.raises(SuiteError, match=f"field {where}: .*{why}"):
        load_matrix(path)  # before the fix: loaded, then every cell failed at run time


def test_dry_run_reports_a_bad_parameter_as_one_error_line(tmp_path, capsys):
    import suite.cli

    path = matrix_file(tmp_path, 'act_params = { hermite = { degree = 0 } }\n', '["hermite"]')
    assert suite.cli.main(["run", "--matrix", path, "--dry-run", "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "degree 0" in err


@pytest.mark.parametrize("seeds", ["[true]", "[1.5]", '["0"]'])
def test_seeds_must_be_integers_not_booleans(tmp_path, seeds):
    with pytest.raises(SuiteError, match=r"field block\[0\]\.seeds\[0\]"):
        load_matrix(matrix_file(tmp_path, f"seeds = {seeds}\n"))


def test_a_block_whose_exclude_removes_every_activation_is_an_error(tmp_path):
    path = matrix_file(tmp_path, 'exclude = ["relu", "gelu"]\n', '["relu", "gelu"]')
    with pytest.raises(SuiteError, match=r"field block\[0\]\.exclude: it removes every activation"):
        load_matrix(path)


def test_a_matrix_file_that_is_not_utf8_is_one_error(tmp_path):
    path = tmp_path / "m.toml"
    path.write_bytes(b'name = "m\xff"\n')
    with pytest.raises(SuiteError, match="is not UTF-8 text"):
        load_matrix(str(path))


def test_the_docs_give_the_smoke_matrix_its_true_cell_count():
    text = (DOCS / "matrix-launch.md").read_text()
    counts = re.findall(r"--matrix smoke\b.*?# (\d+) cells", text)
    assert counts, "matrix-launch.md no longer states the smoke matrix's size"
    assert {int(c) for c in counts} == {len(expand("smoke"))}
