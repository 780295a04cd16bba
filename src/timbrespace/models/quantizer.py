"""Vector quantization: a codebook bottleneck with EMA updates, k-means initialisation and
dead-code restarts (van den Oord et al. 2017, "Neural Discrete Representation Learning"; the
EMA form of its appendix; restarts and k-means start as in RAVE's discrete config and Jukebox).

A row `h` (one latent frame) is replaced by its nearest code; the encoder gets the straight-
through gradient and a commitment term `beta · ‖h − sg(code)‖²`; the codes are not trained by
gradient but move to the running mean of the rows assigned to them (decay `ema_decay`). Codes
that fall out of use (EMA count below `dead_ratio` of a uniform share) restart on a random row of
the batch, the answer to codebook collapse (vector-quantize-pytorch #66). Usage and perplexity
of every training batch are logged (#63). Under DDP the EMA statistics are summed over ranks and
restarts / the k-means start are taken from rank 0, so every rank keeps the same codebook.
"""

from __future__ import annotations

from typing import Protocol, cast

import torch
from torch import distributed as dist

from timbrespace.models.base import LatentModel, require_codebook
from timbrespace.models.bottleneck import Bottleneck, BottleneckOutput, register_bottleneck


def kmeans(rows: torch.Tensor, k: int, iterations: int = 10, seed: int = 0) -> torch.Tensor:
    """`k` centroids `[k, dim]` of `rows` `[n, dim]`: k-means++ seeding (Arthur & Vassilvitskii
    2007), then Lloyd's algorithm; with n < k the rows are drawn again with a little noise. An
    empty cluster keeps its previous centroid."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    n = rows.shape[0]
    if n < k:
        spread = rows.std(dim=0, keepdim=True).clamp(min=1e-3) if n > 1 else 1e-3
        pick = torch.randint(n, (k,), generator=generator).to(rows.device)
        noise = torch.randn((k, rows.shape[1]), generator=generator).to(rows)
        return rows[pick] + 0.1 * spread * noise
    chosen = [int(torch.randint(n, (1,), generator=generator))]
    nearest = (rows - rows[chosen[0]]).square().sum(dim=1)
    for _ in range(1, k):
        weights = nearest.double().cpu()
        index = (
            int(torch.multinomial(weights, 1, generator=generator))
            if float(weights.sum()) > 0
            else int(torch.randint(n, (1,), generator=generator))
        )
        chosen.append(index)
        nearest = torch.minimum(nearest, (rows - rows[index]).square().sum(dim=1))
    centroids = rows[torch.tensor(chosen, device=rows.device)].clone()
    for _ in range(iterations):
        assign = torch.cdist(rows, centroids).argmin(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assign, rows)
        counts = torch.bincount(assign, minlength=k).to(rows.dtype)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
    return centroids


def perplexity(counts: torch.Tensor) -> torch.Tensor:
    """exp(entropy) of the code distribution given by `counts` `[K]`: K when uniform, 1 when
    one code takes everything."""
    total = counts.sum().clamp(min=1e-12)
    p = counts / total
    return torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum())


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class VectorQuantizer(Bottleneck):
    """Codebook bottleneck on rows of `h` `[batch, latent_dim, frames]`; see the module doc.

    `codebook_size` codes of `latent_dim`; `beta`: commitment weight; `ema_decay`: decay of the
    running counts and sums; `dead_ratio`: a code restarts when its running count falls below
    this fraction of the uniform share (rows per batch / codebook_size); `kmeans_iters`: Lloyd
    iterations of the start on the first training batch (0: random rows)."""

    input_multiplier = 1

    def __init__(
        self,
        latent_dim: int = 8,
        codebook_size: int = 512,
        beta: float = 0.25,
        ema_decay: float = 0.99,
        dead_ratio: float = 0.05,
        kmeans_iters: int = 10,
    ) -> None:
        super().__init__(latent_dim=latent_dim)
        self.codebook_size = codebook_size
        self.beta = beta
        self.ema_decay = ema_decay
        self.dead_ratio = dead_ratio
        self.kmeans_iters = kmeans_iters
        self.register_buffer("codebook", torch.randn(codebook_size, latent_dim))
        self.register_buffer("ema_count", torch.ones(codebook_size))
        self.register_buffer("ema_sum", self.codebook.clone())
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        self.register_buffer("restarts", torch.zeros((), dtype=torch.long))

    codebook: torch.Tensor
    ema_count: torch.Tensor
    ema_sum: torch.Tensor
    initialised: torch.Tensor
    restarts: torch.Tensor

    def nearest(self, rows: torch.Tensor) -> torch.Tensor:
        """Index `[n]` of the code nearest each row `[n, latent_dim]` (Euclidean)."""
        codebook = self.codebook.to(rows.dtype)
        distance = (
            rows.square().sum(dim=1, keepdim=True)
            - 2 * rows @ codebook.T
            + codebook.square().sum(dim=1)[None]
        )
        return distance.argmin(dim=1)

    def indices(self, h: torch.Tensor) -> torch.Tensor:
        """Codes `[batch, frames]` (int64) of a latent path `[batch, latent_dim, frames]`."""
        rows = h.transpose(1, 2).reshape(-1, self.latent_dim)
        return self.nearest(rows).reshape(h.shape[0], h.shape[2])

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes `[batch, frames]` → their vectors as a latent path `[batch, latent_dim,
        frames]`."""
        return self.codebook[codes].transpose(1, 2)

    def mean(self, h: torch.Tensor) -> torch.Tensor:
        return self.lookup(self.indices(h))

    def forward(self, h: torch.Tensor) -> BottleneckOutput:
        rows = h.transpose(1, 2).reshape(-1, self.latent_dim)
        if self.training:
            self._start(rows.detach().float())
        codes = self.nearest(rows.detach())
        quantized = self.codebook[codes].to(rows.dtype)
        commitment = self.beta * (rows - quantized.detach()).square().sum(dim=1).mean()
        counts = torch.bincount(codes, minlength=self.codebook_size).to(rows.dtype)
        logs = {
            "perplexity": perplexity(counts.detach()),
            "usage": (counts > 0).float().mean(),
        }
        if self.training:
            self._update(rows.detach().float(), codes)
            logs["restarts"] = self.restarts.float()
        z_rows = quantized + (rows - rows.detach())  # the code itself, the gradient of the rows
        z = z_rows.reshape(h.shape[0], h.shape[2], self.latent_dim).transpose(1, 2)
        return BottleneckOutput(z=z, regularization=commitment, logs=logs)

    @torch.no_grad()
    def _start(self, rows: torch.Tensor) -> None:
        """The k-means start on the first training batch (rank 0's under DDP)."""
        if bool(self.initialised):
            return
        centroids = kmeans(rows, self.codebook_size, self.kmeans_iters)
        self.codebook.copy_(centroids)
        self.ema_sum.copy_(centroids)
        self.ema_count.fill_(1.0)
        self.initialised.fill_(True)
        self._from_rank_zero()

    @torch.no_grad()
    def _update(self, rows: torch.Tensor, codes: torch.Tensor) -> None:
        """EMA step of counts and sums, then the restart of dead codes."""
        counts = torch.bincount(codes, minlength=self.codebook_size).float()
        sums = torch.zeros_like(self.ema_sum).index_add_(0, codes, rows)
        row_count = torch.tensor(float(rows.shape[0]), device=rows.device)
        if _distributed():
            for tensor in (counts, sums, row_count):
                dist.all_reduce(tensor)
        decay = self.ema_decay
        self.ema_count.mul_(decay).add_(counts, alpha=1 - decay)
        self.ema_sum.mul_(decay).add_(sums, alpha=1 - decay)
        self.codebook.copy_(self.ema_sum / self.ema_count.clamp(min=1e-5)[:, None])
        share = float(row_count) / self.codebook_size
        dead = self.ema_count < self.dead_ratio * share
        n_dead = int(dead.sum())
        if n_dead:
            pick = torch.randint(rows.shape[0], (n_dead,), device=rows.device)
            fresh = rows[pick]
            self.codebook[dead] = fresh
            self.ema_sum[dead] = fresh * share
            self.ema_count[dead] = share
            self.restarts.add_(n_dead)
            self._from_rank_zero()

    def _from_rank_zero(self) -> None:
        if _distributed():
            for tensor in (self.codebook, self.ema_sum, self.ema_count, self.restarts):
                dist.broadcast(tensor, 0)


def usage_counts(codes: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """How often each code occurs in `codes` (any shape, int64): `[codebook_size]` int64."""
    return torch.bincount(codes.reshape(-1), minlength=codebook_size)


class CodebookModel(LatentModel, Protocol):
    """What a codebook family adds (`codebook = True`)."""

    @property
    def codebook_size(self) -> int: ...

    def code_vectors(self) -> torch.Tensor:
        """The codebook `[codebook_size, latent_dim]`."""
        ...

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """Nearest codes `[batch, frames]` of a latent path `[batch, latent_dim, frames]`."""
        ...

    def levels(self, z: torch.Tensor) -> torch.Tensor | None:
        """Each frame's level `[batch, frames]` of a gain-shape model, else None."""
        ...

    def pitches(self, z: torch.Tensor) -> torch.Tensor | None:
        """Each frame's pitch `[batch, frames]` (octaves re A4) of a pitch-shape model, else
        None."""
        ...

    def code_path(
        self,
        codes: torch.Tensor,
        levels: torch.Tensor | None = None,
        pitches: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Codes `[batch, frames]` (+ levels of a gain-shape model, + pitches of a pitch-shape
        model) → latent path `[batch, latent_dim, frames]`."""
        ...


def as_codebook_model(model: LatentModel, what: str) -> CodebookModel:
    """`model` as a `CodebookModel`, or `CapabilityError` naming `what` was refused."""
    require_codebook(model, what)
    return cast(CodebookModel, model)


register_bottleneck("vq", VectorQuantizer)
