"""The result store: one JSON record per run, written atomically, never overwritten.

Layout under the store root (``--store``, ``$SUITE_STORE``, default ``./store``)::

    records/<kind>/<key>/<utc-timestamp>-<status>.json   one file per finished attempt
    work/<key>/                                          checkpoints of a running cell

``kind`` is "train" for matrix cells (key = cell id) and "bench" for kernel timings. A
rerun appends a new record; readers take the newest record of each key. Loading never
drops a file silently: unreadable or foreign files, and records whose fields do not have
the shape readers rely on (``suite.record_schema``), are returned as ``problems`` with
their path and the reason; the readable rest is returned as usual. What the store
promises on each kind of fault: docs/readme/store.md.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from suite.atomic import atomic_write_text  # noqa: F401  (re-exported for callers)

SCHEMA = "suite.record/1"
STATUSES = ("done", "failed", "diverged")


def read_record(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(record, None) for a usable record file (with ``_path`` added), else (None, why not)."""
    try:
        rec = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"unreadable JSON ({exc})"
    if not isinstance(rec, dict) or rec.get("schema") != SCHEMA:
        return None, f"foreign file (schema is not {SCHEMA})"
    from suite.record_schema import check  # pydantic: not imported by `--help`

    kind = rec.get("kind") if isinstance(rec.get("kind"), str) else Path(path).parent.parent.name
    reason = check(rec, kind)
    if reason:
        return None, reason
    rec["_path"] = str(path)
    return rec, None


def default_root() -> Path:
    return Path(os.environ.get("SUITE_STORE", "store"))


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True,
            text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def hardware() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": None,
        "gpu_count": 0,
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
    return info


def provenance() -> dict[str, Any]:
    """Where a result came from: code version, library versions, hardware (no host name)."""
    import torch

    from suite import plugins

    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for mod in ("torchvision", "timm"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    # Dirty = uncommitted changes that can change a result: outputs (results/) and prose
    # (Markdown) are left out, so editing a README during a run does not taint its records.
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                  ":(top,exclude)results", ":(top,exclude,glob)**/*.md")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "versions": versions,
        "hardware": hardware(),
        "platform": platform.platform(),
        "plugins": plugins.provenance(),  # the user's activation code: module, source sha256
    }


@dataclass
class Problem:
    path: Path
    reason: str


@dataclass
class Store:
    root: Path = field(default_factory=default_root)

    def __post_init__(self):
        self.root = Path(self.root)

    def workdir(self, key: str) -> Path:
        path = self.root / "work" / key
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write(self, kind: str, key: str, record: dict[str, Any]) -> Path:
        """Append a record; adds schema, kind, key and timestamp. Returns its path."""
        status = record.get("status", "done")
        stamp = utc_now()
        full = {"schema": SCHEMA, "kind": kind, "key": key, "written_at": stamp, **record}
        path = self.root / "records" / kind / key / f"{stamp}-{status}.json"
        atomic_write_text(path, json.dumps(full, indent=2, sort_keys=True, default=str))
        return path

    def load(self, kind: str | None = None) -> tuple[list[dict[str, Any]], list[Problem]]:
        """All records (oldest first) of ``kind`` (or every kind), and the files that failed."""
        records, problems = [], []
        base = self.root / "records"
        if kind is not None:
            base = base / kind
        if not base.exists():
            return records, problems
        for path in sorted(base.rglob("*")):
            if path.is_dir() or path.name.startswith("."):
                continue
            if path.suffix != ".json":
                problems.append(Problem(path, "not a .json record"))
                continue
            rec, reason = read_record(path)
            if reason:
                problems.append(Problem(path, reason))
                continue
            records.append(rec)
        records.sort(key=lambda r: r.get("written_at", ""))
        return records, problems

    def read_key(self, kind: str, key: str) -> tuple[list[dict[str, Any]], list[Problem]]:
        """The usable records of one key, oldest first, and its files that are not
        (reads only that key's folder)."""
        folder = self.root / "records" / kind / key
        out, problems = [], []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            rec, reason = read_record(path)
            if reason:
                problems.append(Problem(path, reason))
            else:
                out.append(rec)
        out.sort(key=lambda r: r.get("written_at", ""))
        return out, problems

    def records_of(self, kind: str, key: str) -> list[dict[str, Any]]:
        """The usable records of one key, oldest first (reads only that key's folder)."""
        return self.read_key(kind, key)[0]

    def problems_of(self, keys: Iterable[str], kind: str = "train") -> dict[str, list[Problem]]:
        """The files of each key that cannot be used (only keys that have some)."""
        out = {}
        for key in keys:
            problems = self.read_key(kind, key)[1]
            if problems:
                out[key] = problems
        return out

    def latest(self, kind: str) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
        """The newest record of each key."""
        records, problems = self.load(kind)
        newest: dict[str, dict[str, Any]] = {}
        for rec in records:
            newest[rec["key"]] = rec
        return newest, problems

    def status_of(self, keys: Iterable[str], kind: str = "train") -> dict[str, str]:
        """'done' if any attempt finished (a finished result is never lost), else the
        newest attempt's status, else 'pending'."""
        out = {}
        for key in keys:
            recs = self.records_of(kind, key)
            if any(r.get("status") in ("done", "diverged") for r in recs):
                out[key] = next(r["status"] for r in reversed(recs) if r.get("status") in ("done", "diverged"))
            elif recs:
                out[key] = recs[-1].get("status", "failed")
            else:
                out[key] = "pending"
        return out
