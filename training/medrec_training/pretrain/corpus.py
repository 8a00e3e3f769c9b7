"""The pre-training corpus: every molecular graph we have, with whichever knowledge modalities it has.

Graphs = every valid molecule of the knowledge base (all ATC3 classes, not only a vocabulary's) plus
every BRICS fragment of them (fragments are encoded by the same GIN downstream, so the encoder should
see them). A SMILES that is both a molecule and a fragment (a molecule without a breakable bond) is
one graph.

Per graph and modality, a feature and an 'available' flag:

    text              the sentence-encoder embedding of the WHO ATC description of the molecule's ATC3
                      class(es) (name, hierarchy, subgroups, member substance names; text/building.py),
                      averaged over its classes. Fragments have no text.
    properties        the knowledge base's RDKit descriptors (molecules.DESCRIPTOR_NAMES), z-scored
                      with the molecules' statistics; fragments get their own descriptors.
    knowledge-graph   not a stored feature: the molecule's ATC3 class(es) index the TransE entity table
                      trained per pre-training run (knowledge_graph.py). Fragments have no KG entity.
    image             depiction.depict planes.
    structure-3d      conformers.conformer coordinates (missing for large or unembeddable graphs).

Everything here is fixed by the data files, RDKit and the text encoder, so it is cached under
training/.cache/pretrain keyed by their hashes (computing it costs ~10-20 s; the text encoder is loaded
only on a cache miss).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..knowledge.cache import cache_dir, cache_key, file_sha256, load_arrays, load_or_build, save_arrays
from ..knowledge.loader import KnowledgeBase, knowledge_cache_path, load_knowledge_base
from ..knowledge.molecules import GraphBatch, graphs_from_smiles, parse_smiles, raw_descriptors
from .conformers import CONFORMER_SEED, EMBED_TIMEOUT_SECONDS, MAX_HEAVY_ATOMS, conformer
from .depiction import IMAGE_CHANNELS, IMAGE_SIZE, depict

CORPUS_FORMAT_VERSION = 1

TEXT, PROPERTIES, KNOWLEDGE_GRAPH, IMAGE, STRUCTURE_3D = "text", "properties", "knowledge-graph", "image", "structure-3d"
KNOWLEDGE_MODALITIES: tuple[str, ...] = (TEXT, PROPERTIES, KNOWLEDGE_GRAPH, IMAGE, STRUCTURE_3D)
"""In the order the 1 -> 5 modality ablation adds them."""


_CORPUS_SOURCES = ("corpus.py", "depiction.py", "conformers.py")


def source_digest(names: tuple[str, ...] | None = None) -> str:
    """Hash of this package's code (all files, or `names`): editing a featuriser invalidates cached results."""
    package = Path(__file__).parent
    paths = sorted(package.glob("*.py")) if names is None else [package / name for name in names]
    return cache_key({path.name: file_sha256(path) for path in paths})


@dataclass(frozen=True)
class PretrainingCorpus:
    smiles: tuple[str, ...]
    graphs: GraphBatch
    is_molecule: np.ndarray  # bool [N]
    classes: tuple[tuple[str, ...], ...]  # ATC3 classes of each graph (empty for a fragment)
    text_features: np.ndarray  # float32 [N, T] (zero rows where unavailable)
    property_features: np.ndarray  # float32 [N, P]
    images: np.ndarray  # uint8 [N, C, S, S]
    coordinates: np.ndarray  # float32 [total_atoms, 3] (zero rows for graphs without a conformer)
    available: dict[str, np.ndarray]  # modality -> bool [N]
    class_texts: dict[str, np.ndarray]  # ATC3 -> text embedding, every ATC3 class of the WHO index
    text_encoder: str  # which sentence encoder produced the text features
    key: str  # cache key of this corpus (input hashes + code)
    build_cost: dict[str, float]  # seconds (wall, CPU) it took to compute, when it was computed

    @property
    def size(self) -> int:
        return len(self.smiles)

    def coverage(self) -> dict[str, dict[str, int]]:
        """Per modality: how many molecules and fragments have it (the 'bucket effect' in numbers)."""
        return {
            modality: {
                "molecules": int((flags & self.is_molecule).sum()),
                "fragments": int((flags & ~self.is_molecule).sum()),
            }
            for modality, flags in self.available.items()
        } | {"all": {"molecules": int(self.is_molecule.sum()), "fragments": int((~self.is_molecule).sum())}}


def _class_texts(data_dir: Path, atc3_codes: tuple[str, ...]) -> tuple[dict[str, np.ndarray], str]:
    """Sentence embeddings of every ATC3 class description (through the shared text-embedding cache)."""
    from ..text.building import drug_text, find_atc_index, load_atc_names
    from ..text.encoder import embed_texts, resolve_encoder

    names = load_atc_names(find_atc_index(data_dir))
    spec = resolve_encoder()
    texts = [drug_text(code, names) for code in atc3_codes]
    embeddings = embed_texts(texts, spec)
    return dict(zip(atc3_codes, embeddings, strict=True)), spec.describe()


def _text_encoder_identity() -> str:
    from ..text.encoder import resolve_encoder

    return resolve_encoder().identity()


def corpus_cache_path(data_dir: Path) -> Path:
    key = cache_key(
        {
            "format": str(CORPUS_FORMAT_VERSION),
            "knowledge": knowledge_cache_path(data_dir).stem,  # the knowledge base's own input/code hash
            "code": source_digest(_CORPUS_SOURCES),
            "textEncoder": _text_encoder_identity(),
            "image": f"{IMAGE_SIZE}x{IMAGE_SIZE}x{IMAGE_CHANNELS}",
            "conformer": f"seed{CONFORMER_SEED}-max{MAX_HEAVY_ATOMS}-timeout{EMBED_TIMEOUT_SECONDS}",
        }
    )
    return cache_dir() / "pretrain" / f"corpus-{key}.npz"


def build_corpus(base: KnowledgeBase, data_dir: Path, key: str = "uncached") -> PretrainingCorpus:
    started, cpu_started = time.perf_counter(), time.process_time()
    molecule_smiles = list(base.molecules.smiles)
    molecule_set = set(molecule_smiles)
    smiles = molecule_smiles + [s for s in base.fragments.smiles if s not in molecule_set]
    is_molecule = np.arange(len(smiles)) < len(molecule_smiles)
    classes_of: dict[int, list[str]] = {}
    for code in sorted(base.class_molecules):
        for molecule in base.class_molecules[code]:
            classes_of.setdefault(molecule, []).append(code)
    classes = tuple(tuple(classes_of.get(i, ())) if i < len(molecule_smiles) else () for i in range(len(smiles)))

    class_texts, encoder = _class_texts(data_dir, base.atc3_codes)
    dimension = len(next(iter(class_texts.values())))
    text_features = np.zeros((len(smiles), dimension), dtype=np.float32)
    for row, codes in enumerate(classes):
        if codes:
            text_features[row] = np.mean([class_texts[c] for c in codes], axis=0)

    parsed = [parse_smiles(s) for s in smiles]
    if any(isinstance(p, str) for p in parsed):
        raise ValueError("the knowledge base holds a SMILES RDKit no longer parses; rebuild it (delete training/.cache).")
    # Descriptors: the knowledge base's for molecules, computed here for fragments; z-scored with the
    # molecules' mean and deviation so both live on one scale.
    raw = np.asarray([raw_descriptors(m) for m in parsed], dtype=np.float64)  # type: ignore[arg-type]
    raw[: len(molecule_smiles)] = base.raw_descriptors
    has_properties = ~np.isnan(raw).all(axis=1)
    scores = np.clip((raw - base.descriptor_mean) / base.descriptor_std, -5.0, 5.0)
    property_features = np.nan_to_num(scores, nan=0.0).astype(np.float32)

    images = np.stack([depict(m) for m in parsed])  # type: ignore[arg-type]
    has_image = images.reshape(len(smiles), -1).max(axis=1) > 0

    graphs = graphs_from_smiles(smiles)
    coordinates = np.zeros((int(graphs.atom_offsets[-1]), 3), dtype=np.float32)
    has_conformer = np.zeros(len(smiles), dtype=bool)
    for row, molecule in enumerate(parsed):
        found = conformer(molecule)  # type: ignore[arg-type]
        if found is not None:
            coordinates[graphs.atom_offsets[row] : graphs.atom_offsets[row + 1]] = found
            has_conformer[row] = True

    has_class = np.asarray([bool(c) for c in classes])
    available = {
        TEXT: has_class.copy(),
        PROPERTIES: has_properties,
        KNOWLEDGE_GRAPH: has_class.copy(),
        IMAGE: has_image,
        STRUCTURE_3D: has_conformer,
    }
    return PretrainingCorpus(
        smiles=tuple(smiles),
        graphs=graphs,
        is_molecule=is_molecule,
        classes=classes,
        text_features=text_features,
        property_features=property_features,
        images=images,
        coordinates=coordinates,
        available=available,
        class_texts=class_texts,
        text_encoder=encoder,
        key=key,
        build_cost={"seconds": round(time.perf_counter() - started, 2), "cpuSeconds": round(time.process_time() - cpu_started, 2)},
    )


def _to_arrays(corpus: PretrainingCorpus) -> tuple[dict[str, np.ndarray], dict]:
    codes = sorted(corpus.class_texts)
    arrays = {
        "atom_features": corpus.graphs.atom_features,
        "edge_index": corpus.graphs.edge_index,
        "bond_features": corpus.graphs.bond_features,
        "atom_offsets": corpus.graphs.atom_offsets,
        "is_molecule": corpus.is_molecule,
        "text_features": corpus.text_features,
        "property_features": corpus.property_features,
        "images": corpus.images,
        "coordinates": corpus.coordinates,
        "class_text_embeddings": np.stack([corpus.class_texts[c] for c in codes]).astype(np.float32),
        **{f"available_{name}": flags for name, flags in corpus.available.items()},
    }
    meta = {
        "smiles": list(corpus.smiles),
        "classes": [list(c) for c in corpus.classes],
        "class_codes": codes,
        "text_encoder": corpus.text_encoder,
        "build_cost": corpus.build_cost,
    }
    return arrays, meta


def _from_arrays(arrays: dict[str, np.ndarray], meta: dict, key: str) -> PretrainingCorpus:
    graphs = GraphBatch(
        smiles=tuple(meta["smiles"]),
        atom_features=arrays["atom_features"],
        edge_index=arrays["edge_index"],
        bond_features=arrays["bond_features"],
        atom_offsets=arrays["atom_offsets"],
    )
    return PretrainingCorpus(
        smiles=tuple(meta["smiles"]),
        graphs=graphs,
        is_molecule=arrays["is_molecule"].astype(bool),
        classes=tuple(tuple(c) for c in meta["classes"]),
        text_features=arrays["text_features"],
        property_features=arrays["property_features"],
        images=arrays["images"],
        coordinates=arrays["coordinates"],
        available={name: arrays[f"available_{name}"].astype(bool) for name in KNOWLEDGE_MODALITIES},
        class_texts=dict(zip(meta["class_codes"], arrays["class_text_embeddings"], strict=True)),
        text_encoder=meta["text_encoder"],
        key=key,
        build_cost=meta["build_cost"],
    )


def load_corpus(data_dir: Path, *, use_cache: bool = True, log=None) -> PretrainingCorpus:
    """The corpus for the open data in `data_dir`, from the cache when its inputs are unchanged."""
    base = load_knowledge_base(data_dir)
    path = corpus_cache_path(data_dir)
    key = path.stem.removeprefix("corpus-")

    def build() -> PretrainingCorpus:
        if log:
            log(f"Building the pre-training corpus (depictions, conformers, text embeddings) into {path.parent}")
        corpus = build_corpus(base, data_dir, key)
        save_arrays(path, *_to_arrays(corpus))
        return corpus

    return load_or_build(path, lambda found: _cached_corpus(found, key), build, use_cache=use_cache)


def _cached_corpus(path: Path, key: str) -> PretrainingCorpus | None:
    if not path.is_file():
        return None
    try:
        return _from_arrays(*load_arrays(path), key=key)
    except (OSError, ValueError, KeyError):
        path.unlink(missing_ok=True)  # a damaged cache file is rebuilt, never trusted
        return None
