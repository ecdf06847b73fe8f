"""`python -m suite bench`: kernel throughput of activations (and a CNN training step)."""
from __future__ import annotations

import argparse

from suite.errors import SuiteError, bad_value


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="time activations' forward/backward against copy and ReLU references",
        description="Time forward, backward and forward+backward of activations; ratios are "
                    "to a same-bytes copy and to ReLU timed in the same run.",
    )
    p.add_argument("--act", action="append", metavar="NAME[:k=v,...]",
                   help="activation (repeatable), e.g. hermite:degree=8; default: every registered one")
    p.add_argument("--matrix", default=None, metavar="NAME",
                   help="time the activations of this matrix with its parameters (what its leaderboard trains); "
                        "added to any --act")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default="fp32", help="fp32, bf16 or fp64")
    p.add_argument("--shape", default="32,100,1000", help="input shape, comma-separated (dim 1 = channels)")
    p.add_argument("--impl", default="auto", help="auto, reference, fused or all")
    p.add_argument("--peers", action="store_true", help="also time peer implementations (torchortho, gather PWLU)")
    p.add_argument("--end-to-end", action="store_true",
                   help="time a CNN training step per activation (ratio to ReLU) instead of kernels")
    p.add_argument("--against", default=None, metavar="REV",
                   help="time this tree's C++ kernels against those of git revision REV in one run "
                        "(ratios, and whether results are bit-identical); needs --act, writes no records")
    p.add_argument("--floor", action="store_true",
                   help="also time each activation on an input that fits the cache: its compute floor, the "
                        "ratio to ReLU that no memory optimisation can go below (CPU float32; writes no records)")
    p.add_argument("--store", default=None, help="store root (default $SUITE_STORE or ./store)")
    p.add_argument("--no-store", action="store_true", help="print only, write no records")
    p.add_argument("--quick", action="store_true", help="short measurements (smoke runs, CI)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import torch
    from rich.console import Console

    from suite.bench import run as bench_run
    from suite.bench.report import print_records
    from suite.store import Store, default_root, provenance

    if args.threads is not None:
        if args.threads < 1:
            raise bad_value("threads", args.threads, "a positive integer")
        torch.set_num_threads(args.threads)
    err = Console(stderr=True)
    if args.matrix:
        args.act = (args.act or []) + [a for a in bench_run.matrix_acts(args.matrix) if a not in (args.act or [])]
    if args.against is not None:
        from suite.bench import against

        if not args.act:
            raise SuiteError("bench --against compares the kernels of the activations named by --act; "
                             "name one or more with a C++ kernel, e.g. --act pau --act fourier:degree=5.")
        rows = against.run(args.act, args.against, shape=bench_run.parse_shape(args.shape), quick=args.quick,
                           progress=lambda what: err.print(what, markup=False, style="dim"))
        against.print_rows(rows)
        return 0
    if args.floor:
        from suite.bench import floor

        rows = floor.run(args.act or bench_run.default_acts(), shape=bench_run.parse_shape(args.shape),
                         quick=args.quick, progress=lambda what: err.print(f"timing {what}", markup=False, style="dim"))
        floor.print_rows(rows)
        return 0
    if args.end_to_end:
        from suite.bench import endtoend

        records = endtoend.run(args.act, device=args.device, quick=args.quick)
        endtoend.print_records(records)
        key_of = endtoend.record_key
    else:
        from suite.bench.harness import record_key as key_of

        records = bench_run.run(args.act, device=args.device, dtype=args.dtype,
                                shape=bench_run.parse_shape(args.shape), impl=args.impl,
                                with_peers=args.peers, quick=args.quick,
                                progress=lambda what: err.print(f"timing {what}", markup=False, style="dim"))
        print_records(records)
    if not args.no_store:
        store = Store(args.store or default_root())
        prov = provenance()
        written = 0
        try:
            for record in records:
                store.write("bench", key_of(record), {**record, "provenance": prov})
                written += 1
        except SuiteError as exc:  # full or unwritable store: the measurements must survive
            raise SuiteError(f"{exc} {keep_elsewhere(records[written:], prov, key_of)}") from None
        print(f"{len(records)} records written under {store.root}/records/bench")
    return 0


def keep_elsewhere(records: list[dict], prov: dict, key_of) -> str:
    """Save measurements the store refused in a temp file (or print them); says where."""
    import json
    import sys
    import tempfile

    from suite.store import utc_now

    text = json.dumps([{"key": key_of(r), **r, "provenance": prov} for r in records], indent=1, default=str)
    try:
        fd, path = tempfile.mkstemp(prefix=f"suite-bench-{utc_now()}-", suffix=".json")
        with open(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return f"The {len(records)} unsaved measurement(s) are in {path}."
    except OSError:
        print(text, file=sys.stdout)
        return f"The {len(records)} unsaved measurement(s) are printed above as JSON."
