"""Within-class drug choice: which member drug (ATC level 5) of a recommended ATC level-3 class to prescribe.

The models predict classes; a clinician prescribes drugs. This module learns, from training visits only, how
often each member of a class was the one given, optionally conditioned on the visit's diagnosis and procedure
codes, and exports one small JSON artefact (models/drug-choice/) that the app reads for every model.

One artefact for all models, not one per model folder: the member distribution depends only on the
prescriptions of the training patients, never on which class model recommended the class, so every model
would ship the identical file; one copy keeps them from drifting apart and lets a hospital refit it alone.

Two estimators, both fitted on the training folds:

- frequency baseline: P(m | c) = (n_c(m) + alpha) / (sum_m' n_c(m') + alpha |M_c|), where n_c(m) counts the
  training visits in which class c was given as member m, and M_c the members seen in training.
- code-conditioned (mixture with back-off): for the visit's codes K with at least `min_support` training visits
  of class c, P(m | c, K) = mean over k in K of (n_ck(m) + beta P(m | c)) / (n_ck + beta); with no such code it
  is P(m | c). beta is chosen on each fold's validation patients (top-1 accuracy); the shipped artefact uses the
  median of the folds' choices.

The TypeScript side (src/main/services/recommend/drug-choice-model.ts) computes the same formula from the
stored counts; drug-choice-parity.json holds example queries with the probabilities computed here, which a unit test
checks there.

    cd training && python -m medrec_training.drug_choice            # evaluate on the 5 folds, write models/drug-choice/
    cd training && python -m medrec_training.drug_choice --no-write # evaluate only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sqlite3
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .harness import DEFAULT_FOLDS, DEFAULT_SEED, fold_patients, prepare_data, split_description
from .metrics import confidence_interval
from .paths import default_database_path, models_dir

ATC5 = re.compile(r"^[A-Z]\d\d[A-Z]{2}\d\d$")
DEFAULT_ALPHA = 0.5
DEFAULT_MIN_SUPPORT = 5
BETA_GRID = (1.0, 3.0, 10.0, 30.0)
ARTEFACT_FILE = "drug-choice.json"
PARITY_FILE = "drug-choice-parity.json"  # not parity.json: that name marks an ONNX model folder for the parity tests


@dataclass(frozen=True)
class VisitDrugs:
    """One visit with at least one ATC5-mapped medication."""

    patient_id: int
    codes: tuple[str, ...]  # "d:<system>:<code>" diagnoses and "p:<system>:<code>" procedures
    members: dict[str, frozenset[str]]  # ATC3 class -> distinct ATC5 members given in the visit


def code_key(kind: str, system: str, code: str) -> str:
    """The key both sides use for a visit's code: 'd' or 'p', the code system and the code as stored."""
    return f"{kind}:{system}:{code}"


def load_visits(database: Path) -> list[VisitDrugs]:
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
        visits = []
        for visit_id, patient_id in connection.execute("SELECT id, patient_id FROM visits ORDER BY patient_id, sort_key, id"):
            if visit_id in members:
                visits.append(
                    VisitDrugs(
                        patient_id,
                        tuple(dict.fromkeys(codes.get(visit_id, []))),
                        {c: frozenset(m) for c, m in members[visit_id].items()},
                    )
                )
        return visits
    finally:
        connection.close()


@dataclass
class ClassCounts:
    visits: int = 0
    members: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    codes: dict[str, "ClassCounts"] = field(default_factory=dict)


@dataclass
class DrugChoiceModel:
    alpha: float
    beta: float
    min_support: int
    classes: dict[str, ClassCounts]

    @staticmethod
    def fit(visits: list[VisitDrugs], alpha: float = DEFAULT_ALPHA, beta: float = 10.0, min_support: int = DEFAULT_MIN_SUPPORT) -> "DrugChoiceModel":
        classes: dict[str, ClassCounts] = defaultdict(ClassCounts)
        for visit in visits:
            for atc3, given in visit.members.items():
                counts = classes[atc3]
                counts.visits += 1
                for member in given:
                    counts.members[member] += 1
                for key in visit.codes:
                    by_code = counts.codes.setdefault(key, ClassCounts())
                    by_code.visits += 1
                    for member in given:
                        by_code.members[member] += 1
        # Codes seen in fewer than min_support visits of the class carry no reliable signal: dropped here, so the
        # artefact stays small and both sides back off the same way.
        for counts in classes.values():
            counts.codes = {k: v for k, v in counts.codes.items() if v.visits >= min_support}
        return DrugChoiceModel(alpha, beta, min_support, dict(classes))

    def frequency(self, atc3: str) -> dict[str, float]:
        counts = self.classes.get(atc3)
        if counts is None or not counts.members:
            return {}
        total = sum(counts.members.values()) + self.alpha * len(counts.members)
        return {m: (n + self.alpha) / total for m, n in counts.members.items()}

    def conditioned(self, atc3: str, codes: tuple[str, ...]) -> dict[str, float]:
        prior = self.frequency(atc3)
        counts = self.classes.get(atc3)
        if not prior or counts is None:
            return prior
        used = [counts.codes[k] for k in dict.fromkeys(codes) if k in counts.codes]
        if not used:
            return prior
        result = dict.fromkeys(prior, 0.0)
        for by_code in used:
            for member, p in prior.items():
                result[member] += (by_code.members.get(member, 0) + self.beta * p) / (by_code.visits + self.beta)
        # Each component sums to (sum_m n_ck(m) + beta) / (n_ck + beta), which exceeds 1 when a visit had several
        # members of the class: renormalise so the list reads as a distribution over members.
        total = sum(result.values())
        return {m: v / total for m, v in result.items()}

    def to_json(self) -> dict:
        def members(counts: ClassCounts) -> dict[str, int]:
            return dict(sorted(counts.members.items(), key=lambda item: (-item[1], item[0])))

        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "minSupport": self.min_support,
            "classes": {
                atc3: {
                    "visits": counts.visits,
                    "members": members(counts),
                    "codes": {key: {"visits": c.visits, "members": members(c)} for key, c in sorted(counts.codes.items())},
                }
                for atc3, counts in sorted(self.classes.items())
            },
        }


def ranked(distribution: dict[str, float]) -> list[str]:
    return [m for m, _ in sorted(distribution.items(), key=lambda item: (-item[1], item[0]))]


def accuracy(model: DrugChoiceModel, visits: list[VisitDrugs], conditioned: bool) -> dict[str, float]:
    """Top-1 and top-3 accuracy over (visit, class) pairs whose class the model has members for.

    A hit: a ranked member among the first k is one of the members actually given in that visit's class.
    """
    top1 = top3 = n = 0
    for visit in visits:
        for atc3, given in visit.members.items():
            distribution = model.conditioned(atc3, visit.codes) if conditioned else model.frequency(atc3)
            if not distribution:
                continue
            order = ranked(distribution)
            n += 1
            top1 += order[0] in given
            top3 += any(m in given for m in order[:3])
    return {"top1": top1 / n if n else float("nan"), "top3": top3 / n if n else float("nan"), "pairs": float(n)}


def evaluate(database: Path, folds: int, seed: int) -> dict:
    data = prepare_data(database, folds=folds)
    visits = load_visits(database)
    per_fold = []
    betas = []
    for fold in range(folds):
        fit_patients, validation_patients, test_patients = fold_patients(data.samples, folds, seed, fold)
        fit_set, validation_set, test_set = set(fit_patients.tolist()), set(validation_patients.tolist()), set(test_patients.tolist())
        fit = [v for v in visits if v.patient_id in fit_set]
        validation = [v for v in visits if v.patient_id in validation_set]
        test = [v for v in visits if v.patient_id in test_set]
        scores = {beta: accuracy(DrugChoiceModel.fit(fit, beta=beta), validation, conditioned=True)["top1"] for beta in BETA_GRID}
        beta = max(BETA_GRID, key=lambda b: (scores[b], -b))
        betas.append(beta)
        model = DrugChoiceModel.fit(fit + validation, beta=beta)
        baseline = accuracy(model, test, conditioned=False)
        chosen = accuracy(model, test, conditioned=True)
        per_fold.append(
            {
                "fold": fold,
                "beta": beta,
                "testPairs": int(chosen["pairs"]),
                "frequencyTop1": baseline["top1"],
                "frequencyTop3": baseline["top3"],
                "conditionedTop1": chosen["top1"],
                "conditionedTop3": chosen["top3"],
            }
        )
    summary = {
        key: confidence_interval([f[key] for f in per_fold]).to_json()
        for key in ("frequencyTop1", "frequencyTop3", "conditionedTop1", "conditionedTop3")
    }
    return {"folds": per_fold, "summary": summary, "beta": float(statistics.median(betas)), "split": split_description(folds, seed)}


def parity_examples(model: DrugChoiceModel, visits: list[VisitDrugs], count: int = 12) -> list[dict]:
    """Example queries (class and codes) with the probabilities computed here, for the TypeScript parity test."""
    rng = np.random.default_rng(7)
    examples = []
    for index in rng.choice(len(visits), size=min(count, len(visits)), replace=False):
        visit = visits[int(index)]
        atc3 = sorted(visit.members)[0]
        examples.append({"atc3": atc3, "codes": list(visit.codes), "probabilities": model.conditioned(atc3, visit.codes)})
    examples.append({"atc3": "ZZZZ", "codes": [], "probabilities": {}})
    return examples


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_artefact(database: Path, output: Path, evaluation: dict) -> Path:
    visits = load_visits(database)
    model = DrugChoiceModel.fit(visits, beta=evaluation["beta"])
    output.mkdir(parents=True, exist_ok=True)
    artefact = output / ARTEFACT_FILE
    artefact.write_text(json.dumps(model.to_json(), separators=(",", ":")) + "\n")
    parity = output / PARITY_FILE
    parity.write_text(json.dumps({"examples": parity_examples(model, visits)}, indent=1) + "\n")
    patients = len({v.patient_id for v in visits})
    manifest = {
        "artefact": "drug-choice",
        "schemaVersion": 1,
        "version": "0.1.0",
        "createdAt": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "description": (
            "Within-class drug choice shared by every class model: for an ATC level-3 class, its member drugs (ATC "
            "level 5) ranked by how often training visits that got the class were given each, conditioned on the "
            "visit's diagnosis and procedure codes with back-off to the class frequency (training/medrec_training/drug_choice.py)."
        ),
        "whyShared": (
            "The member distribution depends only on the training prescriptions, not on the class model, so every model "
            "folder would hold the same file; one copy cannot drift between models and can be refitted on its own."
        ),
        "file": {"file": ARTEFACT_FILE, "sha256": sha256(artefact)},
        "parity": {"file": PARITY_FILE, "sha256": sha256(parity)},
        "estimator": {"alpha": model.alpha, "beta": model.beta, "minSupport": model.min_support, "betaChosenOn": "validation patients of each fold (median of the fold choices)"},
        "provenance": {
            "sources": [
                {"name": "MIMIC-IV Clinical Database Demo v2.2 (PhysioNet)", "license": "Open Database License (ODbL) 1.0", "url": "https://physionet.org/content/mimic-iv-demo/2.2/"},
                {"name": "eICU Collaborative Research Database Demo v2.0.1 (PhysioNet)", "license": "Open Database License (ODbL) 1.0", "url": "https://physionet.org/content/eicu-crd-demo/2.0.1/"},
                {"name": "WHO Anatomical Therapeutic Chemical (ATC) classification index", "license": "CC BY-NC-SA 4.0 (non-commercial use only)", "url": "https://atcddd.fhi.no/atc_ddd_index/"},
            ],
            "attribution": "Contains information from the MIMIC-IV Clinical Database Demo and the eICU Collaborative Research Database Demo, which are made available under the ODC Open Database License (ODbL). The counts are a produced work of these databases.",
            "database": database.name,
            "split": evaluation["split"],
            "trainedOn": f"all {patients} patients with an ATC5-mapped medication ({len(visits)} visits), after evaluation on the folds",
        },
        "evaluation": {"summary": evaluation["summary"], "folds": evaluation["folds"]},
    }
    (output / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", type=Path, default=default_database_path())
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--output", type=Path, default=models_dir() / "drug-choice")
    parser.add_argument("--no-write", action="store_true", help="evaluate only")
    arguments = parser.parse_args(argv)
    started = time.perf_counter()
    evaluation = evaluate(arguments.database, arguments.folds, arguments.seed)
    print(f"Within-class drug choice, {evaluation['split']} ({time.perf_counter() - started:.1f} s):")
    for key, interval in evaluation["summary"].items():
        low, high = interval["ci95"] or (float("nan"), float("nan"))
        print(f"  {key:16s} {interval['mean']:.4f}  95% CI [{low:.4f}, {high:.4f}]")
    print(f"  beta per fold: {[f['beta'] for f in evaluation['folds']]}; shipped beta {evaluation['beta']}")
    if not arguments.no_write:
        folder = write_artefact(arguments.database, arguments.output, evaluation)
        print(f"Wrote {folder} ({(folder / ARTEFACT_FILE).stat().st_size / 1024:.0f} KiB artefact)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
