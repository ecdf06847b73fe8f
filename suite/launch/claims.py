"""Cross-process claims: two launches of one matrix never run the same cell at once.

Before a cell runs, its runner creates ``<store>/claims/<cell_id>`` with
``O_CREAT | O_EXCL`` (atomic on local file systems and on NFSv3+), holding who runs it:
pid, host, the pid's start time (so a recycled pid is not mistaken for the holder), the
claim's time and, on SLURM, the job id. The runner removes the file when the attempt
ends. A claim left behind by a crash is *stale* and may be broken:

- same host: its pid is gone (or is now another process);
- SLURM job: the job is no longer in ``squeue``;
- otherwise: it is older than the cell's time limit (plus a grace period).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.store import atomic_write_text

GRACE_S = 600  # added to a cell's time limit before a foreign host's claim counts as stale


def _pid_start(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), to detect pid reuse."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # the command name (field 2) may hold spaces; fields after ')' are fixed
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _pid_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    return start is None or _pid_start(pid) in (None, start)


def _slurm_job_alive(job_id: str) -> bool | None:
    """True/False from squeue; None when squeue cannot tell (not installed, no controller)."""
    try:
        out = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%i"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        # squeue exits 1 with "Invalid job id specified" once the job has left the queue
        return False if "Invalid job id" in out.stderr else None
    return bool(out.stdout.strip())


@dataclass
class Claims:
    """The claims folder of one store."""

    root: Path

    def __post_init__(self):
        self.root = Path(self.root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, cell_id: str) -> Path:
        return self.root / cell_id

    @staticmethod
    def me(**extra: Any) -> dict[str, Any]:
        pid = os.getpid()
        return {"pid": pid, "pid_start": _pid_start(pid), "host": socket.gethostname(),
                "time": time.time(), **extra}

    def holder(self, cell_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.path(cell_id).read_text())
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError):
            # being written right now (the O_EXCL create and the write are two steps)
            try:
                return {"unreadable": True, "time": self.path(cell_id).stat().st_mtime}
            except FileNotFoundError:
                return None

    def acquire(self, cell_id: str, *, time_limit_s: float, **extra: Any) -> bool:
        """Claim ``cell_id``; False if a live claim exists. Breaks a stale one first."""
        info = self.me(time_limit_s=time_limit_s, **extra)
        for _ in range(3):
            try:
                fd = os.open(self.path(cell_id), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                current = self.holder(cell_id)
                if current is None:
                    continue  # released meanwhile: try again
                if not self.is_stale(current) or not self._break(cell_id, current):
                    return False
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(info, f)
                f.flush()
                os.fsync(f.fileno())
            return True
        return False

    def update(self, cell_id: str, *, only_if: dict[str, Any], **fields: Any) -> None:
        """Add fields (e.g. the SLURM job id once known) to a claim we hold; a claim
        released meanwhile (its job already ended) is not brought back."""
        current = self.holder(cell_id)
        if current is None or any(current.get(k) != v for k, v in only_if.items()):
            return
        atomic_write_text(self.path(cell_id), json.dumps({**current, **fields}))

    def release(self, cell_id: str, *, only_if: dict[str, Any] | None = None) -> None:
        """Remove the claim (if ``only_if`` is given, only when the holder matches it)."""
        if only_if is not None:
            current = self.holder(cell_id) or {}
            if any(current.get(k) != v for k, v in only_if.items()):
                return
        try:
            self.path(cell_id).unlink()
        except FileNotFoundError:
            pass

    def is_stale(self, info: dict[str, Any]) -> bool:
        age = time.time() - float(info.get("time", 0))
        limit = float(info.get("time_limit_s") or 0) + GRACE_S
        if info.get("unreadable"):
            return age > 60  # a claim is written right after its creation
        job_id = info.get("job_id")
        if job_id:
            alive = _slurm_job_alive(str(job_id))
            if alive is not None:
                return not alive
            return age > limit
        if info.get("host") == socket.gethostname() and "pid" in info:
            return not _pid_alive(int(info["pid"]), info.get("pid_start"))
        return age > limit

    def _break(self, cell_id: str, seen: dict[str, Any]) -> bool:
        """Move a stale claim aside. Only the process whose rename moved the very claim it
        judged stale wins; a fresh claim moved by mistake is put back (os.link never
        overwrites)."""
        tomb = self.root / f".stale-{cell_id}-{os.getpid()}-{time.time_ns()}"
        try:
            os.rename(self.path(cell_id), tomb)
        except FileNotFoundError:
            return True  # someone else broke it: compete for the create
        try:
            moved = json.loads(tomb.read_text())
        except (OSError, json.JSONDecodeError):
            moved = {"unreadable": True}
        if moved != seen and not (seen.get("unreadable") and moved.get("unreadable")):
            try:
                os.link(tomb, self.path(cell_id))
            except FileExistsError:
                pass
            tomb.unlink(missing_ok=True)
            return False
        tomb.unlink(missing_ok=True)
        return True
