"""Cross-modal pre-training of the molecular encoder (MKMed, arXiv 2504.18096, section on the encoder).

One GIN encodes every graph of the corpus. For each selected knowledge modality m, a projection head
maps the GIN vector into m's space, a modality encoder maps m's data there, and a bidirectional InfoNCE
loss pulls the two together — SEPARATELY per modality, over the graphs that HAVE m. A molecule without a
conformer still learns from its text, properties, knowledge graph and depiction; a fragment (no text, no
KG entity) still learns from its properties, depiction and geometry. That is the paper's answer to the
"bucket effect". `alignment="intersection"` is the ablation the paper argues against: only graphs that
have every selected modality take part.

The result (PretrainedEncoder) holds, for every corpus graph (by canonical SMILES): the frozen GIN
vector and its projection into each modality's space ("views"), and for the class-level modalities
(text, knowledge graph) the knowledge side's vector of every ATC3 class, so a drug without any molecule
still has those views. Results are cached under training/.cache/pretrain keyed by the corpus, the
settings, the code and the co-prescription pairs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..knowledge.cache import cache_dir, cache_key, load_arrays, load_or_build, save_arrays
from ..knowledge.graph_encoders import MolecularGraphEncoder
from ..knowledge.loader import load_knowledge_base
from .corpus import (
    IMAGE,
    KNOWLEDGE_GRAPH,
    KNOWLEDGE_MODALITIES,
    PROPERTIES,
    STRUCTURE_3D,
    TEXT,
    PretrainingCorpus,
    load_corpus,
    source_digest,
)
from .encoders import DepictionEncoder, DistanceEncoder, Geometry, GraphSubsets, grouped_info_nce, mlp
from .knowledge_graph import TransEModel, build_knowledge_graph, train_transe

ALIGNMENTS = ("cross", "intersection")
_TRANSE_PREFIX = "transe."
CLASS_LEVEL_MODALITIES = (TEXT, KNOWLEDGE_GRAPH)
_TRAINING_SOURCES = ("alignment.py", "encoders.py", "knowledge_graph.py")


@dataclass(frozen=True)
class PretrainSettings:
    modalities: tuple[str, ...] = KNOWLEDGE_MODALITIES
    alignment: str = "cross"
    dim: int = 64
    gin_layers: int = 2
    epochs: int = 25
    batch_size: int = 256
    learning_rate: float = 3e-3
    dropout: float = 0.1
    transe_epochs: int = 20
    # With co-prescription edges (the patients' part of the KG), the encoder starts from the one
    # pre-trained without them and trains this many more epochs (TransE and alignment): one full
    # pre-training is shared by every cross-validation fold, each fold only adds its own patients.
    finetune_epochs: int = 5
    finetune_learning_rate: float = 3e-4  # a fresh Adam's first steps are ~lr per weight: at 3e-3 they undid the alignment
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [m for m in self.modalities if m not in KNOWLEDGE_MODALITIES]
        if unknown or not self.modalities:
            raise ValueError(f"pre-training modalities {list(self.modalities)}: choose one or more of {', '.join(KNOWLEDGE_MODALITIES)}")
        if len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"pre-training modalities repeat: {list(self.modalities)}")
        if self.alignment not in ALIGNMENTS:
            raise ValueError(f"alignment={self.alignment!r}: choose one of {', '.join(ALIGNMENTS)}")
        if self.epochs < 0 or self.finetune_epochs < 0 or self.transe_epochs < 0 or self.batch_size < 2:
            raise ValueError(
                f"epochs, finetune_epochs and transe_epochs must be >= 0 and batch_size >= 2 (got {self.epochs}, "
                f"{self.finetune_epochs}, {self.transe_epochs}, {self.batch_size})"
            )

    def describe(self) -> str:
        return (
            f"{len(self.modalities)} modalities ({', '.join(self.modalities)}), {self.alignment} alignment, GIN {self.gin_layers} "
            f"layers x {self.dim}, batches of {self.batch_size}"
        )


@dataclass(frozen=True)
class PretrainedEncoder:
    settings: PretrainSettings
    smiles: tuple[str, ...]
    graph_vectors: np.ndarray  # float32 [N, dim]: the frozen GIN output of each corpus graph
    views: dict[str, np.ndarray]  # modality -> float32 [N, dim], unit length: the graph's projection into m's space
    class_codes: tuple[str, ...]  # ATC3 codes with class-level views
    class_views: dict[str, np.ndarray]  # class-level modality -> float32 [len(class_codes), dim], unit length
    class_available: dict[str, np.ndarray]  # class-level modality -> bool [len(class_codes)]
    weights: dict[str, np.ndarray]  # state dict of the whole pre-training model (GIN, heads, modality encoders)
    report: dict = field(default_factory=dict)
    key: str = ""

    def row_of(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.smiles)}


class CrossModalModel(nn.Module):
    def __init__(self, corpus: PretrainingCorpus, settings: PretrainSettings, kg_dim: int) -> None:
        super().__init__()
        dim = settings.dim
        self.gin = MolecularGraphEncoder(corpus.graphs, dim, settings.gin_layers, readout="mean", dropout=settings.dropout)
        self.heads = nn.ModuleDict({m: nn.Linear(dim, dim) for m in settings.modalities})
        encoders: dict[str, nn.Module] = {}
        if TEXT in settings.modalities:
            encoders[TEXT] = mlp([corpus.text_features.shape[1], 2 * dim, dim])
        if PROPERTIES in settings.modalities:
            encoders[PROPERTIES] = mlp([corpus.property_features.shape[1], dim, dim])
        if KNOWLEDGE_GRAPH in settings.modalities:
            encoders[KNOWLEDGE_GRAPH] = mlp([kg_dim, dim, dim])
        if IMAGE in settings.modalities:
            encoders[IMAGE] = DepictionEncoder(dim)
        if STRUCTURE_3D in settings.modalities:
            encoders[STRUCTURE_3D] = DistanceEncoder(dim)
        self.encoders = nn.ModuleDict(encoders)
        self.log_scales = nn.ParameterDict({m: nn.Parameter(torch.tensor(float(np.log(1 / 0.07)))) for m in settings.modalities})


def _cache_path(corpus: PretrainingCorpus, settings: PretrainSettings, coprescribed: Sequence[tuple[str, str]]) -> Path:
    parts = {
        "corpus": corpus.key,
        "settings": repr(asdict(settings)),
        "code": source_digest(_TRAINING_SOURCES),
        "torch": torch.__version__,
        # Co-prescription only shapes the KG modality: other settings share one encoder across folds.
        "coprescribed": repr(sorted(coprescribed)) if KNOWLEDGE_GRAPH in settings.modalities else "",
    }
    return cache_dir() / "pretrain" / f"encoder-{cache_key(parts)}.npz"


def _transe_of(encoder: PretrainedEncoder) -> TransEModel:
    return TransEModel(encoder.weights[f"{_TRANSE_PREFIX}entities"], encoder.weights[f"{_TRANSE_PREFIX}relations"], ())


def _class_features(
    corpus: PretrainingCorpus, modality: str, kg_codes: dict[str, int], kg_vectors: np.ndarray | None
) -> tuple[list[str], np.ndarray]:
    """Class-level raw features of every ATC3 class that has them."""
    if modality == TEXT:
        codes = sorted(corpus.class_texts)
        return codes, np.stack([corpus.class_texts[c] for c in codes]).astype(np.float32)
    assert kg_vectors is not None
    codes = sorted(c for c in kg_codes if len(c) == 4)
    return codes, kg_vectors[[kg_codes[c] for c in codes]]


def pretrain(
    corpus: PretrainingCorpus,
    settings: PretrainSettings,
    atc_codes: Sequence[str],
    coprescribed: Sequence[tuple[str, str]] = (),
    data_dir: Path | None = None,
    log=None,
    start: PretrainedEncoder | None = None,
) -> PretrainedEncoder:
    """Train the encoder (no cache). `atc_codes`: every code of the WHO index (the KG's entities).

    With `start` (an encoder of the same settings), continue from its weights for
    settings.finetune_epochs epochs instead of training settings.epochs from scratch.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    torch.manual_seed(settings.seed)
    generator = np.random.default_rng(settings.seed)
    if start is not None and start.settings != settings:
        raise ValueError("pre-training warm start: the starting encoder was trained with other settings")
    epochs = settings.finetune_epochs if start is not None else settings.epochs
    report: dict = {
        "settings": asdict(settings),
        "coverage": corpus.coverage(),
        "textEncoder": corpus.text_encoder,
        "corpusBuildCost": corpus.build_cost,
        "coprescribedPairs": len(coprescribed) if KNOWLEDGE_GRAPH in settings.modalities else 0,
        "warmStart": {"from": start.key, "epochs": epochs} if start is not None else None,
    }

    # Knowledge-graph features: TransE over the ATC/DDI/co-prescription graph, then a class's entity.
    kg_vectors, kg_index = None, {}
    if KNOWLEDGE_GRAPH in settings.modalities:
        base = load_knowledge_base(data_dir)
        graph = build_knowledge_graph(base, atc_codes, coprescribed)
        kg_started = time.perf_counter()
        transe_start = _transe_of(start) if start is not None else None
        transe = train_transe(
            graph,
            dim=settings.dim,
            epochs=settings.finetune_epochs if start is not None else settings.transe_epochs,
            learning_rate=0.01,
            # Fine-tuning learns the co-prescription relation at full speed but moves the entity table,
            # which the molecules were aligned to, slowly (at the full step the KG alignment fell to chance).
            entity_learning_rate=0.001 if start is not None else None,
            seed=settings.seed,
            start=transe_start,
        )
        kg_vectors, kg_losses = transe.entities, transe.losses
        kg_index = graph.index()
        report["knowledgeGraph"] = {
            "entities": len(graph.entities),
            "triples": graph.relation_counts(),
            "transeLoss": [round(v, 4) for v in kg_losses],
            "seconds": round(time.perf_counter() - kg_started, 2),
        }
    features: dict[str, torch.Tensor] = {}
    groups: dict[str, np.ndarray] = {}
    available = {m: corpus.available[m].copy() for m in settings.modalities}
    class_key = {key: i for i, key in enumerate(sorted(set(corpus.classes)))}
    per_graph = np.arange(corpus.size)
    for modality in settings.modalities:
        groups[modality] = np.asarray([class_key[c] for c in corpus.classes]) if modality in CLASS_LEVEL_MODALITIES else per_graph
    if TEXT in settings.modalities:
        features[TEXT] = torch.from_numpy(corpus.text_features)
    if PROPERTIES in settings.modalities:
        features[PROPERTIES] = torch.from_numpy(corpus.property_features)
    if KNOWLEDGE_GRAPH in settings.modalities:
        assert kg_vectors is not None
        kg_features = np.zeros((corpus.size, kg_vectors.shape[1]), dtype=np.float32)
        for row, codes in enumerate(corpus.classes):
            known = [kg_index[c] for c in codes if c in kg_index]
            available[KNOWLEDGE_GRAPH][row] = bool(known)
            if known:
                kg_features[row] = kg_vectors[known].mean(axis=0)
        features[KNOWLEDGE_GRAPH] = torch.from_numpy(kg_features)
    if IMAGE in settings.modalities:
        features[IMAGE] = torch.from_numpy(corpus.images)
    geometry = None
    if STRUCTURE_3D in settings.modalities:
        geometry = Geometry(
            corpus.graphs.atom_features[:, 0], corpus.coordinates, corpus.graphs.atom_offsets, corpus.available[STRUCTURE_3D]
        )

    present = np.stack([available[m] for m in settings.modalities])
    pool = np.flatnonzero(present.all(axis=0) if settings.alignment == "intersection" else present.any(axis=0))
    report["pool"] = {
        "graphs": len(pool),
        "molecules": int(corpus.is_molecule[pool].sum()),
        "fragments": int((~corpus.is_molecule[pool]).sum()),
        "pairsPerModality": {m: int(available[m][pool].sum()) for m in settings.modalities},
    }
    model = CrossModalModel(corpus, settings, settings.dim)
    if start is not None:
        model.load_state_dict(
            {name: torch.from_numpy(value) for name, value in start.weights.items() if not name.startswith(_TRANSE_PREFIX)}
        )
    encode_graphs = GraphSubsets(model.gin, corpus.graphs.atom_offsets, corpus.graphs.edge_index)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.finetune_learning_rate if start is not None else settings.learning_rate)

    def encode_knowledge(modality: str, rows: np.ndarray) -> torch.Tensor:
        if modality == STRUCTURE_3D:
            assert geometry is not None
            return model.encoders[modality](**geometry.select(rows))
        return model.encoders[modality](features[modality][torch.from_numpy(rows)])

    history: list[dict[str, float]] = []
    align_started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = generator.permutation(pool)
        sums: dict[str, list[float]] = {m: [] for m in settings.modalities}
        for first in range(0, len(order), settings.batch_size):
            batch = np.sort(order[first : first + settings.batch_size])
            graph_vectors = encode_graphs(batch)
            losses = []
            for modality in settings.modalities:
                in_batch = available[modality][batch]
                rows = batch[in_batch]
                if len(np.unique(groups[modality][rows])) < 2:
                    continue  # InfoNCE needs a negative
                molecule_side = model.heads[modality](graph_vectors[torch.from_numpy(np.flatnonzero(in_batch))])
                loss = grouped_info_nce(
                    molecule_side, encode_knowledge(modality, rows), torch.from_numpy(groups[modality][rows]), model.log_scales[modality]
                )
                losses.append(loss)
                sums[modality].append(float(loss.detach()))
            if not losses:
                continue
            total = torch.stack(losses).mean()
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
        history.append({m: round(float(np.mean(v)), 4) for m, v in sums.items() if v})
    report["alignmentLoss"] = history
    report["alignmentSeconds"] = round(time.perf_counter() - align_started, 2)

    model.eval()
    with torch.no_grad():
        graph_vectors = model.gin()
        views = {m: torch.nn.functional.normalize(model.heads[m](graph_vectors), dim=1).numpy() for m in settings.modalities}
        class_codes = sorted(corpus.class_texts)
        class_views: dict[str, np.ndarray] = {}
        class_available: dict[str, np.ndarray] = {}
        for modality in settings.modalities:
            if modality not in CLASS_LEVEL_MODALITIES:
                continue
            codes, raw = _class_features(corpus, modality, kg_index, kg_vectors)
            encoded = torch.nn.functional.normalize(model.encoders[modality](torch.from_numpy(raw)), dim=1).numpy()
            position = {c: i for i, c in enumerate(codes)}
            table = np.zeros((len(class_codes), settings.dim), dtype=np.float32)
            flags = np.zeros(len(class_codes), dtype=bool)
            for row, code in enumerate(class_codes):
                if code in position:
                    table[row], flags[row] = encoded[position[code]], True
            class_views[modality], class_available[modality] = table, flags
    report["retrieval"] = _retrieval_accuracy(views, model, settings, available, groups, encode_knowledge, pool)
    # Wall time depends on what else the machine runs; CPU time is what the work itself costs.
    report["seconds"] = round(time.perf_counter() - started, 2)
    report["cpuSeconds"] = round(time.process_time() - cpu_started, 2)
    weights = {name: tensor.detach().numpy().copy() for name, tensor in model.state_dict().items()}
    if KNOWLEDGE_GRAPH in settings.modalities:
        weights[f"{_TRANSE_PREFIX}entities"], weights[f"{_TRANSE_PREFIX}relations"] = transe.entities, transe.relations
    return PretrainedEncoder(
        settings=settings,
        smiles=corpus.smiles,
        graph_vectors=graph_vectors.numpy().astype(np.float32),
        views={m: v.astype(np.float32) for m, v in views.items()},
        class_codes=tuple(class_codes),
        class_views=class_views,
        class_available=class_available,
        weights=weights,
        report=report,
    )


@torch.no_grad()
def _retrieval_accuracy(views, model, settings, available, groups, encode_knowledge, pool, sample: int = 256) -> dict[str, float]:
    """Per modality, top-1 accuracy of finding a graph's own knowledge among `sample` graphs' (chance ~1/sample).

    A quick check that alignment happened; not a benchmark of the encoder.
    """
    accuracy = {}
    for modality in settings.modalities:
        rows = pool[available[modality][pool]][:sample]
        if len(rows) < 2:
            continue
        knowledge = torch.nn.functional.normalize(encode_knowledge(modality, rows), dim=1)
        similarity = torch.from_numpy(views[modality][rows]) @ knowledge.T
        best = similarity.argmax(dim=1).numpy()
        accuracy[modality] = round(float(np.mean(groups[modality][rows][best] == groups[modality][rows])), 4)
    return accuracy


# -- cache --------------------------------------------------------------------------------------


def _save(path: Path, encoder: PretrainedEncoder) -> None:
    arrays = {"graph_vectors": encoder.graph_vectors}
    arrays.update({f"view:{m}": v for m, v in encoder.views.items()})
    arrays.update({f"class_view:{m}": v for m, v in encoder.class_views.items()})
    arrays.update({f"class_available:{m}": v for m, v in encoder.class_available.items()})
    arrays.update({f"weight:{name}": value for name, value in encoder.weights.items()})
    meta = {
        "settings": asdict(encoder.settings),
        "smiles": list(encoder.smiles),
        "class_codes": list(encoder.class_codes),
        "report": encoder.report,
    }
    save_arrays(path, arrays, meta)


def _load(path: Path) -> PretrainedEncoder:
    arrays, meta = load_arrays(path)
    settings_fields = dict(meta["settings"])
    settings_fields["modalities"] = tuple(settings_fields["modalities"])

    def prefixed(prefix: str) -> dict[str, np.ndarray]:
        return {name[len(prefix) :]: value for name, value in arrays.items() if name.startswith(prefix)}

    return PretrainedEncoder(
        settings=PretrainSettings(**settings_fields),
        smiles=tuple(meta["smiles"]),
        graph_vectors=arrays["graph_vectors"],
        views=prefixed("view:"),
        class_codes=tuple(meta["class_codes"]),
        class_views=prefixed("class_view:"),
        class_available={m: v.astype(bool) for m, v in prefixed("class_available:").items()},
        weights=prefixed("weight:"),
        report=meta["report"],
        key=path.stem,
    )


def atc_index_codes(data_dir: Path) -> list[str]:
    from ..text.building import find_atc_index, load_atc_names

    return list(load_atc_names(find_atc_index(data_dir)).names)


def load_or_pretrain(
    settings: PretrainSettings = PretrainSettings(),
    coprescribed: Sequence[tuple[str, str]] = (),
    data_dir: Path | None = None,
    *,
    use_cache: bool = True,
    log=None,
) -> PretrainedEncoder:
    """The pre-trained encoder for these settings and co-prescription pairs: cached, else trained now.

    With the knowledge-graph modality and co-prescription pairs, this is the encoder pre-trained
    without co-prescription (itself cached), fine-tuned with them.
    """
    from ..paths import data_dir as default_data_dir

    root = Path(data_dir).resolve() if data_dir is not None else default_data_dir()
    corpus = load_corpus(root, use_cache=use_cache, log=log)
    pairs = tuple(sorted(coprescribed)) if KNOWLEDGE_GRAPH in settings.modalities else ()
    path = _cache_path(corpus, settings, pairs)

    def train() -> PretrainedEncoder:
        # the base encoder (its own cache file and lock) is what fine-tuning with co-prescription starts from
        start = load_or_pretrain(settings, (), root, use_cache=use_cache, log=log) if pairs else None
        if log:
            what = (
                f"fine-tuning {settings.finetune_epochs} epochs with {len(pairs)} co-prescription pairs"
                if start is not None
                else f"pre-training {settings.epochs} epochs"
            )
            log(f"Cross-modal encoder, {what}: {settings.describe()}")
        encoder = pretrain(corpus, settings, atc_index_codes(root), pairs, root, log, start=start)
        _save(path, encoder)
        return PretrainedEncoder(**{**encoder.__dict__, "key": path.stem})

    return load_or_build(path, _cached_encoder, train, use_cache=use_cache)


def _cached_encoder(path: Path) -> PretrainedEncoder | None:
    if not path.is_file():
        return None
    try:
        return _load(path)
    except (OSError, ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)  # a damaged cache file is retrained, never trusted
        return None
