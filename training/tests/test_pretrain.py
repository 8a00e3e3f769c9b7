"""MKMed's cross-modal pre-training: modality data, knowledge graph, encoders, the loss, alignment and cache.

Small hand-made corpora for the training loop; the real corpus (built once, then cached under
training/.cache/pretrain) for coverage and the command line.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from medrec_training.knowledge.graph_encoders import MolecularGraphEncoder
from medrec_training.knowledge.molecules import brics_fragments, graphs_from_smiles, parse_smiles, raw_descriptors
from medrec_training.paths import data_dir
from medrec_training.pretrain import (
    IMAGE,
    KNOWLEDGE_GRAPH,
    PROPERTIES,
    STRUCTURE_3D,
    TEXT,
    PretrainingCorpus,
    PretrainSettings,
    alignment,
    coprescribed_pairs,
    load_corpus,
    load_or_pretrain,
    pretrain,
)
from medrec_training.pretrain.__main__ import main as pretrain_main
from medrec_training.pretrain.alignment import atc_index_codes
from medrec_training.pretrain.conformers import MAX_HEAVY_ATOMS, conformer
from medrec_training.pretrain.depiction import IMAGE_CHANNELS, IMAGE_SIZE, depict
from medrec_training.pretrain.encoders import DistanceEncoder, Geometry, GraphSubsets, grouped_info_nce
from medrec_training.pretrain.knowledge_graph import KnowledgeGraph, build_knowledge_graph, train_transe

# --- 2D depictions ---------------------------------------------------------------------------------


def test_depiction_puts_each_element_in_its_plane():
    ethanol = depict(parse_smiles("CCO"))
    assert ethanol.shape == (IMAGE_CHANNELS, IMAGE_SIZE, IMAGE_SIZE) and ethanol.dtype == np.uint8
    bonds, carbon, nitrogen, oxygen, other = (plane.sum() for plane in ethanol.astype(int))
    assert bonds > 0 and carbon > 0 and oxygen > 0 and nitrogen == 0 and other == 0
    chloro = depict(parse_smiles("CCl"))
    assert chloro[4].sum() > 0 and chloro[3].sum() == 0  # chlorine goes to 'other'
    np.testing.assert_array_equal(depict(parse_smiles("CCO")), ethanol)  # deterministic


def test_depiction_draws_double_bonds_brighter():
    single = depict(parse_smiles("CC"))[0].astype(int).sum()
    double = depict(parse_smiles("C=C"))[0].astype(int).sum()
    assert double == pytest.approx(2 * single, rel=0.15)


# --- 3D conformers ---------------------------------------------------------------------------------


def test_conformer_has_chemically_sensible_distances():
    coordinates = conformer(parse_smiles("CCO"))
    assert coordinates is not None and coordinates.shape == (3, 3)
    carbon_oxygen = np.linalg.norm(coordinates[1] - coordinates[2])
    assert 1.25 < carbon_oxygen < 1.6


def test_conformer_of_a_fragment_keeps_its_dummy_atoms_and_refuses_large_graphs():
    fragment = parse_smiles("[3*]OC(C)=O")
    coordinates = conformer(fragment)
    assert coordinates is not None and coordinates.shape == (fragment.GetNumAtoms(), 3)
    assert conformer(parse_smiles("C" * (MAX_HEAVY_ATOMS + 1))) is None


# --- knowledge graph ------------------------------------------------------------------------------


def test_coprescribed_pairs_need_enough_visits_and_lift():
    targets = np.zeros((20, 4), dtype=np.float32)
    targets[:5, [0, 1]] = 1  # A and B together in 5 visits, never apart: lift 4
    targets[5:, 2] = 1  # C in every other visit...
    targets[5:10, 3] = 1  # ...with D in 5 of them: D is always with C, but C is everywhere: lift 1.33
    vocab = ("A", "B", "C", "D")
    assert coprescribed_pairs(targets, vocab, min_visits=5, min_lift=2.0) == (("A", "B"),)
    assert coprescribed_pairs(targets, vocab, min_visits=5, min_lift=1.0) == (("A", "B"), ("C", "D"))
    assert coprescribed_pairs(targets, vocab, min_visits=6, min_lift=1.0) == ()
    assert coprescribed_pairs(np.zeros((0, 4)), vocab) == ()


def fake_base() -> SimpleNamespace:
    """The fields of knowledge.loader.KnowledgeBase that the graph builder reads."""
    codes = ("A02B", "B01A", "N02B")
    counts = np.zeros((3, 3, 4), dtype=np.int32)  # levels: Unknown, Minor, Moderate, Major
    counts[0, 1, 1] = counts[1, 0, 1] = 3  # A02B-B01A: minor ...
    counts[0, 1, 3] = counts[1, 0, 3] = 1  # ... and one major pair: most severe = major
    counts[1, 2, 0] = counts[2, 1, 0] = 2  # B01A-N02B: unknown only
    return SimpleNamespace(
        atc3_codes=codes, ddi_pairs={"twosides-atc3": (("A02B", "N02B"),), "twosides-top40": ()}, ddinter_level_counts=counts
    )


def test_knowledge_graph_has_the_hierarchy_interactions_and_coprescription():
    atc = ["A", "A02", "A02B", "A02BC", "A02BC01", "B", "B01", "B01A", "N", "N02", "N02B"]
    graph = build_knowledge_graph(fake_base(), atc, [("A02B", "N02B")])
    assert "A02BC01" not in graph.entities  # level-5 substances are left out
    index, relation = graph.index(), {name: i for i, name in enumerate(graph.relations)}
    triples = {tuple(t) for t in graph.triples.tolist()}

    def has(head: str, name: str, tail: str) -> bool:
        return (index[head], relation[name], index[tail]) in triples

    assert has("A02BC", "is-a", "A02B") and has("A02B", "is-a", "A02") and has("A02", "is-a", "A")
    assert has("A02B", "ddinter-major", "B01A") and has("B01A", "ddinter-major", "A02B")
    assert not has("A02B", "ddinter-minor", "B01A")  # only the most severe level is an edge
    assert has("B01A", "ddinter-unknown", "N02B")
    assert has("A02B", "twosides", "N02B") and has("N02B", "twosides", "A02B")
    assert has("A02B", "co-prescribed", "N02B") and has("N02B", "co-prescribed", "A02B")
    assert graph.relation_counts()["co-prescribed"] == 2


def test_transe_scores_true_triples_above_corrupted_ones_and_warm_starts():
    entities = tuple(f"e{i}" for i in range(12))
    triples = np.asarray([[i, 0, (i + 1) % 12] for i in range(12)] + [[i, 1, (i + 5) % 12] for i in range(12)], dtype=np.int64)
    graph = KnowledgeGraph(entities, ("next", "jump"), triples)
    model = train_transe(graph, dim=16, epochs=150, batch_size=64, learning_rate=0.02)
    assert model.losses[-1] < model.losses[0]
    np.testing.assert_allclose(np.linalg.norm(model.entities, axis=1), 1.0, atol=1e-5)

    def distance(h: int, r: int, t: int) -> float:
        return float(np.linalg.norm(model.entities[h] + model.relations[r] - model.entities[t]))

    true = np.mean([distance(*t) for t in triples.tolist()])
    corrupted = np.mean([distance(h, r, (t + 3) % 12) for h, r, t in triples.tolist()])
    assert true < corrupted
    again = train_transe(graph, dim=16, epochs=1, batch_size=64, start=model, entity_learning_rate=0.0)
    np.testing.assert_allclose(again.entities, model.entities, atol=1e-6)  # entities frozen, relations learn
    with pytest.raises(ValueError, match="differ from the starting model"):
        train_transe(KnowledgeGraph(entities[:5], ("next", "jump"), triples[:0]), dim=16, epochs=1, start=model)


# --- encoders and loss -----------------------------------------------------------------------------


def test_grouped_info_nce_treats_a_whole_group_as_positives():
    torch.manual_seed(0)
    knowledge = torch.nn.functional.normalize(torch.randn(3, 8), dim=1)
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    aligned = knowledge[groups]  # each molecule sits on its group's knowledge vector
    scale = torch.tensor(np.log(10.0))
    matched = grouped_info_nce(aligned, knowledge[groups], groups, scale)
    shuffled = grouped_info_nce(aligned, knowledge[groups[torch.tensor([2, 3, 4, 5, 0, 1])]], groups, scale)
    assert matched < shuffled
    # Swapping two members of one group changes nothing: they are interchangeable positives.
    swapped = grouped_info_nce(aligned[torch.tensor([1, 0, 2, 3, 4, 5])], knowledge[groups], groups, scale)
    assert torch.isclose(matched, swapped)
    # With every row its own group it is CLIP's loss: symmetric in its two arguments.
    own = torch.arange(6)
    first, second = torch.randn(6, 8), torch.randn(6, 8)
    assert torch.isclose(grouped_info_nce(first, second, own, scale), grouped_info_nce(second, first, own, scale))


def test_graph_subsets_reproduce_the_full_encoder_rows():
    graphs = graphs_from_smiles(["CCO", "c1ccccc1O", "[3*]C(=O)O", "CN1CCCC1c1cccnc1", "O"])
    torch.manual_seed(0)
    encoder = MolecularGraphEncoder(graphs, 16, layers=2, readout="mean").eval()
    subsets = GraphSubsets(encoder, graphs.atom_offsets, graphs.edge_index)
    with torch.no_grad():
        full = encoder()
        for rows in ([3, 0], [4], [2, 1, 0, 3, 4]):
            torch.testing.assert_close(subsets(np.asarray(rows)), full[rows])


def test_geometry_features_ignore_rotation_and_count_neighbours_by_element():
    molecule = parse_smiles("CO")
    coordinates = conformer(molecule)
    graphs = graphs_from_smiles(["CO"])
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)))[0].numpy()
    moved = coordinates @ rotation.T + np.asarray([3.0, -1.0, 2.0], dtype=np.float32)
    first = Geometry(graphs.atom_features[:, 0], coordinates, graphs.atom_offsets, np.asarray([True]))
    second = Geometry(graphs.atom_features[:, 0], moved.astype(np.float32), graphs.atom_offsets, np.asarray([True]))
    np.testing.assert_allclose(first.features, second.features, atol=1e-5)
    per_group = first.features.reshape(2, 4, Geometry.CENTRES).sum(axis=2)
    assert per_group[0, 2] > 0 and per_group[0, 0] == 0  # the carbon sees an oxygen, no carbon
    assert per_group[1, 0] > 0 and per_group[1, 2] == 0  # the oxygen sees a carbon
    encoded = DistanceEncoder(8)(**first.select(np.asarray([0])))
    assert encoded.shape == (1, 8)


# --- alignment on a hand-made corpus ---------------------------------------------------------------

MOLECULES = {  # canonical SMILES -> ATC3 class
    "CC(=O)Oc1ccccc1C(=O)O": "N02B",
    "CC(=O)Nc1ccc(O)cc1": "N02B",
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1": "M01A",
    "Cn1c(=O)c2c(ncn2C)n(C)c1=O": "N06B",
    "CN(C)C(=N)N=C(N)N": "A10B",
    "CC(C)NCC(O)COc1cccc2ccccc12": "C07A",
    "CC(C)NCC(O)c1ccc(O)c(O)c1": "R03C",
    "OC(=O)CCc1ccccc1": "N02B",
}


def tiny_corpus(without_conformer: tuple[int, ...] = (1,)) -> PretrainingCorpus:
    """The molecules above plus their BRICS fragments; text features are random per class (the
    encoder does not matter here), and the molecules listed in `without_conformer` lack 3D."""
    molecules = list(MOLECULES)
    fragments = sorted({f for s in molecules for f in brics_fragments(parse_smiles(s))} - set(molecules))
    smiles = molecules + fragments
    graphs = graphs_from_smiles(smiles)
    is_molecule = np.arange(len(smiles)) < len(molecules)
    classes = tuple((MOLECULES[s],) if s in MOLECULES else () for s in smiles)
    rng = np.random.default_rng(0)
    class_texts = {code: rng.standard_normal(12).astype(np.float32) for code in sorted(set(MOLECULES.values()))}
    text = np.asarray([class_texts[c[0]] if c else np.zeros(12, np.float32) for c in classes])
    properties = np.nan_to_num(np.asarray([raw_descriptors(parse_smiles(s)) for s in smiles], dtype=np.float32))
    properties = (properties - properties.mean(axis=0)) / (properties.std(axis=0) + 1e-6)
    coordinates = np.zeros((int(graphs.atom_offsets[-1]), 3), dtype=np.float32)
    has_conformer = np.zeros(len(smiles), dtype=bool)
    for row, s in enumerate(smiles):
        found = conformer(parse_smiles(s))
        if found is not None and row not in without_conformer:
            coordinates[graphs.atom_offsets[row] : graphs.atom_offsets[row + 1]] = found
            has_conformer[row] = True
    has_class = np.asarray([bool(c) for c in classes])
    return PretrainingCorpus(
        smiles=tuple(smiles),
        graphs=graphs,
        is_molecule=is_molecule,
        classes=classes,
        text_features=text,
        property_features=properties.astype(np.float32),
        images=np.stack([depict(parse_smiles(s)) for s in smiles]),
        coordinates=coordinates,
        available={
            TEXT: has_class,
            PROPERTIES: np.ones(len(smiles), bool),
            KNOWLEDGE_GRAPH: has_class.copy(),
            IMAGE: np.ones(len(smiles), bool),
            STRUCTURE_3D: has_conformer,
        },
        class_texts=class_texts,
        text_encoder="random test vectors",
        key="tiny",
        build_cost={"seconds": 0.0, "cpuSeconds": 0.0},
    )


@pytest.fixture(scope="module")
def atc_codes() -> list[str]:
    return atc_index_codes(data_dir())


def test_cross_alignment_uses_every_graph_with_a_modality_and_intersection_only_complete_ones(atc_codes):
    corpus = tiny_corpus()
    fragments = int((~corpus.is_molecule).sum())
    cross = pretrain(corpus, PretrainSettings(epochs=2, transe_epochs=1, batch_size=8), atc_codes)
    pool = cross.report["pool"]
    assert pool["molecules"] == len(MOLECULES) and pool["fragments"] == fragments
    assert pool["pairsPerModality"][TEXT] == len(MOLECULES)  # fragments have no text ...
    assert pool["pairsPerModality"][PROPERTIES] == len(MOLECULES) + fragments  # ... but do have properties
    assert pool["pairsPerModality"][STRUCTURE_3D] == int(corpus.available[STRUCTURE_3D].sum())
    intersection = pretrain(corpus, PretrainSettings(alignment="intersection", epochs=2, transe_epochs=1, batch_size=8), atc_codes)
    assert intersection.report["pool"] == {
        "graphs": len(MOLECULES) - 1,  # the molecule without a conformer drops out, and every fragment
        "molecules": len(MOLECULES) - 1,
        "fragments": 0,
        "pairsPerModality": {m: len(MOLECULES) - 1 for m in cross.settings.modalities},
    }


def test_alignment_learns_and_its_views_live_on_the_unit_sphere(atc_codes):
    corpus = tiny_corpus()
    encoder = pretrain(corpus, PretrainSettings(modalities=(PROPERTIES, STRUCTURE_3D), epochs=40, batch_size=64), atc_codes)
    losses = encoder.report["alignmentLoss"]
    assert losses[-1][PROPERTIES] < losses[0][PROPERTIES] and losses[-1][STRUCTURE_3D] < losses[0][STRUCTURE_3D]
    assert encoder.graph_vectors.shape == (corpus.size, 64)
    for view in encoder.views.values():
        np.testing.assert_allclose(np.linalg.norm(view, axis=1), 1.0, atol=1e-5)
    assert encoder.class_views == {}  # no class-level modality was chosen


def test_class_level_views_cover_classes_without_molecules(atc_codes):
    corpus = tiny_corpus()
    encoder = pretrain(corpus, PretrainSettings(modalities=(TEXT, KNOWLEDGE_GRAPH), epochs=1, transe_epochs=1, batch_size=8), atc_codes)
    codes = list(encoder.class_codes)
    assert codes == sorted(corpus.class_texts)
    assert encoder.class_available[TEXT].all()
    assert encoder.class_available[KNOWLEDGE_GRAPH].all()  # every tiny class is a WHO ATC3 class
    np.testing.assert_allclose(np.linalg.norm(encoder.class_views[TEXT], axis=1), 1.0, atol=1e-5)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="choose one or more"):
        PretrainSettings(modalities=("smell",))
    with pytest.raises(ValueError, match="repeat"):
        PretrainSettings(modalities=(TEXT, TEXT))
    with pytest.raises(ValueError, match="alignment='union'"):
        PretrainSettings(alignment="union")
    with pytest.raises(ValueError, match="must be >= 0"):
        PretrainSettings(epochs=-1)


# --- the real corpus, the cache and the command line -----------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> PretrainingCorpus:
    return load_corpus(data_dir())


def test_real_corpus_covers_every_molecule_and_fragment(corpus):
    coverage = corpus.coverage()
    molecules, fragments = coverage["all"]["molecules"], coverage["all"]["fragments"]
    assert molecules > 300 and fragments > 300
    assert coverage[TEXT] == {"molecules": molecules, "fragments": 0}
    assert coverage[KNOWLEDGE_GRAPH] == {"molecules": molecules, "fragments": 0}
    assert coverage[PROPERTIES]["molecules"] == molecules and coverage[IMAGE]["fragments"] == fragments
    assert 0.8 * (molecules + fragments) < sum(coverage[STRUCTURE_3D].values()) < molecules + fragments  # some lack 3D
    assert corpus.images.shape[1:] == (IMAGE_CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
    assert np.isfinite(corpus.text_features).all() and np.isfinite(corpus.property_features).all()


def test_encoders_are_cached_and_fine_tuned_per_coprescription_set(tmp_path, monkeypatch, corpus):
    monkeypatch.setattr(alignment, "cache_dir", lambda: tmp_path)
    calls = []
    real_pretrain = alignment.pretrain
    monkeypatch.setattr(alignment, "pretrain", lambda *a, **k: calls.append(k.get("start")) or real_pretrain(*a, **k))
    settings = PretrainSettings(modalities=(PROPERTIES, KNOWLEDGE_GRAPH), epochs=1, transe_epochs=1, finetune_epochs=1)
    base = load_or_pretrain(settings)
    assert len(calls) == 1 and calls[0] is None
    tuned = load_or_pretrain(settings, [("N02B", "A02B")])
    assert len(calls) == 2 and calls[1].key == base.key  # fine-tuned from the cached base, not retrained
    assert tuned.report["warmStart"] == {"from": base.key, "epochs": 1} and tuned.key != base.key
    assert tuned.report["coprescribedPairs"] == 1
    again = load_or_pretrain(settings, [("N02B", "A02B")])
    assert len(calls) == 2 and again.key == tuned.key  # from the cache
    np.testing.assert_array_equal(again.graph_vectors, tuned.graph_vectors)
    for name, value in tuned.weights.items():
        np.testing.assert_array_equal(again.weights[name], value)
    # Without the knowledge graph, co-prescription does not matter: one encoder for every fold.
    no_kg = PretrainSettings(modalities=(PROPERTIES,), epochs=1)
    assert load_or_pretrain(no_kg, [("N02B", "A02B")]).key == load_or_pretrain(no_kg, [("C07A", "A02B")]).key
    assert len(calls) == 3


def test_command_line_pretrains_and_reports(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(alignment, "cache_dir", lambda: tmp_path)
    assert pretrain_main(["--modalities", "properties,image", "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "Aligned on" in printed and "Top-1 retrieval" in printed and "Cost when computed" in printed
    assert pretrain_main(["--modalities", "smell"]) == 2
    assert "choose one or more of text" in capsys.readouterr().err
