"""CafeMed: causal attention fusion for medication recommendation (Ren, Ju & Lee, arXiv:2511.14064),
written from the paper's abstract and CausalMed (Li et al., CIKM 2024); the full text was not at hand,
so every component below is this project's reading of the abstract (decisions listed at the end).

Pipeline per patient (fixed shapes, so the whole model exports to ONNX):
  1. Code embeddings; three GRUs over the visits (sums of each visit's diagnosis, procedure and
     medication-history embeddings; the current visit's medication row is padding).
  2. CHARM (Channel Harmonized Attention Refinement Module) on the current visit: the diagnosis
     channel and the procedure channel attend to each other (cross-attention, padding masked), so a
     diagnosis is read in the light of the procedures done and vice versa; a harmonising gate
     computed from both channels' pooled summaries rescales every feature channel of each (SE-style);
     a residual and LayerNorm refine. The refined codes are summed per channel.
  3. Health state h = Linear(ReLU([GRU states at the current visit, CHARM's two channel vectors])).
  4. Causal effects: a constant matrix per code kind (rows = code indices, columns = drugs) with the
     effect of each diagnosis / procedure on each drug, estimated from the training visits only
     (medrec_training.causal: PC-simple adjustment sets with causal-learn tests, doubly robust effect
     on the treated, Benjamini-Hochberg at 10%; non-significant and unestimated pairs are 0).
  5. CWG (Causal Weight Generator): turns the static effect E[c, m] of each code c of the current
     visit into a patient-specific weight w[c, m] = E[c, m] * 2 sigmoid(<tanh(W_h h + W_c r_c), k_m>
     + b_m), where r_c is the CHARM-refined code and k_m a learned drug key: the same diagnosis weighs
     differently for different patients and drugs; the factor lies in (0, 2) and starts at 1 (the
     static effect), so the CWG rescales an effect but never flips its sign.
  6. Drug scores: logits = MLP(h) + s ⊙ sum_c w[c, :] with a learned per-drug scale s, so
     s_m * w[c, m] is exactly code c's causal contribution to drug m's logit (what the app shows).
  Loss: the trainer's BCE + multi-label margin, plus SafeDrug's controllable DDI loss (shared with
  GAMENet/SafeDrug/MoleRec) on the `ddi_matrix` option's matrix (default twosides-atc3), steering
  to the training visits' own DDI rate unless `target_ddi` is given.

Modalities (modality_mask columns): diagnoses, procedures, medication history, causal effects. A
masked modality is replaced by its learned 'absent' vector and contributes nothing else either: no
cross-attention from it in CHARM, no causal weights of its codes. Masking the causal effects
replaces the whole causal term with a learned per-drug vector.

Variants (registry ids): cafemed, cafemed-no-cwg (static effects: factor 1), cafemed-no-charm (codes
summed without cross-attention and gate), cafemed-no-causal (no effect matrices, no causal modality).

Exported beside model.onnx (see medrec_training/causal/table.py for the formats):
  causal-effects.json  the effect tables (estimate, standard error, q-value, crude association,
                       adjustment set of every estimated code) and how they were estimated;
  causal-weights.onnx  the same model's patient-specific weights s_m * w[c, m] for the current
                       visit's code slots, so the app can list the codes behind a recommended drug.

Decisions made without the paper's full text:
  * Effects are ATTs on the risk-difference scale from the current visit's codes and drugs only.
  * CHARM = bidirectional single-head cross-attention + SE-style channel gate over both channels.
  * CWG = low-rank bilinear gate of (health state, refined code) against drug keys, factor in (0, 2).
  * The causal term is added to the logits (interpretable) rather than fed into the MLP.
  * Causal weights and CHARM apply to the current visit's codes; history reaches the model through
    the GRUs (running CHARM on all 8 visit slots cost 8x for the 1.3 real visits of a mean sample).
  * Non-significant effects (BH q > 0.10) are 0 in the model; all estimates stay in the table.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..causal import EffectSettings, estimate_effects_cached, training_visits
from ..causal.table import ASSUMPTIONS, ESTIMATOR, write_effects
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

if TYPE_CHECKING:
    from ..causal import CausalEffects
    from ..tasks import Batch, EncodedSamples

CAUSAL_EFFECTS = Modality("causal-effects", "Causal effects (diagnoses and procedures on drugs)", "drug")
EFFECTS_FILE = "causal-effects.json"
WEIGHTS_FILE = "causal-weights.onnx"


class CrossAttention(nn.Module):
    """Single-head attention of queries [..., Q, E] over keys [..., K, E]: scores are the bilinear form
    q W k and the values are the keys themselves. One projection instead of the usual three keeps CHARM
    affordable on CPU: it runs over every code slot of every visit slot."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.bilinear = nn.Linear(dim, dim, bias=False)
        nn.init.normal_(self.bilinear.weight, std=dim**-1)  # scores start at the scale of q.k / sqrt(E)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, key_present: torch.Tensor) -> torch.Tensor:
        """key_present [..., K]: 1 = attend; a query whose keys are all absent gets a zero context."""
        # matmul, not einsum: the same products, and onnxruntime runs MatMul several times faster than Einsum
        scores = self.bilinear(queries) @ keys.transpose(-1, -2)
        scores = scores + (1.0 - key_present).unsqueeze(-2) * NEGATIVE_LARGE
        weights = torch.softmax(scores, dim=-1) * key_present.unsqueeze(-2)  # all-absent rows: 0, not uniform
        return weights @ keys


class CHARM(nn.Module):
    """Channel Harmonized Attention Refinement Module over the current visit's diagnosis and procedure codes.

    Returns the refined codes (normalised(code + context) * channel gate, [B, C, E], padding slots 0)
    and the two channels' pooled vectors [B, E] (sums of the refined present codes).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.diagnoses_from_procedures = CrossAttention(dim)
        self.procedures_from_diagnoses = CrossAttention(dim)
        self.harmonise = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, 2 * dim))
        nn.init.zeros_(self.harmonise[-1].weight)  # gates start at 1: the module starts as residual attention
        nn.init.zeros_(self.harmonise[-1].bias)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)  # the gates are the learned scale

    def forward(
        self,
        diagnoses: torch.Tensor,  # [B, Cd, E]
        procedures: torch.Tensor,  # [B, Cp, E]
        diagnosis_present: torch.Tensor,  # [B, Cd] 1 = a real code
        procedure_present: torch.Tensor,  # [B, Cp]
        diagnoses_on: torch.Tensor,  # [B] modality mask column: 0 = the channel must not inform the other
        procedures_on: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        visible_diagnoses = diagnosis_present * diagnoses_on.unsqueeze(1)
        visible_procedures = procedure_present * procedures_on.unsqueeze(1)
        diagnoses = diagnoses + self.diagnoses_from_procedures(diagnoses, procedures, visible_procedures)
        procedures = procedures + self.procedures_from_diagnoses(procedures, diagnoses, visible_diagnoses)
        summary = torch.cat([_masked_mean(diagnoses, visible_diagnoses), _masked_mean(procedures, visible_procedures)], dim=-1)
        diagnosis_gate, procedure_gate = (2.0 * torch.sigmoid(self.harmonise(summary))).chunk(2, dim=-1)  # [B, E] each
        refined_diagnoses = self.norm(diagnoses) * diagnosis_gate.unsqueeze(1) * diagnosis_present.unsqueeze(-1)
        refined_procedures = self.norm(procedures) * procedure_gate.unsqueeze(1) * procedure_present.unsqueeze(-1)
        if self.training:
            return refined_diagnoses, refined_procedures, refined_diagnoses.sum(dim=1), refined_procedures.sum(dim=1)
        # inference: the same sums (padding rows are 0) as per-sample products, whose order does not depend on
        # the batch size as onnxruntime's ReduceSum over a middle axis does
        pooled = [(present.unsqueeze(1) @ refined).squeeze(1) for present, refined in ((diagnosis_present, refined_diagnoses), (procedure_present, refined_procedures))]
        return refined_diagnoses, refined_procedures, *pooled


def _masked_mean(codes: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Mean of the present codes [B, C, E] -> [B, E] (0 without any)."""
    return (present.unsqueeze(1) @ codes).squeeze(1) / present.sum(dim=1, keepdim=True).clamp(min=1.0)


class CausalWeightGenerator(nn.Module):
    """Patient-specific modulation factors in (0, 2) for (code, drug) pairs, from the health state."""

    def __init__(self, state_dim: int, code_dim: int, drugs: int, rank: int) -> None:
        super().__init__()
        self.state = nn.Linear(state_dim, rank)
        self.code = nn.Linear(code_dim, rank, bias=False)
        self.drug_keys = nn.Parameter(torch.randn(drugs, rank) * 0.01)  # factors start near 1
        self.drug_bias = nn.Parameter(torch.zeros(drugs))

    def forward(self, state: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """state [B, H], codes [B, C, E] -> factors [B, C, D]."""
        return 2.0 * torch.sigmoid(self.gate(state, codes))

    def gate(self, state: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """The factors before 2 sigmoid(.): [B, C, D]."""
        joint = torch.tanh(self.state(state).unsqueeze(1) + self.code(codes))  # [B, C, R]
        return joint @ self.drug_keys.T + self.drug_bias


class CafeMed(MedRecModel):
    family = "cafemed"
    display_name = "CafeMed"
    benchmark_note = (
        "Causal effects estimated per fold on its training visits only: doubly robust effect on the treated of each "
        "diagnosis/procedure on each drug, adjusting for the code's PC-simple neighbourhood (causal-learn G-squared tests), "
        "code-profile components and severity covariates; Benjamini-Hochberg q <= 0.1 effects become constant tensors "
        "(medrec_training/causal/effects.py states the assumptions). CWG turns them into patient-specific weights from the "
        "visit representation; CHARM is diagnosis-procedure cross-attention. Ablations: static effects (no CWG), no CHARM, "
        "no causal effects. DDI-aware loss on twosides-atc3 steering to the training visits' own DDI rate."
    )
    paper = Paper(
        "CafeMed: Causal Attention Fusion Enhanced Medication Recommendation",
        "Ren, Ju & Lee, arXiv:2511.14064 (2025)",
    )
    drug_modalities = (CAUSAL_EFFECTS,)
    requires_knowledge = True  # the DDI matrix of the DDI-aware loss
    # A larger step and shorter patience than the defaults: the benchmark trains four CafeMed variants
    # x 5 folds on 2 shared cores (fold 1 of the demo: the same validation Jaccard in 9 epochs, not 14).
    config_overrides = {"learning_rate": 3e-3, "patience": 3}
    uses_charm: bool = True
    uses_cwg: bool = True
    uses_causal_effects: bool = True

    def __init__(self, vocab_sizes: VocabSizes, knowledge: Any | None, config: ModelConfig) -> None:
        super().__init__(vocab_sizes, knowledge, config)
        dim, hidden, drugs = config.embedding_dim, config.hidden_dim, vocab_sizes.medication
        self.effect_settings = EffectSettings(**config.options.get("effect_settings", {}))
        self.ddi_matrix_name, ddi = ddi_adjacency(knowledge, config)
        self.register_buffer("ddi_adjacency", ddi, persistent=False)
        self.target_ddi = float(config.options.get("target_ddi", 0.06))  # prepare() sets it from the training visits

        self.diagnosis_embedding = nn.Embedding(vocab_sizes.diagnosis_rows, dim, padding_idx=PAD_INDEX)
        self.procedure_embedding = nn.Embedding(vocab_sizes.procedure_rows, dim, padding_idx=PAD_INDEX)
        self.medication_embedding = nn.Embedding(vocab_sizes.medication_rows, dim, padding_idx=PAD_INDEX)
        self.dropout = nn.Dropout(config.dropout)
        self.charm = CHARM(dim) if self.uses_charm else None
        self.diagnosis_gru = nn.GRU(dim, hidden, batch_first=True)
        self.procedure_gru = nn.GRU(dim, hidden, batch_first=True)
        self.medication_gru = nn.GRU(dim, hidden, batch_first=True)
        self.health = nn.Sequential(nn.ReLU(), nn.Linear(3 * hidden + 2 * dim, hidden))
        self.output = nn.Sequential(nn.ReLU(), nn.Linear(hidden, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, drugs))
        self.register_absent("diagnoses", dim)
        self.register_absent("procedures", dim)
        self.register_absent("medication-history", dim)

        self.effects: CausalEffects | None = None
        if self.uses_causal_effects:
            # Fitted data (a training set's effects), saved with the weights and frozen into the ONNX graph.
            self.register_buffer("diagnosis_effects", torch.zeros(vocab_sizes.diagnosis_rows, drugs))
            self.register_buffer("procedure_effects", torch.zeros(vocab_sizes.procedure_rows, drugs))
            self.causal_scale = nn.Parameter(torch.full((drugs,), 2.0))
            self.cwg = CausalWeightGenerator(hidden, dim, drugs, rank=int(config.options.get("cwg_rank", 16))) if self.uses_cwg else None
            self.register_absent("causal-effects", drugs)

    # --- data-dependent setup -----------------------------------------------------------------

    def prepare(self, train: "EncodedSamples") -> None:
        """Effects from the training visits only (the trainer passes the fold's fitting patients)."""
        targets = torch.from_numpy(np.asarray(train.targets, dtype=np.float32))
        self.target_ddi = target_ddi_rate(self.config, train, self.ddi_adjacency) if len(targets) else self.target_ddi
        if not self.uses_causal_effects:
            return
        self.set_effects(estimate_effects_cached(training_visits(train, self.vocab_sizes), self.effect_settings))

    def set_effects(self, effects: "CausalEffects") -> None:
        """Load estimated effects into the constant matrices (significant pairs only; pad/unknown rows 0)."""
        fdr = effects.settings.fdr
        for buffer, table in ((self.diagnosis_effects, effects.diagnosis), (self.procedure_effects, effects.procedure)):
            if table.effect.shape != (buffer.shape[0] - INDEX_OFFSET, buffer.shape[1]):
                raise ValueError(
                    f"CafeMed: effect table of shape {table.effect.shape} does not fit the vocabulary "
                    f"({buffer.shape[0] - INDEX_OFFSET} codes x {buffer.shape[1]} drugs)"
                )
            with torch.no_grad():
                buffer.zero_()
                buffer[INDEX_OFFSET:] = torch.from_numpy(table.significant(fdr))
        self.effects = effects

    # --- computation --------------------------------------------------------------------------

    def _encode(self, diagnoses, procedures, medications, visit_mask, modality_mask):
        """The current visit's refined codes [B, Cd, E], [B, Cp, E], the health state h [B, H] and the
        diagnosis / procedure modality columns [B]."""
        diagnoses_on = modality_mask[:, self.modality_index("diagnoses")]
        procedures_on = modality_mask[:, self.modality_index("procedures")]
        # History: every visit's summed codes through the GRUs (padding rows of the embeddings are 0).
        diagnosis_visits = self.apply_modality("diagnoses", self.dropout(self.diagnosis_embedding(diagnoses).sum(dim=2)), modality_mask)
        procedure_visits = self.apply_modality("procedures", self.dropout(self.procedure_embedding(procedures).sum(dim=2)), modality_mask)
        medication_hot = multi_hot(medications, self.vocab_sizes.medication_rows)  # [B, V, rows], pad column 0
        medication_visits = self.dropout(medication_hot @ self.medication_embedding.weight)
        medication_visits = self.apply_modality("medication-history", medication_visits, modality_mask)
        histories = [
            select_visit(gru(visits)[0], visit_mask)
            for gru, visits in (
                (self.diagnosis_gru, diagnosis_visits),
                (self.procedure_gru, procedure_visits),
                (self.medication_gru, medication_visits),
            )
        ]
        # Current visit: CHARM over its codes (only the current visit: 8x cheaper than every visit slot,
        # and the prescription answers this visit's conditions).
        current_diagnosis_codes = select_visit(diagnoses, visit_mask)  # [B, Cd]
        current_procedure_codes = select_visit(procedures, visit_mask)
        current_diagnoses = self.diagnosis_embedding(current_diagnosis_codes)  # [B, Cd, E]
        current_procedures = self.procedure_embedding(current_procedure_codes)
        if self.charm is not None:
            current_diagnoses, current_procedures, diagnosis_now, procedure_now = self.charm(
                current_diagnoses,
                current_procedures,
                (current_diagnosis_codes != PAD_INDEX).float(),
                (current_procedure_codes != PAD_INDEX).float(),
                diagnoses_on,
                procedures_on,
            )
        else:
            diagnosis_now, procedure_now = current_diagnoses.sum(dim=1), current_procedures.sum(dim=1)
        diagnosis_now = self.apply_modality("diagnoses", self.dropout(diagnosis_now), modality_mask)
        procedure_now = self.apply_modality("procedures", self.dropout(procedure_now), modality_mask)
        health = self.health(torch.cat([*histories, diagnosis_now, procedure_now], dim=-1))  # [B, H]
        return current_diagnoses, current_procedures, health, diagnoses_on, procedures_on

    def _code_weights(self, codes, refined, health, effects, present_on):
        """s_m * w[c, m] for one kind of the current visit's codes [B, C] -> [B, C, D]."""
        weights = effects[codes]  # static effects [B, C, D]; pad and unknown rows are 0
        if self.cwg is not None:
            weights = weights * self.cwg(health, refined)
        return weights * self.causal_scale * present_on.reshape(-1, 1, 1)

    def causal_weights(self, diagnoses, procedures, medications, visit_mask, modality_mask):
        """Patient-specific causal contributions to each drug's logit of the current visit's code slots:
        (diagnosis [B, Cd, D], procedure [B, Cp, D]); 0 for padding, unestimated codes and masked modalities."""
        if not self.uses_causal_effects:
            raise ValueError(f"{type(self).__name__} has no causal effects.")
        refined_diagnoses, refined_procedures, health, diagnoses_on, procedures_on = self._encode(
            diagnoses, procedures, medications, visit_mask, modality_mask
        )
        return self._current_weights(diagnoses, procedures, visit_mask, refined_diagnoses, refined_procedures, health, diagnoses_on, procedures_on)

    def _current_weights(self, diagnoses, procedures, visit_mask, refined_diagnoses, refined_procedures, health, diagnoses_on, procedures_on):
        current_diagnoses = select_visit(diagnoses, visit_mask)  # [B, Cd]
        current_procedures = select_visit(procedures, visit_mask)
        return (
            self._code_weights(current_diagnoses, refined_diagnoses, health, self.diagnosis_effects, diagnoses_on),
            self._code_weights(current_procedures, refined_procedures, health, self.procedure_effects, procedures_on),
        )

    def _code_term(self, codes, refined, health, effects, present_on):
        """_code_weights(...).sum(dim=1) [B, D] for inference: the factors that do not depend on the code
        (2 of the CWG's 2 sigmoid, the drug scale s, the modality column) multiply the [B, D] sum once
        instead of every [B, C, D] term (distributivity: same value, a third fewer passes over [B, C, D])."""
        weights = effects[codes]
        scale = self.causal_scale
        if self.cwg is not None:
            weights = weights * torch.sigmoid(self.cwg.gate(health, refined))
            scale = 2.0 * scale
        # the code sum as a per-sample product: onnxruntime's ReduceSum over the middle axis sums in a
        # batch-size-dependent order, and a patient's probabilities should not depend on its batch
        every_code = torch.ones_like(codes, dtype=weights.dtype).unsqueeze(1)  # [B, 1, C]
        return (every_code @ weights).squeeze(1) * scale * present_on.unsqueeze(1)

    def compute_logits(self, diagnoses, procedures, medications, visit_mask, modality_mask):
        if not self.training:  # the GRUs read visits up to the current one, and padding codes add nothing
            diagnoses, procedures, medications, visit_mask = trim_padding(diagnoses, procedures, medications, visit_mask)
        refined_diagnoses, refined_procedures, health, diagnoses_on, procedures_on = self._encode(
            diagnoses, procedures, medications, visit_mask, modality_mask
        )
        logits = self.output(health)
        if not self.uses_causal_effects:
            return logits
        if self.training:
            diagnosis_weights, procedure_weights = self._current_weights(
                diagnoses, procedures, visit_mask, refined_diagnoses, refined_procedures, health, diagnoses_on, procedures_on
            )
            causal = diagnosis_weights.sum(dim=1) + procedure_weights.sum(dim=1)  # [B, D]
        else:
            causal = self._code_term(
                select_visit(diagnoses, visit_mask), refined_diagnoses, health, self.diagnosis_effects, diagnoses_on
            ) + self._code_term(select_visit(procedures, visit_mask), refined_procedures, health, self.procedure_effects, procedures_on)
        return logits + self.apply_modality("causal-effects", causal, modality_mask)

    def extra_loss(self, batch: "Batch", logits: torch.Tensor) -> torch.Tensor | None:
        return controllable_ddi_loss(batch, logits, self.ddi_adjacency, self.config, self.target_ddi)

    # --- export -------------------------------------------------------------------------------

    def export_extras(self, folder: Path, inputs: tuple[torch.Tensor, ...]) -> dict:
        """causal-effects.json and causal-weights.onnx beside model.onnx (called by export_model_folder)."""
        note = (
            f"DDI-aware loss on the {self.ddi_matrix_name} matrix, steering to a DDI rate of {self.target_ddi:.4f} "
            "(the training visits' own rate unless set)."
        )
        if not self.uses_causal_effects:
            return {"description": note}
        if self.effects is None:
            raise ValueError("CafeMed: export needs the estimated effects; call prepare(train) (the trainer does) first.")
        export_causal_weights(self, inputs, folder / WEIGHTS_FILE)
        write_effects(
            self.effects,
            folder / EFFECTS_FILE,
            patient_weights={
                "file": WEIGHTS_FILE,
                "inputs": "the five inputs of model.onnx",
                "outputs": {name: f"float32 [batch, {slots}, medications]" for name, slots in WEIGHT_OUTPUTS},
                "meaning": "slot c = c-th code of the current visit's row of the diagnoses / procedures input; value = "
                "its contribution to drug m's logit (effect x patient-specific CWG factor x learned drug scale)",
            },
        )
        settings = self.effects.settings
        return {
            "extraFiles": [
                {
                    "file": EFFECTS_FILE,
                    "purpose": "causal effect tables (diagnosis/procedure -> drug, risk differences with standard errors, "
                    "q-values and adjustment sets) estimated from the training visits; format medrec-causal-effects v1",
                },
                {
                    "file": WEIGHTS_FILE,
                    "purpose": "patient-specific causal weights of the current visit's codes for every drug "
                    "(same five inputs as model.onnx; outputs diagnosis_weights, procedure_weights)",
                },
            ],
            "description": (
                f"Causal effects: {ESTIMATOR}; effects with Benjamini-Hochberg q <= {settings.fdr} are the model's constant "
                f"matrices, estimated on {self.effects.visits} training visits in {self.effects.seconds:.1f}s. Assumptions: "
                + "; ".join(ASSUMPTIONS)
                + ". "
                + note
            ),
        }


WEIGHT_OUTPUTS = (("diagnosis_weights", "maxDiagnoses"), ("procedure_weights", "maxProcedures"))


class _CausalWeightsGraph(nn.Module):
    """CafeMed.causal_weights as a module, for the ONNX export of causal-weights.onnx."""

    def __init__(self, model: CafeMed) -> None:
        super().__init__()
        self.model = model

    def forward(self, diagnoses, procedures, medications, visit_mask, modality_mask):
        return self.model.causal_weights(diagnoses, procedures, medications, visit_mask, modality_mask)


def export_causal_weights(model: CafeMed, inputs: tuple[torch.Tensor, ...], path: Path) -> None:
    """Export the patient-specific causal weights (fixed shapes, batch axis dynamic) to ONNX."""
    from ..export import INPUT_NAMES, OPSET  # lazy: export imports the models package

    names = [name for name, _ in WEIGHT_OUTPUTS]
    # The wrapper in eval mode too: the exporter restores the exported module's mode afterwards, recursively,
    # and a wrapper left in training mode put the model back into training mode (dropout on) after the export.
    graph = _CausalWeightsGraph(model).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            graph,
            inputs,
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=names,
            dynamic_axes={name: {0: "batch"} for name in [*INPUT_NAMES, *names]},
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )


class CafeMedWithoutCWG(CafeMed):
    """Ablation: the static effects (times the learned per-drug scale), no patient-specific modulation."""

    display_name = "CafeMed without CWG"
    uses_cwg = False


class CafeMedWithoutCHARM(CafeMed):
    """Ablation: diagnosis and procedure codes summed as they are (no cross-attention, no channel gate)."""

    display_name = "CafeMed without CHARM"
    uses_charm = False


class CafeMedWithoutCausalEffects(CafeMed):
    """Ablation: no effect matrices and no causal-effects modality (CHARM + GRUs + DDI loss only)."""

    display_name = "CafeMed without causal effects"
    drug_modalities = ()
    uses_cwg = False
    uses_causal_effects = False
