"""Training loop shared by every model: loss, modality dropout, early stopping on validation Jaccard."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from .metrics import mean_jaccard
from .models.base import MedRecModel, ModelConfig
from .tasks import VocabSizes
from .tasks import Batch, EncodedSamples

THRESHOLD_GRID = tuple(round(0.05 * step, 2) for step in range(1, 20))  # 0.05 ... 0.95


@dataclass
class FitResult:
    model: MedRecModel
    epochs_run: int
    best_epoch: int  # 1-based epoch whose weights were kept (0 for models fitted without gradients)
    validation_jaccard: float | None
    threshold: float
    train_seconds: float  # wall clock
    cpu_seconds: float  # this process's CPU time: what the wall time would be on an idle core (one thread)
    history: list[dict[str, float]] = field(default_factory=list)


def margin_targets(targets: torch.Tensor) -> torch.Tensor:
    """multilabel_margin_loss targets: each row's positive columns first, then -1."""
    order = torch.argsort(-targets, dim=1, stable=True)
    return torch.where(torch.gather(targets, 1, order) > 0, order, torch.full_like(order, -1))


def training_loss(model: MedRecModel, batch: Batch, logits: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """bce_weight * BCE + margin_weight * multi-label margin (on probabilities, as in GAMENet/SafeDrug) + extra."""
    loss = config.bce_weight * F.binary_cross_entropy_with_logits(logits, batch.targets)
    if config.margin_weight:
        loss = loss + config.margin_weight * F.multilabel_margin_loss(torch.sigmoid(logits), margin_targets(batch.targets))
    extra = model.extra_loss(batch, logits)
    return loss if extra is None else loss + extra


def modality_dropout_mask(batch_size: int, modality_count: int, rate: float, generator: torch.Generator) -> torch.Tensor:
    """1 = present; each modality of each sample is masked with probability `rate`."""
    if rate <= 0:
        return torch.ones(batch_size, modality_count)
    return (torch.rand(batch_size, modality_count, generator=generator) >= rate).float()


@torch.no_grad()
def predict(model: MedRecModel, samples: EncodedSamples, batch_size: int = 256, modality_mask: torch.Tensor | None = None) -> np.ndarray:
    """Probabilities [N, D] with every modality present (or the given [M] mask for every sample)."""
    model.eval()
    outputs = []
    for batch in samples.batches(batch_size, len(model.modalities())):
        if modality_mask is not None:
            batch.modality_mask = modality_mask.expand(batch.modality_mask.shape[0], -1).clone()
        outputs.append(model(*batch.inputs()).numpy())
    if not outputs:
        return np.zeros((0, model.vocab_sizes.medication), dtype=np.float32)
    return np.concatenate(outputs)


def choose_threshold(samples: EncodedSamples, probabilities: np.ndarray) -> tuple[float, float]:
    """The grid threshold with the best Jaccard on these (validation) samples, and that Jaccard."""
    best = (0.5, -1.0)
    for threshold in THRESHOLD_GRID:
        jaccard = mean_jaccard(samples.targets, probabilities, samples.patient_ids, threshold)
        if jaccard > best[1] + 1e-12:
            best = (threshold, jaccard)
    return best


def train_model(
    model_class: type[MedRecModel],
    vocab_sizes: VocabSizes,
    knowledge: Any | None,
    config: ModelConfig,
    train: EncodedSamples,
    validation: EncodedSamples | None = None,
    fixed_epochs: int | None = None,
    fixed_threshold: float | None = None,
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """Fit one model.

    With `validation`: early stopping on validation Jaccard (at the best grid threshold), the kept
    epoch's weights, and the threshold chosen on validation. Without: exactly `fixed_epochs` epochs
    and `fixed_threshold` (used to retrain the shipped model on all folds).
    """
    if len(train) == 0:
        raise ValueError("No training visit has a medication target: nothing to learn from.")
    config = config.with_overrides(**model_class.config_overrides)
    if "learning_rate_scale" in config.options:  # a search's step relative to the model's own learning rate
        config = config.with_overrides(learning_rate=config.learning_rate * float(config.options["learning_rate_scale"]))
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = model_class(vocab_sizes, knowledge, config)
    started, cpu_started = time.perf_counter(), time.process_time()
    model.prepare(train)

    if not model_class.gradient_trained:
        model.fit_directly(train)
        threshold, validation_jaccard = (
            choose_threshold(validation, predict(model, validation)) if validation is not None and len(validation) else (fixed_threshold or 0.5, None)
        )
        return FitResult(
            model, 0, 0, validation_jaccard, threshold, time.perf_counter() - started, time.process_time() - cpu_started
        )

    max_epochs = fixed_epochs if fixed_epochs is not None else config.max_epochs
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    modality_count = len(model.modalities())
    best_state, best_epoch, best_jaccard, best_threshold = None, 0, -1.0, fixed_threshold or 0.5
    history: list[dict[str, float]] = []
    epochs_run = 0
    for epoch in range(1, max_epochs + 1):
        epochs_run = epoch
        model.train()
        losses = []
        for batch in train.batches(config.batch_size, modality_count, rng):
            batch.modality_mask = modality_dropout_mask(len(batch.targets), modality_count, config.modality_dropout, generator)
            logits = model.compute_logits(*batch.inputs())
            loss = training_loss(model, batch, logits, config)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        record = {"epoch": float(epoch), "loss": float(np.mean(losses))}
        if validation is not None and len(validation):
            threshold, jaccard = choose_threshold(validation, predict(model, validation))
            record.update(validation_jaccard=jaccard, threshold=threshold)
            if jaccard > best_jaccard + 1e-6:
                best_state = copy.deepcopy(model.state_dict())
                best_epoch, best_jaccard, best_threshold = epoch, jaccard, threshold
            elif epoch - best_epoch >= config.patience:
                history.append(record)
                break
        history.append(record)
        if log:
            log(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = epochs_run
    model.eval()
    return FitResult(
        model,
        epochs_run,
        best_epoch,
        best_jaccard if best_state is not None else None,
        best_threshold,
        time.perf_counter() - started,
        time.process_time() - cpu_started,
        history,
    )
