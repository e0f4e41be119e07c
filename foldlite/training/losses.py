"""Training losses: cross-entropy of every head against the targets of foldlite.data.chains."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import TrainConfig
from ..data.chains import IGNORE_INDEX


def compute_losses(output, batch, config: TrainConfig) -> dict[str, torch.Tensor]:
    """Cross-entropies of every head (ignored targets excluded) and their weighted sum."""
    distogram_ce = F.cross_entropy(output.distogram.permute(0, 3, 1, 2), batch["distogram"],
                                   ignore_index=IGNORE_INDEX)
    ss3_ce = F.cross_entropy(output.ss3.transpose(1, 2), batch["ss3"], ignore_index=IGNORE_INDEX)
    torsion_ce = sum(F.cross_entropy(getattr(output, k).transpose(1, 2), batch[k], ignore_index=IGNORE_INDEX)
                     for k in ("phi", "psi", "ca_torsion")) / 3
    total = distogram_ce + config.ss_loss_weight * ss3_ce + config.torsion_loss_weight * torsion_ce
    return {"loss": total, "distogram_ce": distogram_ce, "ss3_ce": ss3_ce, "torsion_ce": torsion_ce}
