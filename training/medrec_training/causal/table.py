"""The effect table shipped beside a CafeMed model: causal-effects.json (format "medrec-causal-effects", version 1).

Rows and columns are positions in the model's manifest vocabularies (no code strings are repeated
here): `entry` i of a diagnosis block is manifest.vocabularies.diagnosis.entries[i] (model input
index i + 2), drug column m is manifest.vocabularies.medication.entries[m] (output column m).

    {
      "format": "medrec-causal-effects", "formatVersion": 1,
      "scale": "risk difference",                 effects are differences of probabilities, in [-1, 1]
      "estimand": "...", "estimator": "...", "assumptions": ["..."],
      "settings": {...EffectSettings},            thresholds of the estimation (fdr: the model's cut-off)
      "visits": 1428,                              training visits the effects were estimated on
      "seconds": 9.9, "independenceTests": 5756,
      "medications": 139,                         number of drug columns (must equal the manifest's)
      "diagnosis": {                              the same layout under "procedure"
        "entries": 1258,                          vocabulary size (must equal the manifest's)
        "codes": [                                only codes whose effects were estimated
          {"entry": 17, "treatedVisits": 64,
           "adjustment": [{"kind": "procedure", "entry": 3}, ...],      the adjustment set Z
           "drugs": [0, 4, ...],                  estimated drug columns, with per drug:
           "effect": [...], "standardError": [...], "q": [...], "crude": [...],
           "used": [1, 0, ...]}                   1 = q <= settings.fdr: in the model's constant matrix
        ]
      },
      "patientWeights": {"file": "causal-weights.onnx", ...}   how to get patient-specific weights
    }

Patient-specific weights: causal-weights.onnx takes the model's five inputs and returns
`diagnosis_weights` [batch, maxDiagnoses, medications] and `procedure_weights` [batch,
maxProcedures, medications]: slot c is the c-th code of the current (last real) visit's row of
the diagnoses / procedures input, value = that code's contribution to drug m's logit (the effect
times the CWG's patient-specific factor times the learned drug scale); 0 for padding, codes without
a used effect and masked modalities.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .effects import CODE_KINDS, CausalEffects, CodeEffects, CodeKind, EffectSettings

FORMAT = "medrec-causal-effects"
FORMAT_VERSION = 1

ESTIMAND = (
    "average effect on the treated: for visits where the code is recorded, the difference between the "
    "probability of the drug and the probability it would have had without the code, at the same visit"
)
ESTIMATOR = (
    "doubly robust effect on the treated (propensity-odds-weighted ridge outcome regression, Robins et al. 2007), "
    "adjusting for the code's PC-simple neighbourhood among frequent codes (causal-learn G-squared tests), five "
    "principal components of the visit's codes and severity covariates; Benjamini-Hochberg FDR over all pairs"
)
ASSUMPTIONS = (
    "conditional exchangeability: the adjustment set, the code profile components and the severity covariates "
    "capture every common cause of the code and the drug (age, vitals, labs and hospital are not in the data)",
    "diagnoses and procedures of a visit precede and are not caused by its drugs",
    "positivity: untreated visits comparable to the treated exist (propensities clipped; twin and implying codes "
    "are not adjusted for)",
    "estimated from the training visits only, each visit's current codes and drugs; rare codes and drugs are not "
    "estimated",
)


def _rounded(values: np.ndarray, digits: int = 5) -> list[float]:
    return [round(float(v), digits) for v in values]


def _code_block(effects: CodeEffects, fdr: float) -> dict[str, Any]:
    codes = []
    for entry in np.nonzero(effects.estimated.any(axis=1))[0]:
        drugs = np.nonzero(effects.estimated[entry])[0]
        codes.append(
            {
                "entry": int(entry),
                "treatedVisits": int(effects.treated_visits[entry]),
                "adjustment": [{"kind": kind, "entry": int(index)} for kind, index in effects.adjustment.get(int(entry), [])],
                "drugs": [int(m) for m in drugs],
                "effect": _rounded(effects.effect[entry, drugs]),
                "standardError": _rounded(effects.standard_error[entry, drugs]),
                "q": _rounded(effects.q_value[entry, drugs]),
                "crude": _rounded(effects.crude[entry, drugs]),
                "used": [int(q <= fdr) for q in effects.q_value[entry, drugs]],
            }
        )
    return {"entries": int(effects.effect.shape[0]), "codes": codes}


def effects_document(effects: CausalEffects, patient_weights: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document of an estimation (see the module docstring)."""
    document: dict[str, Any] = {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "scale": "risk difference",
        "estimand": ESTIMAND,
        "estimator": ESTIMATOR,
        "assumptions": list(ASSUMPTIONS),
        "settings": effects.settings.to_json(),
        "visits": effects.visits,
        "seconds": round(effects.seconds, 3),
        "independenceTests": effects.tests,
        "medications": int(effects.diagnosis.effect.shape[1]),
        **{kind: _code_block(effects.of(kind), effects.settings.fdr) for kind in CODE_KINDS},
    }
    if patient_weights:
        document["patientWeights"] = patient_weights
    return document


def write_effects(effects: CausalEffects, path: Path, patient_weights: dict[str, Any] | None = None) -> None:
    path.write_text(json.dumps(effects_document(effects, patient_weights), ensure_ascii=False) + "\n", encoding="utf-8")


def read_effects(path: Path) -> CausalEffects:
    """Read a causal-effects.json back (values rounded to 5 decimals); clear errors name the file and field."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from error
    if document.get("format") != FORMAT or document.get("formatVersion") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: expected format {FORMAT!r} version {FORMAT_VERSION}, got {document.get('format')!r} "
            f"version {document.get('formatVersion')!r}"
        )
    drugs = int(document["medications"])
    settings = EffectSettings(**document["settings"])

    def block(kind: CodeKind) -> CodeEffects:
        section = document[kind]
        rows = int(section["entries"])
        result = CodeEffects(
            effect=np.zeros((rows, drugs), np.float32),
            standard_error=np.zeros((rows, drugs), np.float32),
            q_value=np.ones((rows, drugs), np.float32),
            crude=np.zeros((rows, drugs), np.float32),
            estimated=np.zeros((rows, drugs), bool),
            treated_visits=np.zeros(rows, np.int64),
            adjustment={},
        )
        for position, code in enumerate(section["codes"]):
            entry, columns = int(code["entry"]), np.asarray(code["drugs"], dtype=np.int64)
            if not 0 <= entry < rows or (len(columns) and not (0 <= columns.min() and columns.max() < drugs)):
                raise ValueError(f"{path}: {kind}.codes[{position}] refers to entry {entry} or drugs outside {rows} x {drugs}")
            result.effect[entry, columns] = code["effect"]
            result.standard_error[entry, columns] = code["standardError"]
            result.q_value[entry, columns] = code["q"]
            result.crude[entry, columns] = code["crude"]
            result.estimated[entry, columns] = True
            result.treated_visits[entry] = int(code["treatedVisits"])
            result.adjustment[entry] = [(item["kind"], int(item["entry"])) for item in code["adjustment"]]
        return result

    return CausalEffects(
        diagnosis=block("diagnosis"),
        procedure=block("procedure"),
        settings=settings,
        visits=int(document["visits"]),
        seconds=float(document["seconds"]),
        tests=int(document["independenceTests"]),
    )
