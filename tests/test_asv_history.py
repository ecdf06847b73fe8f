"""asv over commits: the site-venv environment installs each commit's suite (torch reused)
and records its ratios; the leaderboard site draws them (suite.report.history)."""
from __future__ import annotations

import json
import os
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from suite.report import history

ROOT = Path(__file__).resolve().parents[1]


def _result_file(path: Path, commit: str, date_ms: int, values: list[float], acts: list[str]) -> None:
    """A result file as asv 0.6 writes it (format 2), trimmed to the fields read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "commit_hash": commit, "date": date_ms, "version": 2,
        "result_columns": ["result", "params", "version", "started_at", "duration"],
        "results": {history.BENCHMARK: [values, [[f"'{a}'" for a in acts]], "v", 0, 1.0]},
    }))


def test_history_reads_asv_results_in_date_order_and_draws_them(tmp_path):
    asv_dir = tmp_path / "asv"
    _result_file(asv_dir / "m1" / "bbbb-env.json", "b" * 40, 2_000, [1.0, 1.6], ["relu", "pwlu"])
    _result_file(asv_dir / "m1" / "aaaa-env.json", "a" * 40, 1_000, [1.0, 1.9], ["relu", "pwlu"])
    (asv_dir / "m1" / "machine.json").write_text("{}")
    frame = history.load(asv_dir)
    pwlu = frame[frame["activation"] == "pwlu"].sort_values("date")
    assert list(pwlu["commit"]) == ["aaaaaaaa", "bbbbbbbb"] and list(pwlu["value"]) == [1.9, 1.6]
    (figure,) = history.figures(tmp_path / "plots", asv_dir)
    assert figure.path.exists() and figure.path.stat().st_size > 1000 and "2 commits" in figure.caption
    assert history.figures(tmp_path / "none", tmp_path / "empty") == []


@pytest.mark.slow
def test_asv_run_over_two_commits_records_each(tmp_path):
    if importlib.util.find_spec("asv") is None:
        pytest.skip("asv is not installed (pip install asv)")
    if subprocess.run(["git", "rev-parse", "-q", "--verify", "HEAD~2"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("needs a clone with at least 3 commits")
    conf = json.loads("\n".join(line for line in (ROOT / "asv.conf.json").read_text().splitlines()
                                if not line.strip().startswith("//")))
    conf.update(repo=str(ROOT), benchmark_dir=str(ROOT / "benchmarks"), results_dir=str(tmp_path / "results"),
                env_dir=str(tmp_path / "env"), html_dir=str(tmp_path / "html"))
    (tmp_path / "asv.conf.json").write_text(json.dumps(conf))
    env = {**os.environ, "SUITE_ASV_ACTS": "relu", "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)  # each commit's own suite, not this checkout's
    asv = [sys.executable, "-m", "asv"]
    subprocess.run([*asv, "machine", "--machine", "asv-test", "--yes"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    out = subprocess.run([*asv, "run", "--config", str(tmp_path / "asv.conf.json"), "--machine", "asv-test",
                          "--quick", "--bench", "Ratios.track_ratio_to_relu", "HEAD~2..HEAD"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    frame = history.load(tmp_path / "results")
    # (rev-parse --short takes a single revision: shorten the two full hashes here)
    commits = [c[:8] for c in subprocess.run(["git", "rev-parse", "HEAD", "HEAD~1"], cwd=ROOT, capture_output=True,
                                             text=True, check=True).stdout.split()]
    assert sorted(frame["commit"]) == sorted(commits)
    assert (frame["activation"] == "relu").all() and (frame["value"] > 0).all()
