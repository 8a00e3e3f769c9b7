"""MKMed: multi-knowledge alignment for medication recommendation (Li et al., arXiv 2504.18096),
written from the paper on the MedRecModel contract (the published code does not run as released).

Drug side
  * A GIN pre-trained by cross-modal contrastive alignment against five knowledge modalities, each
    separately over the molecules that have it (medrec_training.pretrain: text, RDKit properties,
    TransE knowledge graph, 2D depiction, 3D conformer). It is FROZEN here: its vectors for the
    vocabulary's molecules and BRICS fragments are constants of the model (and of the ONNX graph).
  * Hierarchical attention: each molecule attends over its own fragments (after a set-attention block
    lets fragments see each other), then each ATC3 drug attends over its member molecules -> the
    drug's structure vector. A drug without a known molecule reads a learned fallback vector.
  * Knowledge views, one per pre-training modality m: the frozen projection of the drug's molecules
    into m's aligned space (the pre-training head; averaged over the class's molecules), or, for a
    drug without molecules, the knowledge side's own vector of the class where m is class-level (text,
    KG). A trainable linear map per view adds it to the structure vector. THIS is how a drug-side
    modality is masked: its view's contribution is replaced by the learned "absent" vector of m (the
    same vector a drug that truly lacks m gets), trained with the trainer's modality dropout.
Patient side
  * Three GRUs over the visits: diagnosis-embedding sums, procedure-embedding sums, and the previous
    visit's medications as the sum of their (knowledge-enhanced) drug vectors; the three states at
    the current visit are concatenated.
Score
  * h = MLP(patient); logit_d = w_d . h + b_d  +  <U h, drug_d>: a per-drug output layer (the paper's
    MLP to one score per drug) plus a match with the drug's knowledge vector, so drug knowledge also
    reaches first-visit patients, who have no medication history.
Loss: the trainer's 0.95 BCE + 0.05 multi-label margin, plus the DDI-controllable term shared with
SafeDrug/MoleRec (gamenet.controllable_ddi_loss): on while the batch's DDI rate on
options['ddi_matrix'] (default twosides-atc3) exceeds the target (default: the training visits' own
rate), weighted up as it exceeds it by more.

Pre-training: the KG's co-prescription edges come from the patients the model is trained on (never
the fold's validation or test patients), so `prepare` fetches the encoder for this fit: the encoder
pre-trained without co-prescription (one for all folds), fine-tuned for a few epochs with the fit's
edges; both cached by input hash (training/.cache/pretrain). Options (config.options / with_overrides):
pretrain_modalities, alignment ('cross' | 'intersection'), pretrain_epochs, transe_epochs,
finetune_epochs, substructure_attention (bool), ddi_matrix, target_ddi, kp, ddi_weight, ddi_loss, data_dir.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np
import torch
from torch import nn

from ..pretrain import (
    CLASS_LEVEL_MODALITIES,
    IMAGE,
    KNOWLEDGE_GRAPH,
    KNOWLEDGE_MODALITIES,
    PROPERTIES,
    STRUCTURE_3D,
    TEXT,
    PretrainedEncoder,
    PretrainSettings,
    coprescribed_pairs,
    load_or_pretrain,
)
from .base import (
    INDEX_OFFSET,
    PAD_INDEX,
    MedRecModel,
    Modality,
    ModelConfig,
    Paper,
    VocabSizes,
    multi_hot,
    select_visit,
    trim_padding,
)
from .gamenet import NEGATIVE_LARGE, controllable_ddi_loss, ddi_adjacency, target_ddi_rate
from .molerec import SetAttentionBlock, padded_fragment_lists

if TYPE_CHECKING:
    from ..tasks import Batch, EncodedSamples

KNOWLEDGE_MODALITY_LABELS = {
    TEXT: "Drug text (ATC names and substances)",
    PROPERTIES: "Molecular properties (RDKit descriptors)",
    KNOWLEDGE_GRAPH: "Knowledge graph (ATC, DDI, co-prescription)",
    IMAGE: "2D depiction",
    STRUCTURE_3D: "3D conformer",
}
DRUG_MODALITIES = {m: Modality(m, KNOWLEDGE_MODALITY_LABELS[m], "drug") for m in KNOWLEDGE_MODALITIES}

# Order in which the 1 -> 5 ablation adds modalities. The knowledge graph comes last: it is the only
# modality built from training patients (co-prescription), so it alone needs a pre-training per fold,
# and variants 1-4 are pre-trained once for all folds.
ABLATION_ORDER: tuple[str, ...] = (TEXT, PROPERTIES, IMAGE, STRUCTURE_3D, KNOWLEDGE_GRAPH)


def padded_lists(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Index lists padded to the longest: (int64 [N, K], float32 valid [N, K]), K >= 1."""
    width = max(1, max((len(r) for r in rows), default=0))
    indices = np.zeros((len(rows), width), dtype=np.int64)
    valid = np.zeros((len(rows), width), dtype=np.float32)
    for position, row in enumerate(rows):
        indices[position, : len(row)] = row
        valid[position, : len(row)] = 1.0
    return indices, valid


class MKMed(MedRecModel):
    family = "mkmed"
    display_name = "MKMed"
    benchmark_note = (
        "Molecular GIN (2 layers x 64) pre-trained by bidirectional InfoNCE against each knowledge modality separately "
        "(text: all-MiniLM-L6-v2 over ATC and drug names; RDKit descriptors; TransE over ATC hierarchy, DDInter pairs and the "
        "training fold's co-prescriptions; 2D RDKit depictions through a small CNN; 3D ETKDG conformers through a "
        "distance-aware encoder), on every molecule with SMILES; the encoder is pre-trained per fold (the knowledge graph "
        "holds that fold's co-prescriptions), its cost is inside each fold's CPU time. Ablations: knowledge modalities 1 to 5 "
        "(text, + properties, + image, + 3D, + knowledge graph = MKMed), intersection-only alignment, no substructure attention. "
        "DDI penalty on twosides-atc3 annealed towards the training visits' own DDI rate."
    )
    paper = Paper(
        "Combating the Bucket Effect: Multi-Knowledge Alignment for Medication Recommendation",
        "Li et al., 2025, arXiv:2504.18096",
    )
    drug_modalities = tuple(DRUG_MODALITIES[m] for m in KNOWLEDGE_MODALITIES)
    requires_knowledge = True
    # Batches of 128: ~30% less training time than 64 for -0.006 Jaccard on the demo cohort (inside the
    # 95% intervals), which matters with six ablation variants in the benchmark.
    config_overrides: ClassVar[dict[str, Any]] = {"learning_rate": 4e-3, "batch_size": 128}
    substructure_attention: ClassVar[bool] = True
    alignment: ClassVar[str] = "cross"

    def __init__(self, vocab_sizes: VocabSizes, knowledge: Any | None, config: ModelConfig) -> None:
        super().__init__(vocab_sizes, knowledge, config)
        hidden, embedding, drugs = config.hidden_dim, config.embedding_dim, vocab_sizes.medication
        options = config.options
        self.knowledge_modalities = tuple(m.id for m in self.drug_modalities)
        self.settings = PretrainSettings(
            modalities=tuple(options.get("pretrain_modalities", self.knowledge_modalities)),
            alignment=str(options.get("alignment", self.alignment)),
            epochs=int(options.get("pretrain_epochs", PretrainSettings.epochs)),
            transe_epochs=int(options.get("transe_epochs", PretrainSettings.transe_epochs)),
            finetune_epochs=int(options.get("finetune_epochs", PretrainSettings.finetune_epochs)),
        )
        if set(self.settings.modalities) != set(self.knowledge_modalities):
            raise ValueError(
                f"MKMed: pretrain_modalities {list(self.settings.modalities)} must be the model's drug modalities "
                f"{list(self.knowledge_modalities)} (one maskable view per pre-trained modality)."
            )
        self.use_substructures = bool(options.get("substructure_attention", self.substructure_attention))
        self.data_dir = options.get("data_dir")
        vector_dim = self.settings.dim
        molecules, fragments = knowledge.molecules.num_graphs, knowledge.fragments.num_graphs

        # Frozen pre-trained constants, filled by `prepare` (persistent: they travel with the weights).
        self.register_buffer("molecule_vectors", torch.zeros(max(molecules, 1), vector_dim))
        self.register_buffer("fragment_vectors", torch.zeros(max(fragments, 1), vector_dim))
        self.register_buffer("views", torch.zeros(len(self.knowledge_modalities), drugs, vector_dim))
        self.register_buffer("view_available", torch.zeros(len(self.knowledge_modalities), drugs))
        self.encoder_key = ""
        self.pretraining_report: dict = {}

        # Which molecules make each drug, which fragments make each molecule (fixed by the knowledge).
        drug_molecules, drug_molecule_valid = padded_lists([list(m) for m in knowledge.drug_molecules])
        self.register_buffer("drug_molecules", torch.from_numpy(drug_molecules), persistent=False)
        self.register_buffer("drug_molecule_valid", torch.from_numpy(drug_molecule_valid), persistent=False)
        has_structure = drug_molecule_valid.sum(axis=1, keepdims=True) > 0
        self.register_buffer("has_structure", torch.from_numpy(has_structure.astype(np.float32)), persistent=False)
        # A vocabulary without any known molecule still gets one (empty) row, so every tensor is non-empty for ONNX.
        fragment_mask = np.asarray(knowledge.molecule_fragment_mask, dtype=np.float32) if molecules else np.zeros((1, 1), np.float32)
        molecule_fragments, molecule_fragment_valid = padded_fragment_lists(fragment_mask)
        self.register_buffer("molecule_fragments", torch.from_numpy(molecule_fragments), persistent=False)
        self.register_buffer("molecule_fragment_valid", torch.from_numpy(molecule_fragment_valid), persistent=False)

        # Drug side (trainable): hierarchical attention and the per-view maps.
        self.molecule_map = nn.Linear(vector_dim, hidden)
        if self.use_substructures:
            self.fragment_map = nn.Linear(vector_dim, hidden)
            self.fragment_interaction = SetAttentionBlock(hidden, int(options.get("heads", 2)))
            self.fragment_query = nn.Linear(hidden, hidden)
            self.fragment_key = nn.Linear(hidden, hidden)
        self.molecule_score = nn.Linear(hidden, 1)
        # one learned vector per class without a molecule (a shared one would make those classes indistinguishable)
        self.no_structure = nn.Parameter(torch.zeros(vocab_sizes.medication, hidden))
        nn.init.normal_(self.no_structure, std=0.1)
        self.view_maps = nn.ModuleList(nn.Linear(vector_dim, hidden) for _ in self.knowledge_modalities)

        # Patient side: three GRUs.
        self.diagnosis_embedding = nn.Embedding(vocab_sizes.diagnosis_rows, embedding, padding_idx=0)
        self.procedure_embedding = nn.Embedding(vocab_sizes.procedure_rows, embedding, padding_idx=0)
        self.dropout = nn.Dropout(config.dropout)
        self.diagnosis_gru = nn.GRU(embedding, hidden, batch_first=True)
        self.procedure_gru = nn.GRU(embedding, hidden, batch_first=True)
        self.medication_gru = nn.GRU(hidden, hidden, batch_first=True)
        self.query = nn.Sequential(nn.ReLU(), nn.Linear(3 * hidden, hidden), nn.ReLU())
        self.output = nn.Linear(hidden, drugs)
        self.match = nn.Linear(hidden, hidden, bias=False)

        self.ddi_matrix_name, ddi = ddi_adjacency(knowledge, config)
        self.register_buffer("ddi_adjacency", ddi, persistent=False)
        self.target_ddi = float(options.get("target_ddi", 0.06))  # prepare() sets it from the training visits

        self.register_absent("diagnoses", embedding)
        self.register_absent("procedures", embedding)
        self.register_absent("medication-history", hidden)
        for modality in self.knowledge_modalities:
            self.register_absent(modality, hidden)

    # --- pre-trained encoder -----------------------------------------------------------------------

    def prepare(self, train: EncodedSamples) -> None:
        """Pre-train (or load from cache) the encoder with these training visits' co-prescriptions."""
        pairs = coprescribed_pairs(train.targets, self.knowledge.atc3_vocab) if KNOWLEDGE_GRAPH in self.knowledge_modalities else ()
        encoder = load_or_pretrain(self.settings, pairs, Path(self.data_dir) if self.data_dir else None, log=print)
        self.attach_encoder(encoder)
        self.target_ddi = target_ddi_rate(self.config, train, self.ddi_adjacency)

    def attach_encoder(self, encoder: PretrainedEncoder) -> None:
        """Copy the frozen vectors this vocabulary needs out of a pre-trained encoder."""
        if encoder.settings.modalities != self.settings.modalities:
            raise ValueError(
                f"MKMed: encoder pre-trained on {list(encoder.settings.modalities)}, the model has {list(self.settings.modalities)}"
            )
        row = encoder.row_of()
        missing = [s for s in (*self.knowledge.molecules.smiles, *self.knowledge.fragments.smiles) if s not in row]
        if missing:
            raise ValueError(
                f"MKMed: {len(missing)} molecule(s)/fragment(s) of the vocabulary are not in the pre-training corpus "
                f"(e.g. {missing[0]!r}): the drug knowledge and the pre-training read different data folders."
            )
        molecule_rows = [row[s] for s in self.knowledge.molecules.smiles]
        fragment_rows = [row[s] for s in self.knowledge.fragments.smiles]
        with torch.no_grad():
            if molecule_rows:
                self.molecule_vectors.copy_(torch.from_numpy(encoder.graph_vectors[molecule_rows]))
            if fragment_rows:
                self.fragment_vectors.copy_(torch.from_numpy(encoder.graph_vectors[fragment_rows]))
            class_row = {code: i for i, code in enumerate(encoder.class_codes)}
            for position, modality in enumerate(self.knowledge_modalities):
                molecule_views = (
                    encoder.views[modality][molecule_rows] if molecule_rows else np.zeros((0, encoder.settings.dim), np.float32)
                )
                for drug, members in enumerate(self.knowledge.drug_molecules):
                    if members:
                        self.views[position, drug] = torch.from_numpy(molecule_views[list(members)].mean(axis=0))
                        self.view_available[position, drug] = 1.0
                        continue
                    code = self.knowledge.atc3_vocab[drug]
                    if modality in CLASS_LEVEL_MODALITIES and code in class_row and encoder.class_available[modality][class_row[code]]:
                        self.views[position, drug] = torch.from_numpy(encoder.class_views[modality][class_row[code]])
                        self.view_available[position, drug] = 1.0
                    else:
                        self.views[position, drug] = 0.0
                        self.view_available[position, drug] = 0.0
        self.encoder_key = encoder.key
        self.pretraining_report = encoder.report

    # --- computation -------------------------------------------------------------------------------

    def structure_vectors(self) -> torch.Tensor:
        """[D, H]: hierarchical attention fragments -> molecules -> drug, from the frozen GIN vectors."""
        molecules = self.molecule_map(self.molecule_vectors)  # [M, H]
        if self.use_substructures:
            fragments = self.fragment_interaction(self.fragment_map(self.fragment_vectors))  # [F, H]
            own = fragments[self.molecule_fragments]  # [M, K, H]
            own_keys = self.fragment_key(fragments)[self.molecule_fragments]  # keyed once per fragment, then gathered
            scores = torch.einsum("mh,mkh->mk", self.fragment_query(molecules), own_keys)
            scores = scores / math.sqrt(molecules.shape[1]) + (1.0 - self.molecule_fragment_valid) * NEGATIVE_LARGE
            attention = torch.softmax(scores, dim=-1) * self.molecule_fragment_valid
            molecules = molecules + torch.einsum("mk,mkh->mh", attention, own)
        members = molecules[self.drug_molecules]  # [D, K, H]
        scores = self.molecule_score(molecules).squeeze(-1)[self.drug_molecules] + (1.0 - self.drug_molecule_valid) * NEGATIVE_LARGE
        weights = torch.softmax(scores, dim=-1) * self.drug_molecule_valid
        return torch.einsum("dk,dkh->dh", weights, members) + (1.0 - self.has_structure) * self.no_structure

    def drug_parts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The drug vectors as (all_absent [D, H], deltas [K, D, H]) with, for a sample's mask m,

            drug_d = all_absent_d + sum_k m_k * deltas[k, d]
            all_absent = structure + sum_k absent_k       (every knowledge view masked)
            deltas[k]  = available_k,d * (map_k(view_k,d) - absent_k)

        which equals "structure + per view: its mapped contribution if on and available, else absent_k",
        in one small matrix product per batch instead of a masked sum per view.
        """
        all_absent = self.structure_vectors()
        deltas = []
        for position, modality in enumerate(self.knowledge_modalities):
            absent = self.absent[modality]
            all_absent = all_absent + absent
            contribution = self.view_maps[position](self.views[position])  # [D, H]
            deltas.append(self.view_available[position].unsqueeze(1) * (contribution - absent))
        return all_absent, torch.stack(deltas)

    def drug_vectors(self, modality_mask: torch.Tensor) -> torch.Tensor:
        """[B, D, H]: each sample's drug vectors under its own mask of the knowledge modalities."""
        all_absent, deltas = self.drug_parts()
        return all_absent.unsqueeze(0) + torch.einsum("bk,kdh->bdh", self.views_on(modality_mask), deltas)

    def views_on(self, modality_mask: torch.Tensor) -> torch.Tensor:
        """[B, K]: the modality mask's knowledge-view columns."""
        return modality_mask[:, [self.modality_index(m) for m in self.knowledge_modalities]]

    def drug_products(self, modality_mask: torch.Tensor) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
        """(given [B, V, D] -> given . drug_b [B, V, H], hidden [B, H] -> <match(hidden), drug_b,d> [B, D]).

        Training multiplies by the per-sample drug vectors drug_vectors() [B, D, H]. Inference never builds
        that tensor: drug_b = all_absent + sum_k m_bk deltas_k is linear in the mask, so every product with it
        is the mask-weighted sum of the same product with the K + 1 patient-independent parts, i.e. one
        [B*V, D] x [D, (K+1) H] and one [B, H] x [H, (K+1) D] matrix product whose right-hand sides the ONNX
        export folds into constants (match's weight folded in too). Same value, ~a third of the model's run.
        The mask-weighted sums are per-sample matrix products, not a ReduceSum over the parts: onnxruntime's
        ReduceSum over a middle axis sums in a batch-size-dependent order, and a patient's probabilities
        must not depend on the batch it ran in (tests/unit/session-small-runs.test.ts).
        """
        if self.training:
            drugs = self.drug_vectors(modality_mask)
            return (lambda given: torch.bmm(given, drugs)), (lambda hidden: torch.einsum("bh,bdh->bd", self.match(hidden), drugs))
        all_absent, deltas = self.drug_parts()
        parts = torch.cat([all_absent.unsqueeze(0), deltas])  # [K + 1, D, H]
        count, drugs, hidden_dim = parts.shape
        views_on = self.views_on(modality_mask)
        weights = torch.cat([torch.ones_like(views_on[:, :1]), views_on], dim=1)  # [B, K + 1]: all_absent always counts
        given_parts = parts.permute(1, 0, 2).reshape(drugs, count * hidden_dim)  # [D, (K+1) H]
        match_parts = parts.reshape(count * drugs, hidden_dim) @ self.match.weight  # <W h, p> = <h, W^T p>: [(K+1) D, H]

        def given_products(given: torch.Tensor) -> torch.Tensor:
            batch, visits, _ = given.shape
            per_part = (given.reshape(batch * visits, drugs) @ given_parts).reshape(batch, visits, count, hidden_dim)
            return (weights.reshape(batch, 1, 1, count) @ per_part).squeeze(2)

        def match_scores(hidden: torch.Tensor) -> torch.Tensor:
            per_part = nn.functional.linear(hidden, match_parts).reshape(hidden.shape[0], count, drugs)
            return (weights.unsqueeze(1) @ per_part).squeeze(1)

        return given_products, match_scores

    def visit_sums(self, embedding: nn.Embedding, codes: torch.Tensor) -> torch.Tensor:
        """Per-visit sums of code embeddings [B, V, E]. Training embeds only the real codes (a batch is
        ~95% padding, and the dense path's backward was a third of a training step); inference sums every
        slot densely (export-friendly) and takes off what the padding slots added, count x the pad row
        (0 when trained with padding_idx; a pass over [B, V, E] instead of masking all of [B, V, C, E]; not
        for training: the pad row would get a gradient). Both give the same sums."""
        if not self.training:
            padding = (codes == PAD_INDEX).sum(dim=-1, keepdim=True).to(embedding.weight.dtype)
            return embedding(codes).sum(dim=2) - padding * embedding.weight[PAD_INDEX]
        flat = codes.reshape(-1, codes.shape[-1])
        rows, columns = torch.nonzero(flat != PAD_INDEX, as_tuple=True)
        sums = torch.zeros(flat.shape[0], embedding.embedding_dim).index_add(0, rows, embedding(flat[rows, columns]))
        return sums.reshape(*codes.shape[:-1], embedding.embedding_dim)

    def compute_logits(self, diagnoses, procedures, medications, visit_mask, modality_mask):
        if not self.training:  # the GRUs read visits up to the current one, and padding codes add nothing
            diagnoses, procedures, medications, visit_mask = trim_padding(diagnoses, procedures, medications, visit_mask)
        given_products, match_scores = self.drug_products(modality_mask)
        diagnosis_visits = self.dropout(self.visit_sums(self.diagnosis_embedding, diagnoses))
        procedure_visits = self.dropout(self.visit_sums(self.procedure_embedding, procedures))
        diagnosis_visits = self.apply_modality("diagnoses", diagnosis_visits, modality_mask)
        procedure_visits = self.apply_modality("procedures", procedure_visits, modality_mask)
        # Visit t's medication input is what was given at visit t - 1 (the first visit gets zeros); the
        # current visit's own row is padding by contract, so its medications are never read.
        given = multi_hot(medications, self.vocab_sizes.medication_rows)[..., INDEX_OFFSET:]  # [B, V, D]
        given_vectors = given_products(given)  # [B, V, H]: the sum of the given drugs' vectors
        previous = torch.cat([torch.zeros_like(given_vectors[:, :1]), given_vectors[:, :-1]], dim=1)
        previous = self.apply_modality("medication-history", self.dropout(previous), modality_mask)
        states = [
            self.diagnosis_gru(diagnosis_visits)[0],
            self.procedure_gru(procedure_visits)[0],
            self.medication_gru(previous)[0],
        ]
        patient = select_visit(torch.cat(states, dim=-1), visit_mask)  # [B, 3H]
        hidden = self.query(patient)  # [B, H]
        return self.output(hidden) + match_scores(hidden)

    def extra_loss(self, batch: Batch, logits: torch.Tensor) -> torch.Tensor | None:
        return controllable_ddi_loss(batch, logits, self.ddi_adjacency, self.config, self.target_ddi)

    # --- export ---------------------------------------------------------------------------------------

    def export_extras(self, folder: Path, inputs: tuple[torch.Tensor, ...]) -> dict:
        """The pre-training report beside the model, and how drug-side masking works, for the manifest."""
        report = {
            "encoderKey": self.encoder_key,
            "settings": self.pretraining_report.get("settings"),
            "coverage": self.pretraining_report.get("coverage"),
            "pool": self.pretraining_report.get("pool"),
            "knowledgeGraph": self.pretraining_report.get("knowledgeGraph"),
            "retrievalTop1": self.pretraining_report.get("retrieval"),
            "seconds": self.pretraining_report.get("seconds"),
            "cpuSeconds": self.pretraining_report.get("cpuSeconds"),
            "ddiMatrix": self.ddi_matrix_name,
            "targetDdiRate": self.target_ddi,
            "substructureAttention": self.use_substructures,
        }
        (folder / "pretraining.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        return {
            "extraFiles": [{"file": "pretraining.json", "purpose": "cross-modal pre-training report: settings, modality coverage, cost"}],
            "textEncoder": self.pretraining_report.get("textEncoder", ""),
            "description": (
                "Drug-side modalities (" + ", ".join(self.knowledge_modalities) + ") are the frozen pre-trained encoder's "
                "per-modality projections of each drug's molecules, stored in the graph as constants; each enters the drug "
                "vector through its own linear map, and masking it replaces that contribution with the modality's learned "
                "'absent' vector (trained by modality dropout). The molecular structure itself (GIN + hierarchical "
                f"substructure attention) is always present. DDI penalty on {self.ddi_matrix_name}, target rate "
                f"{self.target_ddi:.4f}."
            ),
        }


# --- ablation variants (registry ids mkmed-*) ---------------------------------------------------------


def _with_modalities(count: int) -> tuple[Modality, ...]:
    return tuple(DRUG_MODALITIES[m] for m in ABLATION_ORDER[:count])


class MKMedOneModality(MKMed):
    """Ablation: pre-trained against drug text only."""

    display_name = "MKMed (1 modality: text)"
    drug_modalities = _with_modalities(1)


class MKMedTwoModalities(MKMed):
    display_name = "MKMed (2 modalities: + properties)"
    drug_modalities = _with_modalities(2)


class MKMedThreeModalities(MKMed):
    display_name = "MKMed (3 modalities: + image)"
    drug_modalities = _with_modalities(3)


class MKMedFourModalities(MKMed):
    display_name = "MKMed (4 modalities: + 3D)"
    drug_modalities = _with_modalities(4)


class MKMedIntersection(MKMed):
    """Ablation: alignment on the molecules that have all five modalities only (no fragments, no molecule
    without a conformer): the 'bucket' the paper's cross-modal encoder is built to avoid."""

    display_name = "MKMed (intersection-only alignment)"
    alignment = "intersection"


class MKMedNoSubstructures(MKMed):
    """Ablation: a drug is the attention-pooled GIN vectors of its molecules, no fragments."""

    display_name = "MKMed (no substructure attention)"
    substructure_attention = False
