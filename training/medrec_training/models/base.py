"""The common base of every medication recommendation model.

Every model has the ONNX signature of models/manifest.schema.json:

    forward(diagnoses, procedures, medications, visit_mask, modality_mask) -> probabilities [B, D]

    diagnoses     int64   [B, V, Cd]  index 0 = padding, 1 = unknown code, vocabulary entry i = i + 2
    procedures    int64   [B, V, Cp]
    medications   int64   [B, V, Cm]  medications given at each visit; the current (last real) visit's
                                      row is all padding, so a model never sees the answer
    visit_mask    float32 [B, V]      1 = real visit; visits are left-aligned, the last real one is current
    modality_mask float32 [B, M]      1 = present, 0 = replaced by the learned "absent" value;
                                      columns follow `modalities()` (patient side first, then drug side)

A subclass implements `compute_logits` (same arguments, returns logits [B, D]); `forward` applies the
sigmoid so the exported graph outputs probabilities while training uses numerically stable logits.
A masked modality is replaced by a learned vector (`register_absent` + `apply_modality`); the trainer
drops modalities at random (config.modality_dropout) so those vectors learn what "absent" means and
the app can attribute a recommendation to modalities with exact Shapley values.

Adding a model = one file defining a subclass + one line in `models/__init__.py`'s MODEL_REGISTRY.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import nn

from ..tasks import INDEX_OFFSET, PAD_INDEX, UNKNOWN_INDEX, VocabSizes  # noqa: F401 (the models' encoding, defined by the task)

if TYPE_CHECKING:  # only for type hints
    from ..tasks import Batch, EncodedSamples


ModalitySide = Literal["patient", "drug"]


@dataclass(frozen=True)
class Modality:
    id: str  # manifest pattern ^[a-z][a-z0-9-]*$
    label: str
    side: ModalitySide


DIAGNOSES = Modality("diagnoses", "Diagnoses", "patient")
PROCEDURES = Modality("procedures", "Procedures", "patient")
MEDICATION_HISTORY = Modality("medication-history", "Medication history", "patient")
PATIENT_MODALITIES: tuple[Modality, ...] = (DIAGNOSES, PROCEDURES, MEDICATION_HISTORY)


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters shared by the trainer and the models; model-specific ones go in `options`."""

    embedding_dim: int = 64
    hidden_dim: int = 64
    dropout: float = 0.3
    learning_rate: float = 2e-3
    weight_decay: float = 1e-5
    batch_size: int = 64
    max_epochs: int = 25
    patience: int = 4  # epochs without a better validation Jaccard before stopping
    modality_dropout: float = 0.15  # probability of masking each modality of a training sample
    bce_weight: float = 0.95
    margin_weight: float = 0.05
    seed: int = 42
    options: dict[str, Any] = field(default_factory=dict)

    def with_overrides(self, **overrides: Any) -> "ModelConfig":
        """A copy with the given fields replaced; unknown names go into `options`."""
        known = {k: v for k, v in overrides.items() if k in self.__dataclass_fields__}
        extra = {k: v for k, v in overrides.items() if k not in self.__dataclass_fields__}
        return replace(self, **known, options={**self.options, **extra})


@dataclass(frozen=True)
class Paper:
    title: str
    reference: str | None = None


class MedRecModel(nn.Module):
    """Base class: see the module docstring for the tensor contract."""

    # --- class metadata read by the registry, the harness and the export ---
    family: ClassVar[str]  # one of the manifest's family enum values
    display_name: ClassVar[str]
    paper: ClassVar[Paper]
    drug_modalities: ClassVar[tuple[Modality, ...]] = ()
    requires_knowledge: ClassVar[bool] = False  # True: the harness refuses to build it without drug knowledge
    gradient_trained: ClassVar[bool] = True  # False: fitted by `fit_directly` instead of the training loop
    config_overrides: ClassVar[dict[str, Any]] = {}  # applied on top of the harness's ModelConfig
    # How this implementation departs from or fills in its paper, printed once per family under the benchmark table.
    benchmark_note: ClassVar[str | None] = None

    def __init__(self, vocab_sizes: VocabSizes, knowledge: Any | None, config: ModelConfig) -> None:
        super().__init__()
        if self.requires_knowledge and knowledge is None:
            raise ValueError(f"{self.display_name} needs the drug knowledge base (molecules, DDI); none was given.")
        # Drug-knowledge rows are indexed like the medication vocabulary; a mismatch would misalign every drug.
        if self.requires_knowledge and len(knowledge.atc3_vocab) != vocab_sizes.medication:
            raise ValueError(
                f"{self.display_name}: the knowledge has {len(knowledge.atc3_vocab)} drugs, the vocabulary {vocab_sizes.medication}"
            )
        self.vocab_sizes = vocab_sizes
        self.knowledge = knowledge
        self.config = config
        self.absent = nn.ParameterDict()

    # --- modalities ---
    @classmethod
    def modalities(cls) -> tuple[Modality, ...]:
        return PATIENT_MODALITIES + cls.drug_modalities

    @classmethod
    def modality_index(cls, modality_id: str) -> int:
        ids = [m.id for m in cls.modalities()]
        if modality_id not in ids:
            raise KeyError(f"{cls.__name__} has no modality {modality_id!r} (has {ids}).")
        return ids.index(modality_id)

    def register_absent(self, modality_id: str, shape: tuple[int, ...] | int) -> None:
        """Declare the learned 'absent' value of a modality (shape of one sample's representation)."""
        self.modality_index(modality_id)  # fail early on a typo
        shape = (shape,) if isinstance(shape, int) else shape
        self.absent[modality_id] = nn.Parameter(torch.zeros(*shape))

    def apply_modality(self, modality_id: str, present: torch.Tensor, modality_mask: torch.Tensor) -> torch.Tensor:
        """`present` where the sample's modality is on, the learned absent value where it is off.

        present: [B, ..., *absent_shape]; the absent value broadcasts over the middle dimensions
        (e.g. one absent vector for every visit of a per-visit representation [B, V, H]).
        """
        column = modality_mask[:, self.modality_index(modality_id)]
        on = column.reshape(column.shape[0], *([1] * (present.dim() - 1)))
        return on * present + (1.0 - on) * self.absent[modality_id]

    # --- computation ---
    def compute_logits(
        self,
        diagnoses: torch.Tensor,
        procedures: torch.Tensor,
        medications: torch.Tensor,
        visit_mask: torch.Tensor,
        modality_mask: torch.Tensor,
    ) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self,
        diagnoses: torch.Tensor,
        procedures: torch.Tensor,
        medications: torch.Tensor,
        visit_mask: torch.Tensor,
        modality_mask: torch.Tensor,
    ) -> torch.Tensor:
        return torch.sigmoid(self.compute_logits(diagnoses, procedures, medications, visit_mask, modality_mask))

    def extra_loss(self, batch: "Batch", logits: torch.Tensor) -> torch.Tensor | None:
        """Optional term added to the training loss (e.g. SafeDrug's DDI penalty). None = nothing."""
        return None

    def prepare(self, train: "EncodedSamples") -> None:
        """Data-dependent setup before training, from the training samples only (e.g. GAMENet's EHR graph).

        Called once by the trainer on the fold's training samples, before `fit_directly` or the first epoch.
        """

    def fit_directly(self, train: "EncodedSamples") -> None:
        """Fit without gradients (only for models with gradient_trained = False)."""
        raise NotImplementedError(f"{type(self).__name__} is trained by gradient descent.")

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters()) + sum(b.numel() for b in self.buffers())


# --- helpers several models share ---


def current_visit_index(visit_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real visit of each sample [B] (visits are left-aligned)."""
    return (visit_mask.sum(dim=1).long() - 1).clamp(min=0)


def select_visit(per_visit: torch.Tensor, visit_mask: torch.Tensor) -> torch.Tensor:
    """The current visit's row of a per-visit tensor [B, V, ...] -> [B, ...]."""
    index = current_visit_index(visit_mask)
    gather_index = index.reshape(-1, 1, *([1] * (per_visit.dim() - 2))).expand(-1, 1, *per_visit.shape[2:])
    return per_visit.gather(1, gather_index).squeeze(1)


def trim_padding(
    diagnoses: torch.Tensor, procedures: torch.Tensor, medications: torch.Tensor, visit_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The inputs without the trailing slots that are padding in every sample of the batch.

    Visit slots after the batch's last real visit and code slots after the batch's last code of each kind.
    Exact for a model whose output reads visits only up to the current one (index <= the last real visit:
    recurrent or attention over earlier visits) and to which a padding code adds nothing (a zero
    padding_idx embedding row, a masked attention key, a multi-hot's zeroed pad column). A batch is mostly
    padding (the demo's mean sample has 1.3 visits of 8 slots), so inference graphs run on ~what is there.
    The slice bounds are tensors, so the ONNX export keeps them dynamic (computed per run).
    """

    def used(present: torch.Tensor) -> torch.Tensor:  # 1 + the last slot present anywhere (at least 1 slot)
        positions = torch.arange(1, present.shape[-1] + 1, device=present.device)
        return (present.long() * positions).amax().clamp(min=1)

    visits = used(visit_mask > 0)
    return (
        diagnoses[:, :visits, : used(diagnoses != PAD_INDEX)],
        procedures[:, :visits, : used(procedures != PAD_INDEX)],
        medications[:, :visits, : used(medications != PAD_INDEX)],
        visit_mask[:, :visits],
    )


def sum_code_embeddings(embedding: nn.Embedding, codes: torch.Tensor) -> torch.Tensor:
    """Sum of the embeddings of a visit's codes [B, V, C] -> [B, V, E]; padding (index 0) adds nothing."""
    vectors = embedding(codes)
    present = (codes != PAD_INDEX).unsqueeze(-1).to(vectors.dtype)
    return (vectors * present).sum(dim=2)


def multi_hot(codes: torch.Tensor, rows: int) -> torch.Tensor:
    """Multi-hot [..., rows] of code indices [..., C] (padding and repeats count once; column 0 = pad is zeroed)."""
    hot = torch.zeros(*codes.shape[:-1], rows, dtype=torch.float32, device=codes.device)
    hot = hot.scatter(-1, codes, 1.0)
    keep = torch.ones(rows, dtype=torch.float32, device=codes.device)
    keep[PAD_INDEX] = 0.0
    return hot * keep
