"""Where each activation's definition comes from, and where it deliberately departs from it.

``SOURCES`` maps a registered name to (source, deviation): the source is the paper section
or the authors' file (repository, path, commit) that the reference implementation follows,
the deviation what this suite does differently on purpose ("" where nothing). They become
the registry metadata ``source=`` and ``deviation=`` (``attach``), which ``suite list
activations`` and the leaderboard show. A plugin passes ``source=``/``deviation=`` to
``register_activation`` itself; a registration's own values win over this table.

The tests (tests/test_paper_formulas.py) hold each reference and fused path to the
formula of its source, written out independently, and to torchortho where the authors'
code is pip-installable.
"""
from __future__ import annotations

_TORCH = "torch's F.{op}"
_TORCHORTHO = "authors' torchortho 0.1.2"
_ACON = "nmaac/acon acon.py @ 4d669b9 ({cls})"

SOURCES: dict[str, tuple[str, str]] = {
    "relu": (_TORCH.format(op="relu"), ""),
    "leaky_relu": (_TORCH.format(op="leaky_relu"), ""),
    "elu": (_TORCH.format(op="elu"), ""),
    "softplus": (_TORCH.format(op="softplus"), ""),
    "selu": (_TORCH.format(op="selu"), ""),
    "gelu": (_TORCH.format(op="gelu"), ""),
    "gelu_tanh": (_TORCH.format(op="gelu(approximate='tanh')"), ""),
    "silu": (_TORCH.format(op="silu"), ""),
    "mish": (_TORCH.format(op="mish"), ""),
    "hardswish": (_TORCH.format(op="hardswish"), ""),
    "relu2": ("Primer (arXiv 2109.08668): relu(x)^2", ""),
    "prelu": ("He et al. 2015 Eq. 1; torch.nn.PReLU", ""),
    "swish_beta": ("Ramachandran et al. 2017, x sigmoid(beta x)", ""),
    "acon_c": (_ACON.format(cls="AconC"), "p1 = 1, p2 = 0 at init (authors: randn)"),
    "meta_acon": (_ACON.format(cls="MetaAconC"), "p1 = 1, p2 = 0 at init (authors: randn)"),
    "sqish": ("a public re-implementation (paper not read)", "form unverified against the paper"),
    "apalu": ("a public re-implementation, with its init a = 0.55, b = 0.065 (paper Sec. 3 not read)",
              "form and init unverified against the paper"),
    "pau": ("version A and init of ml-research/pau pau/cuda/python_imp/Pade.py @ c122738",
            "version='B' (1 + |sum b_k x^k|) offered too"),
    "pwlu": ("Zhou et al. 2021 (arXiv 2104.03693) Sec. 3 (no authors' code)",
             "phase I lasts a fraction of training (default 5 %, the paper's 5 of 100 ImageNet epochs); "
             "DDP ranks pool their statistics; bounds unconstrained"),
    "pwlu_fixed": ("Zhou et al. 2021 (arXiv 2104.03693) Sec. 3 (no authors' code)",
                   "bounds frozen after realign (the paper learns them); a variant, not the paper's unit"),
    "hermite": (_TORCHORTHO, "init=name: exact projection (torchortho: an Adam fit)"),
    "fourier": (_TORCHORTHO, ""),
    "tropical": (_TORCHORTHO, ""),
    "tropical_rational": (_TORCHORTHO, "init scaled to E[y^2] = 1 (torchortho: randn); at a tie the "
                          "least slope wins (torchortho: first index)"),
    "bspline": ("KAN (arXiv 2404.19756) Sec. 2.2; Cox-de Boor as efficient-kan", "fixed grid, no grid update"),
}


def attach(registry) -> None:
    """Fill each entry's ``source``/``deviation`` info from ``SOURCES`` where its
    registration gave none; an entry with neither keeps source "" (shown as unknown)."""
    for entry in registry:
        source, deviation = SOURCES.get(entry.name, ("", ""))
        entry.info.setdefault("source", source)
        entry.info.setdefault("deviation", deviation)
