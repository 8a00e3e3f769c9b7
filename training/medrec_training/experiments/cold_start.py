"""Cold-start experiment: do diagnosis codes never seen in training still help, through their titles?

    python -m medrec_training.experiments.cold_start [--folds 5] [--hide 0.2] [--no-reference]

20% of the diagnosis vocabulary (fixed seed) is hidden: the model is built and trained on a vocabulary
without those codes, so in every training visit they are 'unknown' (index 1), exactly what the app
feeds for a code outside a model's vocabulary. Patients are split as the harness splits them
(patient-level k-fold, the same seed, the same validation share for early stopping and threshold).
On the test visits whose current visit has at least one hidden code, Jaccard is measured

  * with the text path: hidden codes addressed as new codes whose title embeddings come in the
    extra text table (the computation of model_cold_start.onnx in the app), and
  * without it: hidden codes fed as 'unknown' (what model.onnx, or a model without text, can do),
  * and, unless --no-reference, for a model trained with the codes visible (the ceiling);
and again on the visits where hidden codes are at least half of the current diagnoses.

Writes models/COLD_START.md and models/cold_start.json (or --models-dir) and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ..benchmark import knowledge_loader
from ..datasets import DatasetError
from ..harness import DEFAULT_FOLDS, DEFAULT_SEED, PreparedData, fold_patients, prepare_data, split_description
from ..metrics import evaluate, summarize_folds
from ..models import load_model_class
from ..models.base import ModelConfig
from ..tasks import INDEX_OFFSET, PAD_INDEX, UNKNOWN_INDEX
from ..paths import data_dir, default_database_path, models_dir
from ..tasks import EncodedSamples, Vocabularies, Vocabulary, build_samples
from ..text.building import VocabularyTexts
from ..text.knowledge import TextKnowledge, TextTables, with_tables
from ..training import train_model

HIDDEN_SHARE = 0.2


@dataclass(frozen=True)
class HiddenCodes:
    """The diagnosis entries hidden from training and the model built without them."""

    entries: np.ndarray  # positions in the full diagnosis vocabulary, sorted
    vocabularies: Vocabularies  # the full vocabularies minus the hidden diagnoses
    samples: EncodedSamples  # every sample encoded with the reduced vocabulary (hidden codes -> unknown)
    knowledge: TextKnowledge  # text tables of the reduced vocabulary
    extra_text: np.ndarray  # [len(entries), T]: the hidden codes' title embeddings, in `entries` order
    full_to_cold_start: np.ndarray  # full diagnosis index -> reduced index, or reduced rows + k for hidden entry k


def choose_hidden(vocabulary_size: int, share: float, seed: int) -> np.ndarray:
    count = int(round(share * vocabulary_size))
    return np.sort(np.random.default_rng(seed).permutation(vocabulary_size)[:count])


def hide_diagnoses(data: PreparedData, share: float, seed: int) -> HiddenCodes:
    knowledge = data.knowledge
    if not isinstance(knowledge, TextKnowledge):
        raise DatasetError("The cold-start experiment needs the drug knowledge with vocabulary texts (see benchmark.knowledge_loader).")
    full = data.vocabularies
    hidden = choose_hidden(len(full.diagnosis), share, seed)
    kept = np.setdiff1d(np.arange(len(full.diagnosis)), hidden)
    reduced = Vocabularies(Vocabulary([full.diagnosis.entries[i] for i in kept]), full.procedure, full.medication)
    samples = build_samples(data.cohort.patients, reduced, data.limits)
    if not np.array_equal(samples.patient_ids, data.samples.patient_ids):
        raise AssertionError("hiding diagnoses changed which visits are samples; they must align row for row")

    tables: TextTables = knowledge.tables(log=print)
    rows = np.concatenate([[PAD_INDEX, UNKNOWN_INDEX], kept + INDEX_OFFSET])
    reduced_tables = TextTables(
        tables.diagnosis[rows], tables.procedure, tables.medication, tables.diagnosis_has_text[rows], tables.procedure_has_text, tables.encoder
    )
    reduced_texts = VocabularyTexts(tuple(knowledge.texts.diagnosis[i] for i in kept), knowledge.texts.procedure, knowledge.texts.medication)
    if not tables.diagnosis_has_text[hidden + INDEX_OFFSET].all():
        print(f"note: {int((~tables.diagnosis_has_text[hidden + INDEX_OFFSET]).sum())} hidden code(s) have no title; they stay unknown")

    reduced_rows = len(kept) + INDEX_OFFSET
    mapping = np.zeros(len(full.diagnosis) + INDEX_OFFSET, dtype=np.int64)
    mapping[UNKNOWN_INDEX] = UNKNOWN_INDEX
    mapping[kept + INDEX_OFFSET] = np.arange(len(kept)) + INDEX_OFFSET
    titled = tables.diagnosis_has_text[hidden + INDEX_OFFSET]
    mapping[hidden + INDEX_OFFSET] = np.where(titled, reduced_rows + np.arange(len(hidden)), UNKNOWN_INDEX)
    return HiddenCodes(
        entries=hidden,
        vocabularies=reduced,
        samples=samples,
        knowledge=with_tables(knowledge, reduced_texts, reduced_tables),
        extra_text=tables.diagnosis[hidden + INDEX_OFFSET],
        full_to_cold_start=mapping,
    )


def hidden_share_of_current_visits(samples: EncodedSamples, hidden_entries: np.ndarray) -> np.ndarray:
    """Per sample, the share of the current visit's diagnosis codes that are hidden (0 when it has none)."""
    current = samples.visit_mask.sum(axis=1).astype(np.int64) - 1
    codes = samples.diagnoses[np.arange(len(samples)), current]  # [N, Cd]
    present = codes != PAD_INDEX
    hidden = np.isin(codes, hidden_entries + INDEX_OFFSET)
    return hidden.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


@torch.no_grad()
def probabilities_of(model, samples: EncodedSamples, diagnoses: np.ndarray | None = None, extra: np.ndarray | None = None) -> np.ndarray:
    """Probabilities with every modality present; `diagnoses` replaces the samples' diagnosis indices."""
    model.eval()
    modality_mask = torch.ones(len(samples), len(model.modalities()))
    logits = model.logits_with_new_codes(
        torch.from_numpy(samples.diagnoses if diagnoses is None else diagnoses),
        torch.from_numpy(samples.procedures),
        torch.from_numpy(samples.medications),
        torch.from_numpy(samples.visit_mask),
        modality_mask,
        None if extra is None else torch.from_numpy(extra),
        None,
    )
    return torch.sigmoid(logits).numpy()


def split(samples: EncodedSamples, folds: int, seed: int, fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices (fit, validation, test) of one fold, exactly as the harness splits."""
    rows = lambda patients: np.nonzero(np.isin(samples.patient_ids, patients))[0]  # noqa: E731
    fit_patients, validation_patients, test_patients = fold_patients(samples, folds, seed, fold)
    return rows(fit_patients), rows(validation_patients), rows(test_patients)


def run(arguments: argparse.Namespace) -> int:
    started = time.perf_counter()
    torch.set_num_threads(arguments.threads)
    database = Path(arguments.database) if arguments.database else default_database_path()
    root = Path(arguments.data_dir) if arguments.data_dir else data_dir()
    output = Path(arguments.models_dir) if arguments.models_dir else models_dir()
    folds, seed = arguments.folds, arguments.seed
    data = prepare_data(database, root / "knowledge" / "molecules" / "atc3_smiles.json", folds, knowledge_loader(root))
    if data.knowledge is None:
        raise DatasetError(f"drug knowledge unavailable: {data.knowledge_error}")
    hidden = hide_diagnoses(data, arguments.hide, seed)
    hidden_share = hidden_share_of_current_visits(data.samples, hidden.entries)
    subsets = {"anyHidden": hidden_share > 0, "mostlyHidden": hidden_share >= 0.5}
    print(
        f"Hidden: {len(hidden.entries)} of {len(data.vocabularies.diagnosis)} diagnosis codes (seed {seed}); "
        f"{int(subsets['anyHidden'].sum())} of {len(data.samples)} visits have one in their current visit, "
        f"{int(subsets['mostlyHidden'].sum())} have them as at least half of their diagnoses"
    )
    model_class = load_model_class(arguments.model)
    if not hasattr(model_class, "logits_with_new_codes"):
        print(f"error: {arguments.model} has no text path for new codes", file=sys.stderr)
        return 2
    config = ModelConfig(seed=seed)
    per_fold: list[dict] = []
    for fold in range(folds):
        fold_started = time.perf_counter()
        fit_rows, validation_rows, fold_test_rows = split(data.samples, folds, seed, fold)
        fold_config = config.with_overrides(seed=seed + fold)
        cold = train_model(
            model_class, hidden.vocabularies.sizes(), hidden.knowledge, fold_config,
            hidden.samples.subset(fit_rows), hidden.samples.subset(validation_rows),
        )
        seen = None
        if not arguments.no_reference:
            seen = train_model(
                model_class, data.vocabularies.sizes(), data.knowledge, fold_config,
                data.samples.subset(fit_rows), data.samples.subset(validation_rows),
            )
        result: dict = {"fold": fold, "threshold": cold.threshold}
        for subset, selected in subsets.items():
            test_rows = fold_test_rows[selected[fold_test_rows]]
            test = hidden.samples.subset(test_rows)
            truth, patients, threshold = test.targets, test.patient_ids, cold.threshold
            with_text = hidden.full_to_cold_start[data.samples.diagnoses[test_rows]]
            result[subset] = {
                "withText": evaluate(truth, probabilities_of(cold.model, test, with_text, hidden.extra_text), patients, threshold),
                "withoutText": evaluate(truth, probabilities_of(cold.model, test), patients, threshold),
            }
            if seen is not None:
                result[subset]["seenReference"] = evaluate(
                    truth, probabilities_of(seen.model, data.samples.subset(test_rows)), patients, seen.threshold
                )
        result["seconds"] = time.perf_counter() - fold_started
        per_fold.append(result)
        print(
            f"  fold {fold + 1}/{folds} ({result['seconds']:.1f}s): "
            + "; ".join(
                f"{subset} {int(arms['withText']['visits'])} visits, jaccard "
                + ", ".join(f"{arm} {metrics['jaccard']:.4f}" for arm, metrics in arms.items())
                for subset, arms in ((name, result[name]) for name in subsets)
            )
        )
    summary = {
        subset: {
            arm: {k: v.to_json() for k, v in summarize_folds([f[subset][arm] for f in per_fold]).items()}
            for arm in per_fold[0][subset]
        }
        for subset in subsets
    }
    record = {
        "generatedAt": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "model": arguments.model,
        "database": database.name,
        "split": split_description(folds, seed),
        "hidden": {"share": arguments.hide, "seed": seed, "codes": len(hidden.entries), "of": len(data.vocabularies.diagnosis)},
        "textEncoder": hidden.knowledge.tables().encoder,
        "summary": summary,
        "folds": per_fold,
        "seconds": time.perf_counter() - started,
    }
    output.mkdir(parents=True, exist_ok=True)
    (output / "cold_start.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    (output / "COLD_START.md").write_text(render_markdown(record), encoding="utf-8")
    print(render_markdown(record))
    return 0


def render_markdown(record: dict) -> str:
    labels = {
        "withText": "Hidden codes through their titles (text path, model_cold_start.onnx)",
        "withoutText": "Hidden codes as 'unknown' (no text path, model.onnx)",
        "seenReference": "Reference: model trained with the codes visible",
    }
    subsets = {
        "anyHidden": "Test visits with at least one hidden diagnosis code",
        "mostlyHidden": "Test visits where hidden codes are at least half of the diagnosis codes",
    }
    hidden = record["hidden"]
    lines = [
        "# Cold start: diagnosis codes never seen in training",
        "",
        f"Generated {record['generatedAt']} by `python -m medrec_training.experiments.cold_start` ({record['model']}, `{record['database']}`).",
        "",
        f"- Hidden: {hidden['codes']} of {hidden['of']} diagnosis vocabulary codes ({int(hidden['share'] * 100)}%, seed {hidden['seed']}), "
        "unknown (index 1) in every training and validation visit.",
        f"- Split: {record['split']}.",
        "- Evaluated: the test visits whose current visit has hidden diagnosis codes (two subsets below); the same trained "
        "models for every arm of a subset; mean ± 95% t half-width over folds.",
        f"- Text encoder: {record['textEncoder']}",
    ]
    for subset, arms in record["summary"].items():
        lines += ["", f"## {subsets[subset]}", "", "| Arm | Jaccard | F1 | PRAUC | #meds | visits per fold |", "|---|---|---|---|---|---|"]
        lines += [_row(labels[arm], summary) for arm, summary in arms.items()]
    lines += ["", f"Total time {record['seconds']:.0f}s.", ""]
    return "\n".join(lines)


def _row(label: str, summary: dict) -> str:

    def cell(name: str, digits: int = 4) -> str:
        if name not in summary:
            return "–"
        interval = summary[name]
        half = "" if interval["ci95"] is None else f" ± {(interval['ci95'][1] - interval['ci95'][0]) / 2:.{digits}f}"
        return f"{interval['mean']:.{digits}f}{half}"

    return f"| {label} | {cell('jaccard')} | {cell('f1')} | {cell('prauc')} | {cell('meds', 2)} | {cell('visits', 0)} |"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m medrec_training.experiments.cold_start", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="patient database (default: MEDREC_DB or resources/demo.sqlite)")
    parser.add_argument("--data-dir", help="open data folder (default: MEDREC_DATA_DIR or ../shared/data)")
    parser.add_argument("--models-dir", help="where COLD_START.md and cold_start.json go (default: MEDREC_MODELS_DIR or models/)")
    parser.add_argument("--model", default="nla-mmr", help="a registered model with a text path (default nla-mmr)")
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--hide", type=float, default=HIDDEN_SHARE, help="share of diagnosis codes hidden from training (default 0.2)")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference model trained with the codes visible")
    parser.add_argument("--threads", type=int, default=1)
    arguments = parser.parse_args(argv)
    if not 0 < arguments.hide < 1:
        parser.error(f"--hide must be between 0 and 1, got {arguments.hide}")
    if arguments.folds < 2:
        parser.error(f"--folds must be at least 2, got {arguments.folds}")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        return run(arguments)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
