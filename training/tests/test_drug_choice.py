"""Within-class drug choice: the frequency baseline, the code-conditioned mixture and its back-off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medrec_training.drug_choice import DrugChoiceModel, VisitDrugs, accuracy, ranked, write_artefact, evaluate


def visit(patient: int, codes: tuple[str, ...], **members: tuple[str, ...]) -> VisitDrugs:
    return VisitDrugs(patient, codes, {atc3: frozenset(m) for atc3, m in members.items()})


# Proton-pump inhibitors: omeprazole is the usual one; with clopidogrel's indication (code d:X:I25) pantoprazole is.
VISITS = [visit(i, ("d:X:K21",), A02B=("A02BC01",)) for i in range(6)] + [
    visit(10 + i, ("d:X:I25",), A02B=("A02BC02",)) for i in range(5)
]


def test_frequency_ranks_members_by_smoothed_share() -> None:
    model = DrugChoiceModel.fit(VISITS, alpha=0.5, beta=10.0, min_support=5)
    distribution = model.frequency("A02B")
    assert distribution == pytest.approx({"A02BC01": 6.5 / 12, "A02BC02": 5.5 / 12})
    assert model.frequency("B01A") == {}


def test_conditioning_on_codes_changes_the_choice_and_backs_off_without_support() -> None:
    model = DrugChoiceModel.fit(VISITS, alpha=0.5, beta=1.0, min_support=5)
    assert ranked(model.conditioned("A02B", ("d:X:I25",)))[0] == "A02BC02"
    assert ranked(model.conditioned("A02B", ("d:X:K21",)))[0] == "A02BC01"
    # A code with fewer than min_support visits of the class is not stored: the class frequency is used.
    assert model.conditioned("A02B", ("d:X:UNSEEN",)) == model.frequency("A02B")
    assert sum(model.conditioned("A02B", ("d:X:I25", "d:X:K21")).values()) == pytest.approx(1.0)


def test_accuracy_counts_a_hit_when_a_given_member_is_ranked_first() -> None:
    model = DrugChoiceModel.fit(VISITS, alpha=0.5, beta=1.0, min_support=5)
    test = [visit(99, ("d:X:I25",), A02B=("A02BC02",)), visit(98, (), A02B=("A02BC02",)), visit(97, (), B01A=("B01AC04",))]
    assert accuracy(model, test, conditioned=True) == {"top1": 0.5, "top3": 1.0, "pairs": 2.0}
    assert accuracy(model, test, conditioned=False)["top1"] == 0.0


def test_artefact_is_written_with_hashes_and_parity(synthetic_database: Path, tmp_path: Path) -> None:
    evaluation = evaluate(synthetic_database, folds=3, seed=42)
    folder = write_artefact(synthetic_database, tmp_path / "drug-choice", evaluation)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["artefact"] == "drug-choice"
    import hashlib

    assert manifest["file"]["sha256"] == hashlib.sha256((folder / manifest["file"]["file"]).read_bytes()).hexdigest()
    assert set(manifest["evaluation"]["summary"]) == {"frequencyTop1", "frequencyTop3", "conditionedTop1", "conditionedTop3"}
    assert any(license["license"].startswith("Open Database License") for license in manifest["provenance"]["sources"])
