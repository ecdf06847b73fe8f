"""User strings never become shell lines of a SLURM batch script (issue 22, item 4):
matrix names have a strict character set, profile values are one line, and the script
submitit writes from them holds exactly the lines we expect."""
from __future__ import annotations

import pytest

from suite.cell import Resources
from suite.errors import SuiteError
from suite.launch.profile import Profile, load_profile, submitit_parameters
from suite.matrix import load_matrix

BLOCK = '[[block]]\nactivations = ["relu"]\narchs = ["cnn_small"]\ntask = "classification"\n' \
        'dataset = "digits"\nrecipe = "smoke"\n'


@pytest.mark.parametrize("name", ["x\ntouch /tmp/pwned", "a b", "x;rm -rf ~", "$(id)", "", "-x", "é"])
def test_a_matrix_name_outside_the_safe_set_is_refused(tmp_path, name):
    path = tmp_path / "m.toml"
    toml_string = name.replace("\n", "\\n").replace("\t", "\\t")
    path.write_text(f'name = "{toml_string}"\n' + BLOCK)
    with pytest.raises(SuiteError, match=r"field name: .*letters, digits"):
        load_matrix(str(path))


def test_a_block_label_with_a_newline_is_refused(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('name = "ok"\n' + BLOCK + 'label = "a\\nb"\n')
    with pytest.raises(SuiteError, match=r"field block\[0\].label: .*one line"):
        load_matrix(str(path))


@pytest.mark.parametrize("field, value", [
    ("partition", '"debug\\necho pwned"'), ("account", '"a b"'), ("qos", '"x\\ty"'),
    ("setup", '["module load cuda\\necho pwned"]'), ("sbatch", '{ comment = "x\\necho pwned" }'),
    ("sbatch", '{ "bad key" = 1 }'),
])
def test_profile_values_that_would_break_batch_script_lines_are_refused(tmp_path, field, value):
    path = tmp_path / "p.toml"
    path.write_text(f"{field} = {value}\n")
    with pytest.raises(SuiteError, match=f"field {field}"):
        load_profile(str(path))


def test_the_batch_script_has_one_line_per_parameter_and_the_injected_text_nowhere(tmp_path):
    submitit_slurm = pytest.importorskip("submitit.slurm.slurm")
    params = submitit_parameters(Profile(partition="debug", sbatch={"comment": "it's a \"test\""}),
                                 Resources(), name="suite-smoke")
    script = submitit_slurm._make_sbatch_string(
        command="python -u -m submitit.core._submit x", folder=tmp_path, map_count=2,
        job_name=params.pop("name"), **{k.removeprefix("slurm_"): v for k, v in params.items()
                                        if k.startswith("slurm_") and k not in ("slurm_max_num_timeout",
                                                                                 "slurm_signal_delay_s",
                                                                                 "slurm_array_parallelism")})
    lines = script.splitlines()
    assert "#SBATCH --job-name=suite-smoke" in lines
    assert sum(line.startswith("#SBATCH") for line in lines) >= 5
    comment = next(line for line in lines if line.startswith("#SBATCH --comment"))
    assert comment.count("\n") == 0 and "test" in comment


def test_submit_refuses_an_unsafe_matrix_name_before_claiming(tmp_path, monkeypatch):
    import shutil

    from suite.launch import slurm
    from suite.matrix import expand
    from suite.store import Store

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    store = Store(tmp_path / "store")
    cells = expand("smoke")[:1]
    with pytest.raises(SuiteError, match="matrix name 'x\\\\ny' is not accepted"):
        slurm.submit(cells, store, Profile(), matrix_name="x\ny")
    assert not (store.root / "claims").exists() or not any((store.root / "claims").iterdir())


def test_executor_slurm_without_slurm_is_one_error(tmp_path, monkeypatch):
    import shutil

    from suite.launch import slurm
    from suite.matrix import expand
    from suite.store import Store

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SuiteError, match="sbatch is not on the PATH"):
        slurm.submit(expand("smoke")[:1], Store(tmp_path / "s"), Profile(), matrix_name="smoke")
