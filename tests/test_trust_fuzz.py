"""Fuzz-style checks (issue 22): malformed records, matrices and command-line values each
give at most one `error:` line and never a traceback, and nothing in the store is lost.

The inputs are seeded random mutations of good ones (reproducible: the seed is fixed),
plus hand-picked cases from the issue (full disk during `bench`, a malformed baselines
CSV, a huge --shape)."""
from __future__ import annotations

import copy
import errno
import json
import math
import random
from pathlib import Path

import pytest

import suite.cli
from suite.store import Store
from test_aggregate import record

JUNK = [None, "", "x", "0", -1, 0, 1.5, 1e308, math.nan, True, [], {}, [1, "a"], {"a": {"b": []}},
        "line\nbreak", "\x00", "é" * 3]


def _paths(value, prefix=()):
    """Every (path) to a value inside nested dicts/lists."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:2]):
            yield from _paths(v, prefix + (i,))


def _mutate(rec: dict, rng: random.Random) -> dict:
    rec = copy.deepcopy(rec)
    path = rng.choice([p for p in _paths(rec) if p])
    target = rec
    for part in path[:-1]:
        target = target[part]
    if rng.random() < 0.15 and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = rng.choice(JUNK)
    return rec


def _one_error_line(err: str) -> bool:
    lines = [line for line in err.splitlines() if line.strip()]
    return "Traceback" not in err and sum("error:" in line for line in lines) == 1


@pytest.fixture(autouse=True)
def _cli_subcommands(monkeypatch):
    """This area's subcommands only (other areas' CLI modules have their own tests)."""
    monkeypatch.setattr(suite.cli, "SUBCOMMANDS", {"run": "suite.launch.cli", "report": "suite.report.cli",
                                                    "bench": "suite.bench.cli"})


# --------------------------------------------------------------- records

def test_report_survives_randomly_malformed_records_and_loses_none(tmp_path, capsys):
    rng = random.Random(22)
    store = Store(tmp_path / "store")
    store.write("train", "good-0", record("relu", "resnet18", 0))
    store.write("train", "good-1", record("swish", "resnet18", 0))
    for i in range(60):
        rec = _mutate(record("relu", "resnet18", 1 + i % 2), rng)
        store.write("train", f"fuzz-{i:02d}", rec)
    folder = store.root / "records" / "train"
    extra = folder / "fuzz-raw" / "x-done.json"
    extra.parent.mkdir()
    extra.write_bytes(b'{"schema": "suite.record/1", "kind": "train", "cell": {\xff')
    before = {p: p.read_bytes() for p in folder.rglob("*.json")}

    code = suite.cli.main(["report", "--store", str(store.root), "--out", str(tmp_path / "out"),
                           "--baselines", str(tmp_path)])  # a folder without CSV files
    captured = capsys.readouterr()
    assert code == 0 and "Traceback" not in captured.err, captured.err
    printed = captured.out.replace("\n", "")
    records, problems = store.load("train")
    used = {r["key"] for r in records}
    assert {"good-0", "good-1"} <= used
    for path in before:  # every file is either on the board or named as a problem
        assert path.parent.name in used or path.parent.name in printed, path
    assert problems and all(p.path.parent.name in printed for p in problems)
    assert {p: p.read_bytes() for p in folder.rglob("*.json")} == before  # nothing lost or changed


# --------------------------------------------------------------- matrices

GOOD_MATRIX = {
    "name": "fuzz",
    "act_params": {"hermite": {"degree": 3}},
    "block": [{"activations": ["relu", "hermite"], "archs": ["cnn_small"], "task": "classification",
               "dataset": "digits", "recipe": "smoke", "seeds": [0, 1],
               "recipe_overrides": {"steps": 5}, "resources": {"cpus": 1}}],
}


def _toml(value) -> str:
    if value is None:
        return "nil"  # TOML has no null: a syntax error the loader must explain
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "nan" if isinstance(value, float) and math.isnan(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"


def _matrix_text(spec: dict) -> str:
    lines = []
    for key, value in spec.items():
        if key == "block" and isinstance(value, list) and all(isinstance(b, dict) for b in value):
            continue
        lines.append(f"{json.dumps(key)} = {_toml(value)}")
    for block in spec.get("block", []) if isinstance(spec.get("block"), list) else []:
        if isinstance(block, dict):
            lines.append("[[block]]")
            lines += [f"{json.dumps(k)} = {_toml(v)}" for k, v in block.items()]
    return "\n".join(lines) + "\n"


def test_dry_run_of_randomly_malformed_matrices_is_ok_or_one_error_line(tmp_path, capsys):
    rng = random.Random(19)
    texts = [_matrix_text(_mutate(GOOD_MATRIX, rng)) for _ in range(40)]
    texts += ["", "name = ", "[[block]]\n", _matrix_text(GOOD_MATRIX)[:-40]]
    blobs = [t.encode() for t in texts] + [b'name = "fuzz\xff"\n']
    errors = 0
    for i, blob in enumerate(blobs):
        path = tmp_path / f"m{i}.toml"
        path.write_bytes(blob)
        code = suite.cli.main(["run", "--matrix", str(path), "--dry-run", "--store", str(tmp_path / "s")])
        err = capsys.readouterr().err
        assert code in (0, 2), (blob, err)
        if code == 2:
            errors += 1
            assert _one_error_line(err) and err.startswith("error: "), (blob, err)
    assert errors >= len(blobs) // 2  # most mutations are caught at load


# --------------------------------------------------------------- command-line values

BAD_ARGV = [
    ["run", "--matrix", "smoke", "--seeds", "a,b"],
    ["run", "--matrix", "smoke", "--jobs", "0"],
    ["run", "--matrix", "smoke", "--jobs", "x"],
    ["run", "--matrix", "no-such-matrix"],
    ["run", "--matrix", "smoke", "--act", "no_such_act", "--dry-run"],
    ["run", "--matrix", "smoke", "--device", "tpu"],
    ["run", "--matrix", "smoke", "--profile", "nope", "--executor", "slurm"],
    ["bench", "--act", "relu", "--shape", "100000,100000,100000", "--no-store"],
    ["bench", "--act", "relu", "--shape", "-3", "--no-store"],
    ["bench", "--act", "fourier:degree=400", "--shape", "2,4,8", "--no-store", "--quick"],
    ["report", "--store", "/nonexistent/store"],
]


@pytest.mark.parametrize("argv", BAD_ARGV, ids=lambda a: " ".join(a[:3]))
def test_bad_command_line_values_give_one_error_line(tmp_path, capsys, argv, monkeypatch):
    monkeypatch.chdir(tmp_path)  # any store a run would create lands here
    try:
        code = suite.cli.main(argv)
    except SystemExit as exc:  # argparse's own errors: usage line + one error line
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert _one_error_line(err), err


def test_bench_keeps_its_measurements_when_the_store_has_no_space(tmp_path, capsys, monkeypatch):
    import suite.atomic

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(suite.atomic.os, "fsync", full)
    code = suite.cli.main(["bench", "--act", "relu", "--shape", "2,4,8", "--quick",
                           "--store", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 2 and _one_error_line(err), err
    assert "no space left on" in err
    saved = Path(err.split("measurement(s) are in ")[1].split()[0].rstrip("."))
    rows = json.loads(saved.read_text())
    saved.unlink()
    assert rows and rows[0]["activation"] == "relu" and "fwdbwd" in json.dumps(rows[0])
    assert not list((tmp_path / "store").rglob("*.tmp"))


def test_a_malformed_baselines_csv_is_one_error_naming_the_file(tmp_path, capsys):
    store = Store(tmp_path / "store")
    store.write("train", "good", record("relu", "resnet18", 0))
    base = tmp_path / "baselines"
    base.mkdir()
    (base / "bad.csv").write_bytes(b'paper,table\n"unterminated\n')
    code = suite.cli.main(["report", "--store", str(store.root), "--out", str(tmp_path / "out"),
                           "--baselines", str(base)])
    err = capsys.readouterr().err
    assert code == 2 and _one_error_line(err) and "bad.csv" in err, err
