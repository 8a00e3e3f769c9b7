"""Drug knowledge: real open-data files (counts, drops, BRICS, matrices) and constructed edge cases."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import BRICS

from medrec_training.knowledge import (
    ATOM_FEATURES,
    BOND_FEATURES,
    DDI_MATRIX_NAMES,
    DDINTER_ATC3,
    DESCRIPTOR_NAMES,
    SEVERITY_LEVELS,
    TWOSIDES_ATC3,
    TWOSIDES_TOP40,
    load_drug_knowledge,
    load_knowledge_base,
)
from medrec_training.knowledge.atc import load_atc_index, normalise_drug_name
from medrec_training.knowledge.ddi import DrugPair, lift_ddinter_to_atc3, read_ddinter
from medrec_training.knowledge.loader import knowledge_cache_path
from medrec_training.knowledge.molecules import parse_smiles, validate_class_smiles
from medrec_training.paths import data_dir

KNOWLEDGE = data_dir() / "knowledge"


@pytest.fixture(scope="module")
def base():
    return load_knowledge_base()


# --- real files ---------------------------------------------------------------------------------


def test_molecule_counts_match_an_independent_rdkit_pass(base):
    smiles_by_class = json.loads((KNOWLEDGE / "molecules" / "atc3_smiles.json").read_text())
    who_atc3 = set(load_atc_index(KNOWLEDGE / "atc" / "WHO_ATC-DDD_2026-04-25.csv").atc3_codes)
    expected_molecules, expected_failures = set(), 0
    for code, entries in smiles_by_class.items():
        if code not in who_atc3:
            continue
        for text in entries:
            molecule = Chem.MolFromSmiles(text)
            if molecule is None:
                expected_failures += 1
            else:
                expected_molecules.add(Chem.MolToSmiles(molecule))
    report = base.report["molecules"]
    assert report["keys_in_file"] == len(smiles_by_class) == 140
    assert report["smiles_entries"] == sum(len(v) for v in smiles_by_class.values())
    assert report["non_atc3_keys"] == sorted(set(smiles_by_class) - who_atc3)
    assert report["dropped_count"] == expected_failures
    assert set(base.molecules.smiles) == expected_molecules
    assert report["unique_molecules"] == len(expected_molecules)
    assert set(base.class_molecules) == {c for c, v in smiles_by_class.items() if c in who_atc3 and v}


def test_brics_fragments_are_recomputed_from_each_molecule(base):
    assert base.report["brics"]["fragments"] == base.fragments.num_graphs
    for index in range(0, base.molecules.num_graphs, 12):  # a spread sample: BRICS is slow on macrolides
        smiles = base.molecules.smiles[index]
        recomputed = {Chem.MolToSmiles(Chem.MolFromSmiles(f)) for f in BRICS.BRICSDecompose(Chem.MolFromSmiles(smiles))}
        assert {base.fragments.smiles[f] for f in base.molecule_fragments[index]} == recomputed, smiles


def test_graph_arrays_describe_the_molecules(base):
    graphs = base.molecules
    assert graphs.atom_offsets[-1] == graphs.atom_features.shape[0]
    for column, (_, size) in enumerate(ATOM_FEATURES):
        assert 0 <= graphs.atom_features[:, column].min() and graphs.atom_features[:, column].max() < size
    for column, (_, size) in enumerate(BOND_FEATURES):
        assert 0 <= graphs.bond_features[:, column].min() and graphs.bond_features[:, column].max() < size
    # Every bond appears in both directions, and never crosses molecules.
    edges = set(map(tuple, graphs.edge_index.T))
    assert edges == {(b, a) for a, b in edges}
    atom_graph = graphs.atom_graph
    assert np.array_equal(atom_graph[graphs.edge_index[0]], atom_graph[graphs.edge_index[1]])
    aspirin = Chem.MolToSmiles(Chem.MolFromSmiles("CC(=O)OC1=CC=CC=C1C(O)=O"))
    index = graphs.smiles.index(aspirin)
    single = graphs.subset([index])
    assert single.atom_features.shape[0] == 13 and single.edge_index.shape[1] == 2 * 13
    carbons = single.atom_features[:, 0] == 6
    assert carbons.sum() == 9 and single.atom_features[carbons, 5].sum() == 6  # six aromatic carbons


def test_descriptors_are_the_documented_list_standardised(base):
    assert base.report["descriptors"]["names"] == list(DESCRIPTOR_NAMES)
    knowledge = load_drug_knowledge(None, sorted(base.class_molecules))
    scores = knowledge.molecule_descriptors
    assert scores.shape == (base.molecules.num_graphs, len(DESCRIPTOR_NAMES))
    np.testing.assert_allclose(scores.mean(axis=0), 0.0, atol=0.05)  # clipping moves the mean a little
    weight = knowledge.drug_molecule_mask[0] / knowledge.drug_molecule_mask[0].sum()
    np.testing.assert_allclose(knowledge.drug_descriptors[0], weight @ scores, rtol=1e-5, atol=1e-6)


def test_ddi_matrices_are_named_symmetric_binary_with_zero_diagonal(base):
    knowledge = load_drug_knowledge(None, base.atc3_codes)
    assert tuple(knowledge.ddi_matrices) == DDI_MATRIX_NAMES
    for name, matrix in knowledge.ddi_matrices.items():
        assert matrix.dtype == np.float32 and matrix.shape == (len(base.atc3_codes),) * 2, name
        assert np.array_equal(matrix, matrix.T), name
        assert set(np.unique(matrix)) <= {0.0, 1.0} and not np.diag(matrix).any(), name
    with (KNOWLEDGE / "ddi" / "twosides_atc3_pairs.csv").open() as handle:
        file_pairs = {frozenset((row["atc3_a"], row["atc3_b"])) for row in csv.DictReader(handle)}
    vocabulary = knowledge.report["vocabulary"]["ddi_pairs"]
    assert vocabulary[TWOSIDES_ATC3] == len(file_pairs) == base.report["ddi"][TWOSIDES_ATC3]["atc3_pairs"]
    assert vocabulary[TWOSIDES_TOP40] == base.report["ddi"][TWOSIDES_TOP40]["atc3_pairs"] > 0
    assert vocabulary[DDINTER_ATC3] == base.report["ddi"][DDINTER_ATC3]["atc3_pairs"] > 0
    # Severity is the most severe level with a count, and the binary matrix counts every level.
    severity, counts = knowledge.ddinter_severity, knowledge.ddinter_level_counts
    assert np.array_equal(severity, severity.T) and np.array_equal(counts, counts.transpose(1, 0, 2))
    off_diagonal = ~np.eye(len(severity), dtype=bool)
    assert np.array_equal(knowledge.ddi_matrices[DDINTER_ATC3][off_diagonal] > 0, counts.sum(-1)[off_diagonal] > 0)


def test_top40_pairs_follow_the_stitch_mapping(base):
    mapping: dict[str, set[str]] = {}
    with (KNOWLEDGE / "mappings" / "stitch_cid_to_atc.csv").open() as handle:
        for row in csv.reader(handle):
            mapping.setdefault(row[0], set()).update(code[:4] for code in row[1:] if code)
    with (KNOWLEDGE / "ddi" / "twosides_top40_stitch_pairs.csv").open() as handle:
        rows = list(csv.reader(handle))[1:]
    first = next(r for r in rows if r[0] in mapping and r[1] in mapping and mapping[r[0]] != mapping[r[1]])
    pairs = set(base.ddi_pairs[TWOSIDES_TOP40])
    for a in mapping[first[0]]:
        for b in mapping[first[1]]:
            if a != b:
                assert (min(a, b), max(a, b)) in pairs


def test_ddinter_coverage_is_reported(base):
    report = base.report["ddi"][DDINTER_ATC3]
    assert report["drugs"] == 1939 and report["drug_pairs"] == 160235  # the data README's figures
    assert report["drugs_matched_atc"] == 1427  # "~1,427 match WHO ATC level-5 names exactly"
    assert report["drug_match_rate"] == pytest.approx(1427 / 1939, abs=1e-4)
    assert 0 < report["drug_pairs_lifted"] < report["drug_pairs"]
    assert sum(report["atc3_pairs_by_most_severe_level"].values()) == report["atc3_pairs"]
    assert report["levels_counted_as_interaction"] == list(SEVERITY_LEVELS)


def test_vocabulary_alignment_handles_missing_structure_and_unknown_codes(base):
    without = next(code for code in base.atc3_codes if code not in base.class_molecules)
    with_structure = sorted(base.class_molecules)[:3]
    knowledge = load_drug_knowledge(None, [*with_structure, without, "ZZZZ"])
    assert knowledge.has_structure.tolist() == [True, True, True, False, False]
    assert knowledge.drug_molecules[3] == () and not knowledge.drug_fragment_mask[3].any()
    assert not knowledge.drug_descriptors[3].any()
    assert knowledge.report["vocabulary"]["not_atc3_codes"] == ["ZZZZ"]
    assert not any(matrix[4].any() for matrix in knowledge.ddi_matrices.values())
    # Fragments of the cut-down knowledge are exactly those of its molecules.
    expected = ((knowledge.drug_molecule_mask @ knowledge.molecule_fragment_mask) > 0).astype(np.float32)
    assert np.array_equal(knowledge.drug_fragment_mask, expected)
    assert knowledge.molecule_fragment_mask.sum(axis=0).min() >= 1
    with pytest.raises(ValueError, match=r"atc3_vocab\[1\] repeats 'A01A'"):
        load_drug_knowledge(None, ["A01A", "A01A"])


# --- constructed cases --------------------------------------------------------------------------


def test_invalid_smiles_and_non_atc3_keys_are_dropped_with_reasons():
    result = validate_class_smiles(
        {"N02B": ["CC(=O)Nc1ccc(O)cc1", "C1CC", "C(C)(C)(C)(C)C", "OC(=O)c1ccccc1O", "Oc1ccc(NC(C)=O)cc1"], "junk": ["C"]},
        is_atc3=["N02B"],
    )
    reasons = {d.smiles: d.reason for d in result.dropped}
    assert "RDKit cannot parse" in reasons["C1CC"]
    assert "sanitisation failed" in reasons["C(C)(C)(C)(C)C"] and "valence" in reasons["C(C)(C)(C)(C)C"].lower()
    assert "not an ATC level-3 code" in reasons["C"]
    assert len(result.molecules_by_class["N02B"]) == 2  # paracetamol written twice counts once
    assert result.duplicates_within_class == 1
    assert isinstance(parse_smiles(""), str)


def test_severity_lifting_takes_the_most_severe_member_pair():
    names = {"drug x": {"A01AA01", "B01AC06"}, "drug y": {"N02BE01"}, "drug z": {"N02BA01"}}

    def atc3_of(name: str) -> frozenset[str]:
        return frozenset(code[:4] for code in names.get(normalise_drug_name(name), ()))

    codes = ["A01A", "B01A", "N02B"]
    lifted = lift_ddinter_to_atc3(
        [
            DrugPair("Drug X", "Drug Y", "Minor"),
            DrugPair("Drug X", "Drug Z", "Major"),
            DrugPair("Drug Y", "Drug Z", "Moderate"),
            DrugPair("Unmatched", "Drug Y", "Major"),
        ],
        atc3_of,
        codes,
    )
    assert lifted.drug_pairs_total == 4 and lifted.drug_pairs_lifted == 3
    a01a, b01a, n02b = 0, 1, 2
    minor, moderate, major = (SEVERITY_LEVELS.index(level) for level in ("Minor", "Moderate", "Major"))
    for drug_class in (a01a, b01a):
        assert lifted.level_counts[drug_class, n02b, minor] == 1 and lifted.level_counts[drug_class, n02b, major] == 1
        assert lifted.severity[drug_class, n02b] == lifted.severity[n02b, drug_class] == major + 1
    assert lifted.level_counts[n02b, n02b, moderate] == 1 and lifted.severity[n02b, n02b] == moderate + 1
    assert lifted.severity[a01a, b01a] == 0  # drug x with itself is no pair


def test_ddinter_reader_deduplicates_and_names_bad_lines(tmp_path: Path):
    header = "DDInterID_A,Drug_A,DDInterID_B,Drug_B,Level\n"
    first, second = tmp_path / "ddinter_downloads_code_A.csv", tmp_path / "ddinter_downloads_code_B.csv"
    first.write_text(header + "DDInter1,Aspirin,DDInter2,Warfarin,Moderate\n")
    second.write_text(header + "DDInter2,Warfarin,DDInter1,Aspirin,Major\nDDInter3,Heparin,DDInter2,Warfarin,Major\n")
    pairs = read_ddinter([first, second])
    assert pairs.rows == 3 and len(pairs.pairs) == 2 and pairs.conflicting_levels == 1
    assert {(p.drug_a, p.drug_b): p.level for p in pairs.pairs}[("Aspirin", "Warfarin")] == "Major"
    second.write_text(header + "DDInter2,Warfarin,DDInter1,Aspirin,Severe\n")
    with pytest.raises(ValueError, match=r"ddinter_downloads_code_B\.csv:2: unknown level 'Severe'"):
        read_ddinter([first, second])


def _write_small_data_dir(root: Path) -> Path:
    knowledge = root / "knowledge"
    for folder in ("molecules", "atc", "ddi", "mappings", "ddinter"):
        (knowledge / folder).mkdir(parents=True)
    (knowledge / "atc" / "WHO_ATC-DDD_2026-04-25.csv").write_text(
        "atc_code,atc_name,ddd,uom,adm_r,note\n"
        "B01A,ANTITHROMBOTIC AGENTS,NA,NA,NA,NA\nB01AA03,warfarin,7.5,mg,O,NA\nB01AC06,acetylsalicylic acid,1,g,O,NA\n"
        "N02B,OTHER ANALGESICS AND ANTIPYRETICS,NA,NA,NA,NA\nN02BA01,acetylsalicylic acid,3,g,O,NA\n"
        "N02BE01,paracetamol,3,g,O,NA\nM01A,ANTIINFLAMMATORY PRODUCTS,NA,NA,NA,NA\nM01AE01,ibuprofen,1.2,g,O,NA\n"
    )
    (knowledge / "molecules" / "atc3_smiles.json").write_text(
        json.dumps({"B01A": ["CC(=O)OC1=CC=CC=C1C(O)=O", "C1CC"], "N02B": ["CC(=O)Nc1ccc(O)cc1"], "separator": []})
    )
    (knowledge / "ddi" / "twosides_atc3_pairs.csv").write_text("atc3_a,atc3_b\nB01A,N02B\n")
    (knowledge / "ddi" / "twosides_top40_stitch_pairs.csv").write_text("STITCH 1,STITCH 2\nCID000000001,CID000000002\n")
    (knowledge / "mappings" / "stitch_cid_to_atc.csv").write_text("CID000000001,B01AA03\nCID000000002,M01AE01,N02BE01\n")
    (knowledge / "ddinter" / "ddinter_downloads_code_B.csv").write_text(
        "DDInterID_A,Drug_A,DDInterID_B,Drug_B,Level\n"
        "DDInter1,Warfarin,DDInter2,Ibuprofen,Major\nDDInter1,Warfarin,DDInter3,Paracetamol,Minor\n"
        "DDInter4,Acetaminophen,DDInter1,Warfarin,Moderate\n"
    )
    return root


def test_small_data_dir_end_to_end_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MEDREC_CACHE_DIR", str(tmp_path / "cache"))
    root = _write_small_data_dir(tmp_path / "data")
    knowledge = load_drug_knowledge(root, ["N02B", "B01A", "M01A"])
    report = knowledge.report
    assert report["molecules"]["dropped_count"] == 1 and report["molecules"]["non_atc3_keys"] == ["separator"]
    assert [d["smiles"] for d in report["molecules"]["dropped"] if d["smiles"]] == ["C1CC"]
    assert report["ddi"][DDINTER_ATC3]["drugs_matched_atc"] == 3  # 'Acetaminophen' is not a WHO name
    n02b, b01a, m01a = 0, 1, 2
    assert knowledge.ddinter_severity[b01a, m01a] == SEVERITY_LEVELS.index("Major") + 1
    assert knowledge.ddinter_severity[b01a, n02b] == SEVERITY_LEVELS.index("Minor") + 1
    assert knowledge.ddi_matrices[TWOSIDES_ATC3][b01a, n02b] == 1
    assert knowledge.ddi_matrices[TWOSIDES_TOP40][b01a].tolist() == [1.0, 0.0, 1.0]
    assert knowledge.has_structure.tolist() == [True, True, False]
    cache_file = knowledge_cache_path(root)
    assert cache_file.is_file() and cache_file.is_relative_to(tmp_path / "cache")
    again = load_drug_knowledge(root, ["N02B", "B01A", "M01A"])
    assert again.report == knowledge.report
    assert np.array_equal(again.molecules.atom_features, knowledge.molecules.atom_features)
    # Deterministic: a rebuild without the cache gives the same arrays.
    rebuilt_arrays, rebuilt_meta = load_knowledge_base(root, use_cache=False).to_arrays()
    cached_arrays, cached_meta = load_knowledge_base(root).to_arrays()
    assert rebuilt_meta == cached_meta and rebuilt_arrays.keys() == cached_arrays.keys()
    assert all(np.array_equal(rebuilt_arrays[name], cached_arrays[name], equal_nan=True) for name in cached_arrays)
    # A changed input is a different cache key; a missing one is named.
    (root / "knowledge" / "ddi" / "twosides_atc3_pairs.csv").write_text("atc3_a,atc3_b\n")
    assert knowledge_cache_path(root) != cache_file
    (root / "knowledge" / "mappings" / "stitch_cid_to_atc.csv").unlink()
    with pytest.raises(FileNotFoundError, match="stitch_cid_to_atc.csv"):
        load_drug_knowledge(root, ["N02B"])
