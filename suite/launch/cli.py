"""`python -m suite run`: expand a matrix, skip finished cells, run the rest.

    python -m suite run --matrix smoke                      # every pending cell, here
    python -m suite run --matrix smoke --act relu --act pwlu --task classification
    python -m suite run --matrix smoke --act hermite:degree=8    # parameters as in bench --act
    python -m suite run --matrix smoke --plugin my_act.py --act my_act --jobs 2
    python -m suite run --matrix smoke --dry-run            # the cells and their status
    python -m suite run --matrix paper-pwlu --executor slurm --profile gpu-cluster
"""
from __future__ import annotations

import argparse
import os

from rich.console import Console

from suite.errors import SuiteError


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds {text!r} are not accepted; expected integers like 0,1,2") from None
    if not seeds:
        raise argparse.ArgumentTypeError("--seeds needs at least one integer, e.g. 0,1,2")
    return seeds


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="run a matrix of trainings (locally or on SLURM)",
        description="Expand a matrix into cells and run the pending ones; finished cells are skipped.",
    )
    p.add_argument("--matrix", required=True, help="shipped matrix name (suite list matrices) or a .toml path")
    p.add_argument("--act", action="append", metavar="NAME[:k=v,...]",
                   help="only this activation (repeatable); parameters override the matrix's, "
                        "e.g. hermite:degree=8")
    p.add_argument("--arch", action="append", metavar="NAME", help="only this architecture (repeatable)")
    p.add_argument("--task", action="append", metavar="NAME", help="only this task: classification, lm, detection (repeatable)")
    p.add_argument("--seeds", type=_seeds, metavar="0,1,2", help="run these seeds instead of the matrix's")
    p.add_argument("--max-steps", type=int, default=None, metavar="N",
                   help="a trial: stop every cell after N optimizer steps (any recipe, epoch-based too); "
                        "recorded in the cell (recipe_overrides.max_steps), so a trial has its own id and "
                        "leaderboard column and never counts as the full recipe")
    p.add_argument("--dry-run", action="store_true", help="print the cells with their status and exit")
    p.add_argument("--executor", choices=("local", "slurm"), default="local")
    p.add_argument("--profile", default="local", help="SLURM cluster profile: name in slurm/profiles/ or a .toml path")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="local executor: cells at once, each with its resources.cpus torch threads; default: "
                        "as many as the CPU cores hold on a machine without a GPU, else 1")
    p.add_argument("--wait", action="store_true", help="slurm executor: wait until every submitted cell has a record")
    p.add_argument("--retry-failed", action="store_true", help="rerun cells whose last attempt failed")
    p.add_argument("--store", default=None, help="result store folder (default $SUITE_STORE or ./store)")
    p.add_argument("--data-root", default=None, help="folder holding ImageNet, COCO, OpenWebText")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda if available")
    p.set_defaults(func=run)


def run(args) -> int:
    from suite.launch import preflight
    from suite.launch.plan import Plan, print_dry_run
    from suite.matrix import expand, load_matrix
    from suite.store import Store, default_root

    if args.jobs is not None and args.jobs < 1:
        raise SuiteError(f"--jobs {args.jobs} is not accepted; expected a positive number of cells at once.")
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped: keep each cell on one line
    matrix = load_matrix(args.matrix)
    cells = expand(matrix, activations=args.act, archs=args.arch, tasks=args.task, seeds=args.seeds)
    if args.max_steps is not None:
        from suite.launch.trial import cap_steps

        cells = cap_steps(cells, args.max_steps)
    store = Store(args.store or default_root())
    plan = Plan(cells, store.status_of(c.id for c in cells), retry_failed=args.retry_failed)
    warnings = preflight.unreadable_records(store, plan.to_run)
    missing = preflight.data_problems(plan.to_run, args.data_root)
    if args.dry_run:
        granted = None
        if args.executor == "slurm":
            from suite.launch.profile import load_profile

            granted = preflight.slurm_resources(plan.cells, load_profile(args.profile)[1])
        print_dry_run(plan, matrix.name, console, data_problems=missing, resources=granted)
        for line in warnings:
            console.print(line, markup=False, highlight=False)
        return 0
    for line in plan.notices():
        console.print(line)
    for line in warnings:
        console.print(line, markup=False, highlight=False, style="yellow")
    if not plan.to_run:
        console.print(f"nothing to run: all {len(cells)} cells of {matrix.name} are finished or skipped.")
        return 0
    data_root = os.path.abspath(args.data_root) if args.data_root else None
    # Faults every cell would hit: one error now instead of one failed record per cell.
    if args.executor == "local":
        preflight.check_device(args.device)
    preflight.check_data(plan.to_run, data_root)
    if args.jobs is None:
        args.jobs = default_jobs(plan.to_run, args.device)
    if args.executor == "slurm":
        return _run_slurm(args, plan, matrix.name, store, data_root, console)
    from suite.launch.local import run_local

    console.print(f"running {len(plan.to_run)} of {len(cells)} cells of {matrix.name} "
                  f"locally, {args.jobs} at a time; store: {store.root}")
    try:
        result = run_local(plan.to_run, store, jobs=args.jobs, data_root=data_root, device=args.device,
                           retry_failed=args.retry_failed, console=console)
    except KeyboardInterrupt:  # a second Ctrl-C while a cell ran in this process
        console.print("interrupted: the running cell stopped without saving; run the same command again "
                      "to resume from its last checkpoint.")
        return 130
    counts = {s: result.count(s) for s in ("done", "diverged", "failed", "skipped", "stopped")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n or s in ("done", "failed"))
    if result.interrupted_by:
        console.print(f"interrupted by {result.interrupted_by}: {summary}, {result.not_started} not started; "
                      "run the same command again to resume (stopped cells continue from their checkpoint).")
        return 143 if result.interrupted_by == "SIGTERM" else 130
    console.print(summary)
    return 1 if counts["failed"] else 0


def default_jobs(cells, device: str | None) -> int:
    """One cell at a time on a GPU; on a CPU as many as fit, each with its ``resources.cpus``
    threads (small cells scale better across processes than threads)."""
    import torch

    from suite.launch.local import cell_threads, cores

    if device == "cuda" or (device is None and torch.cuda.is_available()):
        return 1
    return max(1, cores() // max(cell_threads(c) for c in cells))


def _run_slurm(args, plan, matrix_name, store, data_root, console) -> int:
    from suite.launch.profile import load_profile
    from suite.launch.slurm import submit, wait
    from suite.store import utc_now

    profile_name, profile = load_profile(args.profile)
    since = utc_now()
    jobs, held = submit(plan.to_run, store, profile, matrix_name=matrix_name,
                        data_root=data_root, device=args.device)
    for cell in held:
        console.print(f"{cell.label}: skipped (claimed by another launch)")
    arrays = sorted({job.job_id.split("_")[0] for _, job in jobs})
    console.print(f"submitted {len(jobs)} cells of {matrix_name} to SLURM (profile {profile_name}) "
                  f"as job array(s) {', '.join(arrays) or '-'}; logs: {store.root / 'slurm-logs'}")
    if not args.wait:
        return 0
    statuses = wait(jobs, store, since=since, console=console)
    bad = [s for s in statuses.values() if s in ("failed", "lost")]
    return 1 if bad else 0
