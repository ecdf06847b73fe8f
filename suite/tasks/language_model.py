"""Language modelling on token memmaps: next-token cross-entropy, validation loss, perplexity.

Training windows are drawn like nanoGPT's ``get_batch`` (random offsets), but each batch's
offsets come from a generator seeded by (seed, epoch, batch index, rank), so a resumed run
draws exactly the windows the uninterrupted one drew. Validation uses the same fixed
windows for every cell, so losses are comparable across activations.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from suite.tasks.loop import DistEnv, all_reduce_sum, derived_seed


def _logits(output) -> torch.Tensor:
    if isinstance(output, dict):
        return output["logits"]
    if isinstance(output, (tuple, list)):
        return output[0]
    return output


class LanguageModelTask:
    metric_names = ("val_loss", "perplexity")

    def __init__(self, data, recipe, seed: int, device: torch.device, dist_env: DistEnv):
        self.data, self.recipe, self.seed, self.device, self.dist = data, recipe, seed, device, dist_env
        self.block = recipe.block_size
        self.per_rank = recipe.batch_size // dist_env.world_size
        tokens_per_step = recipe.batch_size * self.block
        self.steps_per_epoch = max(1, len(data.train) // tokens_per_step)
        for split in ("train", "val"):
            if len(getattr(data, split)) <= self.block + 1:
                from suite.errors import SuiteError

                raise SuiteError(f"block size {self.block} is not accepted for a {split} split of "
                                 f"{len(getattr(data, split))} tokens; expected a smaller block size.")

    def _windows(self, tokens: np.ndarray, offsets: torch.Tensor):
        idx = offsets.numpy()[:, None] + np.arange(self.block + 1)[None, :]
        chunk = torch.from_numpy(tokens[idx].astype(np.int64))
        x, y = chunk[:, :-1], chunk[:, 1:]
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def _offsets(self, tokens, count: int, *seed_parts) -> torch.Tensor:
        g = torch.Generator().manual_seed(derived_seed(*seed_parts))
        return torch.randint(len(tokens) - self.block - 1, (count,), generator=g)

    def iterate(self, epoch: int, start: int):
        for b in range(start, self.steps_per_epoch):
            offsets = self._offsets(self.data.train, self.per_rank, self.seed, "lm-train", epoch, b, self.dist.rank)
            yield self._windows(self.data.train, offsets)

    def split(self, batch, parts: int):
        x, y = batch
        return list(zip(x.chunk(parts), y.chunk(parts)))

    def num_samples(self, batch) -> int:
        return int(batch[0].shape[0])

    def _loss(self, model, x, y, reduction="mean"):
        logits = _logits(model(x)).float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction=reduction)

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        return self._loss(model, *batch)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        model.eval()
        size = self.recipe.eval_batch_size or self.per_rank
        total = count = 0.0
        for i in range(self.recipe.eval_batches):
            if i % self.dist.world_size != self.dist.rank:
                continue
            offsets = self._offsets(self.data.val, size, "lm-eval", self.block, i)  # the same for every cell
            x, y = self._windows(self.data.val, offsets)
            total += float(self._loss(model, x, y, reduction="sum"))
            count += y.numel()
        total, count = all_reduce_sum([total, count], self.dist, self.device)
        val_loss = total / count
        return {"val_loss": val_loss, "perplexity": math.exp(min(val_loss, 700.0))}


def build(cell, recipe, data_root, device, dist_env):
    from suite.data import load
    from suite.tasks.models import create_model

    data = load(cell.dataset, data_root, **recipe.data_options)
    # nanoGPT pads GPT-2's 50257 to 50304 (a multiple of 64) for faster matmuls; extra logits never win.
    vocab = -(-data.vocab_size // 64) * 64
    model = create_model(cell, recipe, vocab_size=vocab, block_size=recipe.block_size)
    return LanguageModelTask(data, recipe, cell.seed, device, dist_env), model
