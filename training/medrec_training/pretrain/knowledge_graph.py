"""The drug knowledge graph and its TransE embeddings (the 'knowledge-graph' modality).

The paper aligns molecules to TransE embeddings of DRKG, which is not among the open data here. We build
a smaller graph from what is:

    entities   every code of the WHO ATC index at levels 1-4 (level-5 substances would be leaves with
               a single is-a edge: they cannot shape the ATC3 vectors the molecules are aligned to,
               and they would make up 80% of the table)
    is-a       each code -> its parent (level 2..4 -> level 1..3)
    twosides   ATC3 pairs of the two TWOSIDES sources (knowledge.ddi), both directions
    ddinter-*  ATC3 pairs lifted from DDInter, one relation per most severe level (major, moderate,
               minor, unknown), both directions
    co-prescribed  ATC3 pairs given together in at least COPRESCRIPTION_MIN_VISITS visits of the
               patients the model is trained on (passed in, never the evaluation patients), and at
               least COPRESCRIPTION_MIN_LIFT times as often as independent use would give: on the
               demo cohort, half of all class pairs meet twice somewhere (4,591 pairs), which says
               more about busy ICU visits than about the drugs; this keeps ~500 associated pairs

and train TransE (Bordes et al. 2013): ||h + r - t||_2 small for true triples, a margin above it for
triples with a corrupted head or tail; entity vectors are renormalised to unit length after each step.
A molecule's KG feature is the mean entity vector of its ATC3 class(es).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..knowledge.ddi import SEVERITY_LEVELS, TWOSIDES_ATC3, TWOSIDES_TOP40
from ..knowledge.loader import KnowledgeBase

COPRESCRIPTION_MIN_VISITS = 5
COPRESCRIPTION_MIN_LIFT = 2.0


@dataclass(frozen=True)
class KnowledgeGraph:
    entities: tuple[str, ...]
    relations: tuple[str, ...]
    triples: np.ndarray  # int64 [T, 3]: head, relation, tail

    def index(self) -> dict[str, int]:
        return {code: i for i, code in enumerate(self.entities)}

    def relation_counts(self) -> dict[str, int]:
        counts = np.bincount(self.triples[:, 1], minlength=len(self.relations)) if len(self.triples) else np.zeros(len(self.relations), int)
        return {name: int(count) for name, count in zip(self.relations, counts, strict=True)}


def coprescribed_pairs(
    targets: np.ndarray,
    atc3_vocab: Sequence[str],
    min_visits: int = COPRESCRIPTION_MIN_VISITS,
    min_lift: float = COPRESCRIPTION_MIN_LIFT,
) -> tuple[tuple[str, str], ...]:
    """Unordered ATC3 pairs given together in >= min_visits visits and with lift >= min_lift, where
    lift = P(both) / (P(a) P(b)) over the visits (targets: multi-hot [visits, D])."""
    hot = (np.asarray(targets) > 0).astype(np.float64)
    if hot.shape[0] == 0:
        return ()
    together = hot.T @ hot
    share = hot.mean(axis=0)
    lift = (together / hot.shape[0]) / np.maximum(np.outer(share, share), 1e-12)
    first, second = np.nonzero(np.triu((together >= min_visits) & (lift >= min_lift), k=1))
    return tuple(sorted((atc3_vocab[a], atc3_vocab[b]) for a, b in zip(first.tolist(), second.tolist())))


def build_knowledge_graph(base: KnowledgeBase, atc_codes: Iterable[str], coprescribed: Iterable[tuple[str, str]]) -> KnowledgeGraph:
    """The graph described in the module docstring. `atc_codes`: every code of the WHO index."""
    entities = tuple(sorted({code for code in atc_codes if len(code) <= 5} | set(base.atc3_codes)))
    index = {code: i for i, code in enumerate(entities)}
    relations = ("is-a", "twosides", *(f"ddinter-{level.lower()}" for level in SEVERITY_LEVELS), "co-prescribed")
    relation_index = {name: i for i, name in enumerate(relations)}
    triples: list[tuple[int, int, int]] = []

    parent_length = {5: 4, 4: 3, 3: 1}  # ATC code lengths: level 4 (5 chars) -> 3 -> 2 -> 1
    for code in entities:
        parent = code[: parent_length[len(code)]] if len(code) in parent_length else None
        if parent and parent in index:
            triples.append((index[code], relation_index["is-a"], index[parent]))

    def both_ways(pairs: Iterable[tuple[str, str]], relation: str) -> None:
        for a, b in pairs:
            if a in index and b in index and a != b:
                triples.append((index[a], relation_index[relation], index[b]))
                triples.append((index[b], relation_index[relation], index[a]))

    both_ways(sorted(set(base.ddi_pairs[TWOSIDES_ATC3]) | set(base.ddi_pairs[TWOSIDES_TOP40])), "twosides")
    counts = base.ddinter_level_counts
    present = counts > 0
    # Most severe level present: SEVERITY_LEVELS runs from least to most severe, so the last one present.
    last = present.shape[2] - 1 - np.argmax(present[..., ::-1], axis=2)
    most_severe = np.where(present.any(axis=2), last, -1)
    for level_position, level in enumerate(SEVERITY_LEVELS):
        first, second = np.nonzero(np.triu(most_severe == level_position, k=1))
        both_ways(((base.atc3_codes[a], base.atc3_codes[b]) for a, b in zip(first.tolist(), second.tolist())), f"ddinter-{level.lower()}")
    both_ways(coprescribed, "co-prescribed")
    array = np.asarray(sorted(set(triples)), dtype=np.int64).reshape(-1, 3)
    return KnowledgeGraph(entities, relations, array)


@dataclass(frozen=True)
class TransEModel:
    entities: np.ndarray  # float32 [entities, dim], unit rows
    relations: np.ndarray  # float32 [relations, dim]
    losses: tuple[float, ...]  # mean margin loss per epoch


def train_transe(
    graph: KnowledgeGraph,
    dim: int = 64,
    epochs: int = 20,  # the loss flattens after ~10 epochs on this graph
    batch_size: int = 8192,
    margin: float = 1.0,
    learning_rate: float = 0.01,
    seed: int = 0,
    start: TransEModel | None = None,
    entity_learning_rate: float | None = None,
) -> TransEModel:
    """TransE on `graph`, from the paper's random initialisation or from `start` (same entity and
    relation lists, e.g. a graph without co-prescription edges: fine-tuning then only has to place
    the new edges). entity_learning_rate (default: learning_rate) lets a fine-tune learn a new
    relation at full speed while the entity table, which molecules were aligned to, moves slowly."""
    generator = torch.Generator().manual_seed(seed)
    entities = torch.nn.Embedding(len(graph.entities), dim)
    relations = torch.nn.Embedding(len(graph.relations), dim)
    with torch.no_grad():
        if start is not None:
            if start.entities.shape != entities.weight.shape or start.relations.shape != relations.weight.shape:
                raise ValueError("TransE warm start: the graph's entities or relations differ from the starting model's")
            entities.weight.copy_(torch.from_numpy(start.entities))
            relations.weight.copy_(torch.from_numpy(start.relations))
        else:
            bound = 6.0 / np.sqrt(dim)  # the paper's uniform initialisation
            entities.weight.uniform_(-bound, bound, generator=generator)
            relations.weight.uniform_(-bound, bound, generator=generator)
            relations.weight.div_(relations.weight.norm(dim=1, keepdim=True))
            entities.weight.div_(entities.weight.norm(dim=1, keepdim=True))
    triples = torch.from_numpy(graph.triples)
    optimizer = torch.optim.Adam(
        [
            {"params": [entities.weight], "lr": learning_rate if entity_learning_rate is None else entity_learning_rate},
            {"params": [relations.weight], "lr": learning_rate},
        ]
    )
    losses: list[float] = []
    for _ in range(epochs if len(triples) else 0):
        order = torch.randperm(len(triples), generator=generator)
        epoch_losses = []
        for first in range(0, len(triples), batch_size):
            batch = triples[order[first : first + batch_size]]
            head, relation, tail = batch[:, 0], batch[:, 1], batch[:, 2]
            corrupted = torch.randint(0, len(graph.entities), (len(batch),), generator=generator)
            replace_head = torch.rand(len(batch), generator=generator) < 0.5
            false_head = torch.where(replace_head, corrupted, head)
            false_tail = torch.where(replace_head, tail, corrupted)
            true_distance = (entities(head) + relations(relation) - entities(tail)).norm(dim=1)
            false_distance = (entities(false_head) + relations(relation) - entities(false_tail)).norm(dim=1)
            loss = torch.relu(margin + true_distance - false_distance).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                entities.weight.div_(entities.weight.norm(dim=1, keepdim=True).clamp(min=1e-12))
            epoch_losses.append(float(loss.detach()))
        losses.append(float(np.mean(epoch_losses)))
    return TransEModel(
        entities.weight.detach().numpy().astype(np.float32).copy(),
        relations.weight.detach().numpy().astype(np.float32).copy(),
        tuple(losses),
    )
