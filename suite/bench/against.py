"""`bench --against REV`: this tree's C++ kernels against a git revision's, in one run.

On a shared, noisy machine a kernel's time moves by up to 2x between runs, so what a
change to a kernel gains is measured within one run: the revision's kernel sources
(``suite/activations/fused/csrc`` at REV) are built beside this tree's, and the same
activation module is timed with each, in alternation (``measure.time_interleaved``).
The README's figures for C++ kernel changes since 7bf896c come from this, and the
earlier ones can be repeated with it (REV the commit before the change). It also says
whether the two give the same results, bit for bit.

Only the C++ kernels are swapped: the Python around them is this tree's, so a revision
whose kernels take other arguments cannot be compared this way.
"""
from __future__ import annotations

import contextlib
import re
import subprocess
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Callable, Iterable

import torch

from suite.activations.fused import native
from suite.bench import harness, measure
from suite.bench.run import with_channels
from suite.bench.subjects import build, parse_act, resolve_impls
from suite.errors import SuiteError

CSRC_IN_REPO = "suite/activations/fused/csrc"


def repo_root() -> Path:
    """The git checkout this package runs from."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SuiteError(f"bench --against needs the suite's git checkout; {here} is not in one ({exc}).") from None
    return Path(out.stdout.strip())


def sources_at(revision: str, into: Path) -> tuple[str, Path]:
    """The kernel sources of ``revision`` extracted under ``into``; -> (short hash, folder)."""
    root = repo_root()
    found = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=10", "--verify", "--quiet",
                            f"{revision}^{{commit}}"], capture_output=True, text=True)
    if found.returncode != 0:
        raise SuiteError(f"revision {revision!r} is not accepted; expected a commit of {root} "
                         "(a hash, branch or tag such as HEAD~1; see git log).")
    short = found.stdout.strip()
    archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", short, CSRC_IN_REPO],
                             capture_output=True)
    if archive.returncode != 0:
        raise SuiteError(f"revision {revision!r} has no {CSRC_IN_REPO}: it predates the C++ kernels.")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return short, into / CSRC_IN_REPO


@contextlib.contextmanager
def serving(replacements: dict[native.NativeExtension, object]):
    """Each extension answers with its replacement build inside the block."""
    with contextlib.ExitStack() as stack:
        for ext, module in replacements.items():
            stack.enter_context(ext.serving(module))
        yield


def extensions_used(call: Callable[[], object]) -> tuple[list[native.NativeExtension], object]:
    """The C++ extensions that ``call`` (a forward and backward) asks for, and what it
    returned."""
    used: list[native.NativeExtension] = []
    original = native.NativeExtension.get

    def spy(self):
        if self not in used:
            used.append(self)
        return original(self)

    native.NativeExtension.get = spy
    try:
        result = call()
    finally:
        native.NativeExtension.get = original
    return [ext for ext in used if ext.get() is not None], result


def _outputs(module: torch.nn.Module, work: harness.Workload) -> list[torch.Tensor]:
    x = work.x.detach().requires_grad_(True)
    inputs = [x, *measure.leaf_parameters(module)]
    y = module(x)
    return [y.detach(), *torch.autograd.grad(y, inputs, work.dy)]


def _max_difference(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max((x.double() - y.double()).abs().max().item() for x, y in zip(a, b))


def _old_builds(spec, used: list[native.NativeExtension], old_csrc: Path, short: str, progress) -> dict:
    """The revision's builds of the C++ extensions ``used`` by the activation ``spec``."""
    if not used:
        raise SuiteError(f"activation {spec.label!r} runs no C++ kernel (its fused form is "
                         "torch.compile'd); bench --against compares the C++ kernels.")
    missing = [e.source.name for e in used if not (old_csrc / e.source.name).exists()]
    if missing:
        raise SuiteError(f"{', '.join(missing)} does not exist at {short}: {spec.label!r} got its C++ "
                         "kernel later; compare with a revision that has it.")
    if progress:
        progress(f"building {', '.join(e.source.name for e in used)} at {short}")
    tag = "_at_" + re.sub(r"\W", "", short)
    return {ext: ext.build(tag=tag, csrc=old_csrc) for ext in used}


def _time_both(module, work: harness.Workload, old: dict) -> measure.Interleaved:
    """fwd, bwd and fwd+bwd of ``module`` with this tree's kernels ("new ...") and with
    ``old`` ("old ..."), all in alternation."""
    with serving(old):
        old_passes = harness.pass_functions(module, work)  # its graph holds the old backward

    def in_old(fn):
        def call():
            with serving(old):
                return fn()
        return call

    new_passes = harness.pass_functions(module, work)
    fns = {}
    for name in harness.PASSES:
        fns[f"new {name}"] = new_passes[name]
        fns[f"old {name}"] = in_old(old_passes[name])
    return measure.time_interleaved(fns, work.device, quick=work.quick)


def run(acts: Iterable[str], revision: str, *, shape=(32, 100, 1000), quick=False,
        progress: Callable[[str], None] | None = None) -> list[dict]:
    """Per activation: this tree's kernel time / the revision's, forward, backward and
    both (median and IQR of per-round ratios), and the largest difference in y and the
    gradients between the two."""
    measure.keep_freed_memory()
    work = harness.Workload(tuple(shape), torch.device("cpu"), torch.float32, quick)
    rows = []
    with tempfile.TemporaryDirectory(prefix="suite-against-") as tmp:
        short, old_csrc = sources_at(revision, Path(tmp))
        for text in acts:
            spec = with_channels(parse_act(text), work.shape)
            if resolve_impls(spec, "auto", work.x) != ["fused"]:
                raise SuiteError(f"activation {spec.label!r} has no fused CPU kernel for float32 here; "
                                 "bench --against compares kernels.")
            module = build(spec, "fused", work.device, work.dtype).module
            used, new_out = extensions_used(lambda: _outputs(module, work))
            old = _old_builds(spec, used, old_csrc, short, progress)
            with serving(old):
                old_out = _outputs(module, work)
            difference = _max_difference(new_out, old_out)
            if progress:
                progress(f"timing {spec.label}")
            timed = _time_both(module, work, old)
            rows.append({
                "activation": spec.label, "revision": short, "kernels": [e.source.name for e in old],
                "ratio": {name: timed.ratio(f"new {name}", f"old {name}").as_dict() for name in harness.PASSES},
                "max_difference": difference,
            })
    return rows


def print_rows(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return
    table = Table(title=f"time with this tree's C++ kernels / with those at {rows[0]['revision']} "
                        "(median ± IQR of per-round ratios; < 1: faster now)")
    for column in ("activation", "kernels", "fwd", "bwd", "fwd+bwd", "max |y, grad difference|"):
        table.add_column(column, justify="left" if column in ("activation", "kernels") else "right")
    for row in rows:
        cells = [f"{row['ratio'][p]['median_s']:.3f}±{row['ratio'][p]['iqr_s']:.3f}" for p in harness.PASSES]
        diff = row["max_difference"]
        table.add_row(row["activation"], ", ".join(row["kernels"]), *cells,
                      "bit-identical" if diff == 0 else f"{diff:.2e}")
    Console(width=160).print(table)  # wide enough for every column when piped
