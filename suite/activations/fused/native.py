"""Hand-written C++ kernels (csrc/*.cpp): built once on first use, per CPU type.

Each source is its own small torch extension. The build (~40 s, cached by torch in
$TORCH_EXTENSIONS_DIR or ~/.cache/torch_extensions) needs a C++ compiler and ninja and
targets the build machine's vector instructions (-march=native); if it fails, the
kernels that need it fall back after one warning. A build says so on stderr (first use
is otherwise a silent minute inside a training cell); `python -m suite build` builds
them all up front.

A build's name carries a hash of everything that makes it (source, shared headers,
flags, CPU, torch and Python versions): two checkouts or venvs never overwrite each
other's build under one name (torch would rebuild on every switch), and identical
sources share one.
"""
from __future__ import annotations

import contextlib
import hashlib
import platform
import sys
import threading
import time
import warnings
from pathlib import Path

import torch

CSRC = Path(__file__).with_name("csrc")
CFLAGS = ["-O3", "-fopenmp", "-march=native", "-fno-math-errno", "-fno-trapping-math"]


def cpu_flags() -> str:
    """The CPU's feature flags as /proc/cpuinfo lists them (x86 "flags", ARM "Features");
    "" where there is no such file."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        return ""


def has_avx512() -> bool:
    return "avx512f" in cpu_flags().split()


def _build_tag(csrc: Path | None = None, source: Path | None = None) -> str:
    """The builds use -march=native: key each cached build by the CPU's feature flags so a
    home folder shared by different machines (a cluster) never loads a foreign build.
    The shared headers (of ``csrc``, default CSRC) go into the key too: torch rebuilds a
    cached extension only when its listed sources change, and the .cpp files are all it
    is given. The ``source`` itself, the flags and the torch and Python versions complete
    the key, so two checkouts (or venvs) with different kernels get different builds."""
    key = hashlib.sha1((platform.machine() + cpu_flags()).encode())
    for header in sorted((csrc or CSRC).glob("*.h")):
        key.update(header.read_bytes())
    if source is not None:
        key.update(source.read_bytes())
    key.update(" ".join([*CFLAGS, torch.__version__, sys.version]).encode())
    return key.hexdigest()[:10]


def _cpp_extension():
    """torch.utils.cpp_extension, without its "No CUDA runtime is found" warning: these
    extensions are CPU-only, and on a CPU machine the warning came with every command."""
    import logging

    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    import torch.utils.cpp_extension as cpp_extension

    return cpp_extension


EXTENSIONS: list["NativeExtension"] = []  # every kernel, for `python -m suite build`


class NativeFunction(torch.autograd.Function):
    """A C++ kernel pair as one autograd function: ``forward(x, *params, *options) -> y``
    and ``backward(x, dy, *params, *options) -> (dx, *dparams)``; ``options`` are
    non-tensor arguments (a channel count). Saves only x and the (small) parameters."""

    @staticmethod
    def forward(ctx, forward, backward, options, x, *params):
        ctx.backward, ctx.options = backward, options
        ctx.save_for_backward(x, *params)
        return forward(x, *params, *options)

    @staticmethod
    def backward(ctx, dy):
        x, *params = ctx.saved_tensors
        return (None, None, None, *ctx.backward(x, dy.contiguous(), *params, *ctx.options))


class NativeExtension:
    """The extension compiled from csrc/<source>, loaded lazily and once."""

    def __init__(self, name: str, source: str, what: str):
        self.name, self.source, self.what = name, CSRC / source, what
        self._module = None
        self._failed = False
        self._lock = threading.Lock()
        EXTENSIONS.append(self)

    def build_name(self, tag: str = "", csrc: Path | None = None) -> str:
        csrc = csrc or CSRC
        # The folder names the build too: two checkouts (worktrees, other revisions) with
        # the same sources would otherwise share one build folder and rebuild it over each
        # other (ninja rebuilds when the include path on its command line changes).
        where = hashlib.sha1(str(csrc.resolve()).encode()).hexdigest()[:6]
        return f"suite_{self.name}_cpu_{_build_tag(csrc, csrc / self.source.name)}_{where}{tag}"

    def cached(self) -> bool:
        """Whether torch's cache holds this build (then ``get()`` loads it in a second)."""
        name = self.build_name()
        return (Path(_cpp_extension()._get_build_directory(name, verbose=False)) / f"{name}.so").exists()

    def build(self, extra_cflags: tuple[str, ...] = (), tag: str = "", csrc: Path | None = None):
        """Compile (or load torch's cached build) for this CPU; ``extra_cflags`` with a
        matching ``tag`` give variants, e.g. ``-mno-avx512f`` to test the AVX code path on
        an AVX-512 machine. ``csrc``: another folder of kernel sources (another revision's,
        see ``bench --against``), the tag naming it."""
        csrc = csrc or CSRC
        return _cpp_extension().load(name=self.build_name(tag, csrc), sources=[str(csrc / self.source.name)],
                    extra_cflags=[*CFLAGS, *extra_cflags], extra_include_paths=[str(csrc)],
                    extra_ldflags=["-fopenmp"], verbose=False)

    def get(self):
        """The compiled module, or None where it cannot be built (warned once)."""
        if self._module is not None or self._failed:
            return self._module
        with self._lock:
            if self._module is None and not self._failed:
                try:
                    self._module = self._build_visibly()
                except Exception as exc:  # noqa: BLE001 - no compiler, no ninja, ...
                    self._failed = True
                    warnings.warn(f"{self.what} could not be built ({exc}); using the fallback implementation",
                                  RuntimeWarning)
        return self._module

    def _build_visibly(self):
        """``build()``, saying on stderr when it compiles (not when it loads the cache)."""
        if self.cached():
            return self.build()
        print(f"building the {self.what} (C++, first use with this source and machine, ~40 s; "
              "`python -m suite build` builds them all up front)", file=sys.stderr, flush=True)
        start = time.perf_counter()
        module = self.build()
        print(f"built the {self.what} in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        return module

    @contextlib.contextmanager
    def serving(self, module):
        """Inside the block, ``get()`` answers with ``module`` (another build of this
        kernel, e.g. another revision's: ``bench --against``), then with its own again."""
        kept = self._module
        self._module = module
        try:
            yield
        finally:
            self._module = kept

    def serves(self, x: torch.Tensor, *params: torch.Tensor) -> bool:
        """Whether x and params are all float32, the one dtype the C++ kernels take, and the
        extension is built (checked last: a float64 input never triggers a build)."""
        return (x.dtype == torch.float32 and all(p.dtype == torch.float32 for p in params)
                and self.get() is not None)

    def apply(self, op: str, x: torch.Tensor, *params: torch.Tensor, options: tuple = ()) -> torch.Tensor:
        """y by the extension's ``<op>_forward``, differentiable in x and params through its
        ``<op>_backward`` (see NativeFunction); the caller has checked that ``get()`` works."""
        module = self.get()
        return NativeFunction.apply(getattr(module, f"{op}_forward"), getattr(module, f"{op}_backward"),
                                    tuple(options), x.contiguous(), *params)
