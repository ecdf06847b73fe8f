"""A GPT-2 language model in the nanoGPT style, with a swappable MLP activation.

Pre-norm transformer blocks: causal self-attention through
``F.scaled_dot_product_attention`` (its softmax is part of attention, never an
activation to swap), and an MLP whose activation is the one under test. ``mlp`` picks
the MLP's form:

* ``"standard"``: Linear(d, 4d) -> act -> Linear(4d, d), as in GPT-2.
* ``"glu"``: act(x W_gate) * (x W_up) -> W_down, hidden width 8d/3 (2/3 of 4d) so the
  three matrices hold as many parameters as the standard two (exactly for d = 768).
  The gate nonlinearity is the activation under test.
* ``"swiglu"`` / ``"geglu"``: "glu" with the gate fixed to SiLU / GELU (Shazeer 2020).

GPT-2 details kept: learned positional embeddings, LayerNorm, tied input/output
embeddings, N(0, 0.02) init with residual projections scaled by 1/sqrt(2 n_layer).
``forward(idx)`` takes token ids (B, T) and returns logits (B, T, vocab_size).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from suite.architectures import register_architecture
from suite.errors import SuiteError, bad_value

MLP_KINDS = ("standard", "glu", "swiglu", "geglu")
GATE_PRESETS = {"swiglu": "silu", "geglu": "gelu"}


@dataclass(frozen=True)
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304  # GPT-2's 50257 rounded up to a multiple of 64 (nanoGPT)
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True
    mlp: str = "standard"

    def __post_init__(self):
        if self.mlp not in MLP_KINDS:
            raise bad_value("mlp", self.mlp, f"one of {', '.join(MLP_KINDS)}")
        if self.n_embd % self.n_head:
            raise SuiteError(f"n_embd {self.n_embd} is not accepted; expected a multiple of n_head {self.n_head}.")


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.c_proj.residual = True  # marks a residual projection for the scaled init
        self.dropout = cfg.dropout
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        # (B, T, C) -> (B, heads, T, head_dim)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C)))


class MLP(nn.Module):
    """GPT-2's MLP: expand 4x, activation, project back."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.act = nn.GELU()  # placeholder: create() swaps it for the activation under test
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.c_proj.residual = True
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class GatedMLP(nn.Module):
    """act(x W_gate) * (x W_up), projected back; hidden width 8d/3 matches MLP's parameters."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        hidden = gated_hidden(cfg.n_embd)
        self.w_gate = nn.Linear(cfg.n_embd, hidden, bias=cfg.bias)
        self.w_up = nn.Linear(cfg.n_embd, hidden, bias=cfg.bias)
        self.act = nn.SiLU()  # placeholder: the gate nonlinearity, swapped by create()
        self.c_proj = nn.Linear(hidden, cfg.n_embd, bias=cfg.bias)
        self.c_proj.residual = True
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.w_gate(x)) * self.w_up(x)))


def gated_hidden(n_embd: int) -> int:
    """Hidden width of the gated MLP: 2/3 of 4d, so 3 d h ~ 2 d (4d)."""
    return (8 * n_embd) // 3


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg) if cfg.mlp == "standard" else GatedMLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying (GPT-2)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            std = 0.02 / math.sqrt(2 * self.config.n_layer) if getattr(module, "residual", False) else 0.02
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        if T > self.config.block_size:
            raise SuiteError(f"sequence length {T} is not accepted; expected at most block_size {self.config.block_size}.")
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


@contextlib.contextmanager
def _token_sample(model: GPT):
    """Eight tokens: enough for surgery's traced forward at any size."""
    yield (torch.zeros(1, min(8, model.config.block_size), dtype=torch.long, device=model.wte.weight.device),)


def _adjust_act(act: str, kw: dict) -> str:
    """mlp="swiglu"/"geglu" fix the gate: the default act becomes the preset's."""
    preset = GATE_PRESETS.get(kw.get("mlp", "standard"))
    if preset is None or act == preset:
        return act
    if act == "relu":  # create()'s default: the caller did not choose
        return preset
    raise SuiteError(
        f"act {act!r} is not accepted with mlp={kw['mlp']!r}, which fixes the gate to {preset}; "
        "use mlp='glu' to gate with another activation."
    )


SIZES = {
    # name: (n_layer, n_head, n_embd, block_size, vocab_size, scale, description)
    "gpt2": (12, 12, 768, 1024, 50304, "paper",
             "GPT-2 124M (nanoGPT style), block 1024, GPT-2 BPE vocabulary"),
    "gpt_tiny": (2, 2, 128, 128, 256, "embedded",
                 "2-layer GPT (d=128, 2 heads), block 128, byte-level vocabulary; CPU-sized"),
}
ALIASES = {"gpt2": ("gpt2_124m",), "gpt_tiny": ("gpt2_small_cpu",)}


def _register(name, n_layer, n_head, n_embd, block_size, vocab_size, scale, description):
    @register_architecture(
        name, task="lm", scale=scale, input_size=(block_size,), sample=_token_sample,
        aliases=ALIASES[name], description=description, adjust_act=_adjust_act,
    )
    def build(num_classes: int | None = None, **kw) -> GPT:
        if num_classes is not None:
            raise SuiteError(f"num_classes {num_classes!r} is not accepted for {name!r}; pass vocab_size.")
        params = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size,
                      vocab_size=vocab_size)
        params.update(kw)
        unknown = set(params) - set(GPTConfig.__dataclass_fields__)
        if unknown:
            raise bad_value(f"{name} option", sorted(unknown)[0], f"one of {', '.join(GPTConfig.__dataclass_fields__)}")
        return GPT(GPTConfig(**params))


for _name, _size in SIZES.items():
    _register(_name, *_size)
