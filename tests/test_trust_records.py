"""Records from a shared store are validated on read (issue 22, item 3): a file with a
mistyped field is a problem named by path and reason, and the board is built from the rest."""
from __future__ import annotations

import copy
import json

import suite.cli
from suite.report import aggregate
from suite.store import Store
from test_aggregate import record

GOOD = record("relu", "resnet18", 0)

# (what is wrong, path of the field, bad value, words the reason must hold)
MALFORMED = [
    ("string seed", ("cell", "seed"), "0", "cell.seed"),
    ("boolean seed", ("cell", "seed"), True, "cell.seed"),
    ("list metrics", ("metrics",), [0.5, 0.6], "metrics"),
    ("string metric", ("metrics", "top1"), "0.9", "metrics.top1"),
    ("non-dict hardware", ("provenance", "hardware"), "Xeon", "provenance.hardware"),
    ("history not a list", ("history",), "abc", "history"),
    ("history entry not a dict", ("history",), [1, 2], "history[0]"),
    ("history step a string", ("history",), [{"step": "five", "loss": 1.0}], "history[0].step"),
    ("history value a dict", ("history",), [{"step": 5, "loss": {"a": 1}}], "history[0]"),
    ("activation a number", ("cell", "activation"), 7, "cell.activation"),
    ("cell a list", ("cell",), ["relu"], "cell"),
    ("unknown status", ("status",), "ok", "status"),
    ("shape curve of strings", ("activation_shapes", "layer0", "x"), ["a"], "activation_shapes.layer0.x[0]"),
    ("throughput a number", ("throughput",), 12.0, "throughput"),
    ("preemptions negative", ("preemptions",), -1, "preemptions"),
]


def mutated(path, value):
    rec = copy.deepcopy(GOOD)
    target = rec
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return rec


def write_malformed(store: Store) -> dict[str, tuple]:
    """One bad record per case, each under its own key; returns key -> case."""
    cases = {}
    for i, case in enumerate(MALFORMED):
        key = f"bad{i:02d}"
        rec = mutated(case[1], case[2])
        rec.update(key=key, cell_id=key)
        store.write("train", key, rec)
        cases[key] = case
    return cases


def test_each_malformed_record_is_a_problem_naming_its_file_and_field(tmp_path):
    store = Store(tmp_path / "store")
    store.write("train", "good", GOOD)
    cases = write_malformed(store)
    records, problems = store.load("train")
    assert [r["key"] for r in records] == ["good"]
    by_key = {p.path.parent.name: p.reason for p in problems}
    assert set(by_key) == set(cases)
    for key, (what, _, _, field) in cases.items():
        assert field in by_key[key], (what, by_key[key])


def test_report_builds_the_board_from_the_good_records_and_names_the_bad_files(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(suite.cli, "SUBCOMMANDS", {"report": "suite.report.cli"})
    store = Store(tmp_path / "store")
    for seed in range(2):
        store.write("train", f"good{seed}", record("relu", "resnet18", seed))
    cases = write_malformed(store)
    code = suite.cli.main(["report", "--store", str(store.root), "--out", str(tmp_path / "out"),
                           "--baselines", str(tmp_path)])  # before the fix: a traceback
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed = captured.out.replace("\n", "")
    for key in cases:
        assert f"/{key}/" in printed
    runs = aggregate.load_runs(store)
    assert sorted(runs.frame["key"]) == ["good0", "good1"]
    assert "Traceback" not in captured.err


def test_a_shape_readers_never_saw_is_still_read(tmp_path):
    """Fields the schema does not know (added by later versions) pass through."""
    store = Store(tmp_path / "store")
    rec = {**GOOD, "new_field": {"anything": [1, "x"]}}
    store.write("train", "k", rec)
    records, problems = store.load("train")
    assert not problems and records[0]["new_field"] == {"anything": [1, "x"]}


def test_a_json_that_is_not_utf8_or_not_an_object_is_a_problem(tmp_path):
    store = Store(tmp_path / "store")
    folder = store.root / "records" / "train" / "k"
    folder.mkdir(parents=True)
    (folder / "a-done.json").write_bytes(b"\xff\xfe{")
    (folder / "b-done.json").write_text(json.dumps([1, 2]))
    records, problems = store.load("train")
    assert not records and len(problems) == 2
