"""`python -m suite build`: compile the C++ kernels now, one progress line each.

Without it the first cell that uses a kernel builds it (and says so); building up front
keeps that minute out of the first training's timings and shows a missing compiler at once.
"""
from __future__ import annotations

import sys
import time


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "build", help="compile the C++ kernels now (else the first run that needs one builds it)",
        description="Compile every C++ kernel for this machine (about 40 s each on first use; "
                    "cached afterwards, per source, CPU, torch and Python version).",
    )
    p.set_defaults(func=main)


def main(args) -> int:
    import suite.activations  # noqa: F401 - its families declare the kernels
    from suite.activations.fused import native

    extensions = native.EXTENSIONS
    failed = []
    for i, ext in enumerate(extensions, 1):
        where = f"[{i}/{len(extensions)}] {ext.what} ({ext.source.name})"
        if ext.cached():
            print(f"{where}: already built", flush=True)
            ext.get()
            continue
        print(f"{where}: building ...", flush=True)
        start = time.perf_counter()
        try:
            ext.build()
        except Exception as exc:  # noqa: BLE001 - report each kernel, build the rest
            failed.append(ext.name)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"{where}: failed ({first})", file=sys.stderr, flush=True)
            continue
        print(f"{where}: built in {time.perf_counter() - start:.0f} s", flush=True)
    if failed:
        print(f"error: {len(failed)} kernel(s) could not be built ({', '.join(failed)}); the activations that "
              "use them will run their slower fallback. A C++ compiler (g++) and ninja are needed.",
              file=sys.stderr)
        return 1
    print(f"all {len(extensions)} C++ kernels are built.")
    return 0
