"""Two-stage (class, then drug) recommendation evaluated at drug level on the benchmark's test folds.

Stage 1: a class model (default: the shipped logistic regression) trained on each fold's training patients, its
threshold chosen on the fold's validation patients. Stage 2: each predicted class resolved to one drug (ATC5) the way
the app does it, minus the current visit's own drugs (they are the target): the drug(s) of the most recent earlier
visit with the class, else the within-class choice (drug_choice.py) fitted on the fold's training patients.

Printed per variant, mean and 95% t-interval over the folds (each fold: mean over visits, then over patients):
drug-level (ATC5) Jaccard and F1 against the visit's ATC5-mapped prescriptions, and the share of drug pairs in the
recommended lists that interact at Major or above in the app's knowledge base (DDInter drug pairs and the curated
table), beside the recorded prescriptions' own rate.

    cd training && python -m medrec_training.two_stage [--model logistic]
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from .drug_choice import ATC5, DrugChoiceModel, VisitDrugs, code_key, ranked
from .harness import DEFAULT_FOLDS, DEFAULT_SEED, _samples_of, fold_patients, prepare_data, split_description
from .metrics import confidence_interval
from .models import load_model_class
from .models.base import ModelConfig
from .paths import default_database_path, project_root
from .training import predict, train_model

BLOCKING = ("Major", "Contraindicated")


def visit_drugs(database: Path) -> tuple[dict[int, VisitDrugs], dict[int, list[int]]]:
    """Every visit's codes and ATC5 members by class (visits without ATC5 drugs too), and each patient's visits in order."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        codes: dict[int, list[str]] = defaultdict(list)
        for table, kind in (("diagnoses", "d"), ("procedures", "p")):
            for visit_id, system, code in connection.execute(f"SELECT visit_id, code_system, code FROM {table} ORDER BY visit_id, seq, code"):
                codes[visit_id].append(code_key(kind, system, code))
        members: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for visit_id, atc5 in connection.execute("SELECT visit_id, upper(trim(atc5)) FROM medications WHERE atc5 IS NOT NULL"):
            if atc5 and ATC5.match(atc5):
                members[visit_id][atc5[:4]].add(atc5)
        visits: dict[int, VisitDrugs] = {}
        order: dict[int, list[int]] = defaultdict(list)
        for visit_id, patient_id in connection.execute("SELECT id, patient_id FROM visits ORDER BY patient_id, sort_key, id"):
            visits[visit_id] = VisitDrugs(patient_id, tuple(dict.fromkeys(codes.get(visit_id, []))), {c: frozenset(m) for c, m in members.get(visit_id, {}).items()})
            order[patient_id].append(visit_id)
        return visits, order
    finally:
        connection.close()


def blocking_pairs(knowledge_base: Path) -> set[tuple[str, str]]:
    """ATC5 pairs with a Major/contraindicated drug pair in the app's knowledge base (any source)."""
    connection = sqlite3.connect(f"file:{knowledge_base}?mode=ro", uri=True)
    try:
        pairs: set[tuple[str, str]] = set()
        rows = connection.execute(
            f"""SELECT a.atc5, b.atc5 FROM drug_pairs p
                JOIN drug_atc a ON a.drug_id = p.drug_a JOIN drug_atc b ON b.drug_id = p.drug_b
                WHERE p.severity IN ({",".join("?" * len(BLOCKING))})""",
            BLOCKING,
        )
        for x, y in rows:
            if x != y:
                pairs.add((min(x, y), max(x, y)))
        return pairs
    finally:
        connection.close()


def set_scores(predicted: set[str], actual: set[str]) -> tuple[float, float]:
    union = predicted | actual
    hits = len(predicted & actual)
    jaccard = hits / len(union) if union else 0.0
    precision = hits / len(predicted) if predicted else 0.0
    recall = hits / len(actual) if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return jaccard, f1


def interacting_share(drugs: set[str], pairs: set[tuple[str, str]]) -> float:
    ordered = sorted(drugs)
    total = len(ordered) * (len(ordered) - 1) // 2
    if total == 0:
        return 0.0
    hits = sum((a, b) in pairs for i, a in enumerate(ordered) for b in ordered[i + 1 :])
    return hits / total


def per_patient_mean(values: list[float], patients: list[int]) -> float:
    by_patient: dict[int, list[float]] = defaultdict(list)
    for value, patient in zip(values, patients):
        by_patient[patient].append(value)
    return float(np.mean([np.mean(v) for v in by_patient.values()])) if by_patient else float("nan")


def evaluate(database: Path, knowledge_base: Path, model_id: str, folds: int, seed: int) -> dict:
    data = prepare_data(database, folds=folds)
    visits, order = visit_drugs(database)
    pairs = blocking_pairs(knowledge_base)
    classes = data.vocabularies.medication.codes()
    model_class = load_model_class(model_id)
    rows: list[dict[str, float]] = []
    for fold in range(folds):
        fit_patients, validation_patients, test_patients = fold_patients(data.samples, folds, seed, fold)
        fit = train_model(
            model_class,
            data.vocabularies.sizes(),
            data.knowledge,
            ModelConfig(seed=seed + fold),
            _samples_of(data.samples, fit_patients),
            _samples_of(data.samples, validation_patients),
        )
        test = _samples_of(data.samples, test_patients)
        probabilities = predict(fit.model, test)
        training_set = set(np.concatenate([fit_patients, validation_patients]).tolist())
        choice = DrugChoiceModel.fit([v for v in visits.values() if v.patient_id in training_set and v.members])
        scores: dict[str, list[float]] = defaultdict(list)
        patients: list[int] = []
        for row in range(len(test)):
            patient = int(test.patient_ids[row])
            visit = visits[order[patient][int(test.history_lengths[row])]]
            actual = {m for members in visit.members.values() for m in members}
            if not actual:
                continue  # no ATC5-mapped prescription to compare drugs with
            patients.append(patient)
            predicted_classes = [classes[i] for i in np.nonzero(probabilities[row] >= fit.threshold)[0]]
            earlier = [visits[v] for v in order[patient][: int(test.history_lengths[row])]]
            variants: dict[str, set[str]] = {"frequency": set(), "conditioned": set(), "history+conditioned": set()}
            for atc3 in predicted_classes:
                frequency = ranked(choice.frequency(atc3))
                conditioned = ranked(choice.conditioned(atc3, visit.codes))
                if frequency:
                    variants["frequency"].add(frequency[0])
                if conditioned:
                    variants["conditioned"].add(conditioned[0])
                before = next((e.members[atc3] for e in reversed(earlier) if atc3 in e.members), None)
                if before:
                    variants["history+conditioned"] |= set(before)
                elif conditioned:
                    variants["history+conditioned"].add(conditioned[0])
            for name, predicted in variants.items():
                jaccard, f1 = set_scores(predicted, actual)
                scores[f"{name} jaccard"].append(jaccard)
                scores[f"{name} f1"].append(f1)
                scores[f"{name} ddi-major"].append(interacting_share(predicted, pairs))
            scores["recorded ddi-major"].append(interacting_share(actual, pairs))
        rows.append({name: per_patient_mean(values, patients) for name, values in scores.items()})
        print(f"  fold {fold + 1}/{folds}: threshold {fit.threshold:.2f}, {len(patients)} test visits with ATC5 drugs", flush=True)
    summary = {name: confidence_interval([row[name] for row in rows]) for name in rows[0]}
    return {"summary": summary, "split": split_description(folds, seed), "model": model_id}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", type=Path, default=default_database_path())
    parser.add_argument("--knowledge-base", type=Path, default=project_root() / "resources" / "knowledge.sqlite")
    parser.add_argument("--model", default="logistic")
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    arguments = parser.parse_args(argv)
    started = time.perf_counter()
    result = evaluate(arguments.database, arguments.knowledge_base, arguments.model, arguments.folds, arguments.seed)
    print(f"Two-stage drug-level evaluation of {result['model']}, {result['split']} ({time.perf_counter() - started:.0f} s):")
    print("| Variant (stage 2) | ATC5 Jaccard | ATC5 F1 | Major+ DDI share of drug pairs |")
    print("|---|---|---|---|")
    summary = result["summary"]
    for name in ("frequency", "conditioned", "history+conditioned"):
        print(f"| {name} | {summary[f'{name} jaccard'].format()} | {summary[f'{name} f1'].format()} | {summary[f'{name} ddi-major'].format()} |")
    print(f"| recorded prescriptions | – | – | {summary['recorded ddi-major'].format()} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
