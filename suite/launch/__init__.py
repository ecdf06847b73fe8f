"""Executors: run a matrix's cells locally (``local``) or on SLURM through submitit (``slurm``).

Both skip finished cells, claim each cell so concurrent launches never run one twice,
run it in ``store.workdir(cell.id)`` (so a rerun resumes from its checkpoint) and append
one record per attempt to the store. ``cli.add_parser`` registers ``python -m suite run``.
"""
