"""Per-visit scores of a shipped model on a patient database, computed the benchmark harness's way.

The visits are the harness's samples (tasks.build_samples: every visit with at least one medication in the
model's vocabulary, history = the patient's earlier visits), encoded by tasks.encode_history with the
model's manifest vocabularies and limits, run through onnxruntime (Python), thresholded at the manifest's
threshold and scored by metrics.set_scores / metrics.average_precision; the aggregate is metrics.evaluate.
The app's `medrec evaluate` must give the same per-visit Jaccard (tests/unit/evaluate-parity.test.ts).

    python -m medrec_training.evaluation.visit_scores --database resources/demo.sqlite --model-dir models/logistic [--model-dir ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .. import metrics
from ..calibration import Calibration
from ..datasets import load_cohort
from ..tasks import Limits, Vocabularies, Vocabulary, VocabularyEntry, encode_history, medication_target


def vocabularies_of(manifest: dict) -> Vocabularies:
    def vocabulary(kind: str) -> Vocabulary:
        return Vocabulary([VocabularyEntry(e["system"], e["code"]) for e in manifest["vocabularies"][kind]["entries"]])

    return Vocabularies(vocabulary("diagnosis"), vocabulary("procedure"), vocabulary("medication"))


def limits_of(manifest: dict) -> Limits:
    limits = manifest["limits"]
    return Limits(limits["maxVisits"], limits["maxDiagnoses"], limits["maxProcedures"], limits["maxMedications"])


def visit_scores(database: Path, model_dir: Path, batch_size: int = 256, cohort=None) -> dict:
    import onnxruntime

    manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
    vocabularies = vocabularies_of(manifest)
    limits = limits_of(manifest)
    threshold = float(manifest["threshold"])
    modality_count = len(manifest["modalities"])
    session = onnxruntime.InferenceSession(str(model_dir / manifest["onnx"]["file"]), providers=["CPUExecutionProvider"])

    visit_ids: list[int] = []
    patient_ids: list[int] = []
    inputs: list[tuple] = []
    targets: list[np.ndarray] = []
    for patient in (cohort or load_cohort(database)).patients:
        for position, visit in enumerate(patient.visits):
            target = medication_target(visit, vocabularies.medication)
            if not target.any():
                continue
            *arrays, _unknown = encode_history(patient.visits[: position + 1], vocabularies, limits)
            inputs.append(tuple(arrays))
            targets.append(target)
            visit_ids.append(visit.visit_id)
            patient_ids.append(patient.patient_id)

    probabilities = []
    for start in range(0, len(inputs), batch_size):
        rows = inputs[start : start + batch_size]
        feeds = {
            "diagnoses": np.stack([r[0] for r in rows]),
            "procedures": np.stack([r[1] for r in rows]),
            "medications": np.stack([r[2] for r in rows]),
            "visit_mask": np.stack([r[3] for r in rows]),
            "modality_mask": np.ones((len(rows), modality_count), dtype=np.float32),
        }
        probabilities.append(session.run(["probabilities"], feeds)[0])
    scores = np.concatenate(probabilities) if probabilities else np.zeros((0, len(vocabularies.medication)), np.float32)
    if "calibration" in manifest and len(scores):
        # The app calibrates every output (the threshold is on that scale) and keeps float32, as here.
        document = json.loads((model_dir / manifest["calibration"]["file"]).read_text(encoding="utf-8"))
        scores = Calibration.from_json(document).apply(scores).astype(np.float32)
    truth = np.stack(targets) if targets else np.zeros((0, len(vocabularies.medication)), np.float32)

    visits = []
    for row, (visit_id, patient_id) in enumerate(zip(visit_ids, patient_ids)):
        predicted = scores[row] >= threshold
        set_scores = metrics.set_scores(truth[row] > 0.5, predicted)
        visits.append(
            {
                "visitId": visit_id,
                "patientId": patient_id,
                "jaccard": set_scores["jaccard"],
                "f1": set_scores["f1"],
                "recall": set_scores["recall"],
                "prauc": metrics.average_precision(truth[row] > 0.5, scores[row]),
            }
        )
    return {
        "model": manifest["id"],
        "threshold": threshold,
        "visits": visits,
        "summary": metrics.evaluate(truth, scores, np.asarray(patient_ids), threshold),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, action="append", required=True, help="repeatable")
    args = parser.parse_args(argv)
    cohort = load_cohort(args.database)
    json.dump([visit_scores(args.database, folder, cohort=cohort) for folder in args.model_dir], sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
