"""Pre-train MKMed's cross-modal molecular encoder from scratch and print what it cost.

    python -m medrec_training.pretrain [--database DB] [--data-dir DIR] [--modalities a,b,...]
                                       [--alignment cross|intersection] [--epochs N] [--no-cache] [--json]

The knowledge graph's co-prescription edges come from every visit of the patient database, which is
what the benchmark's final (shipped) MKMed trains on, so the benchmark finds these weights in the cache
(training/.cache/pretrain, keyed by the hash of every input). Cross-validation folds pre-train their own
encoder from their own training patients (see models/mkmed.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from ..datasets import DatasetError
from ..knowledge.cache import cache_dir
from ..paths import data_dir as default_data_dir
from ..paths import default_database_path
from .alignment import ALIGNMENTS, PretrainSettings, load_or_pretrain
from .corpus import KNOWLEDGE_GRAPH, KNOWLEDGE_MODALITIES, corpus_cache_path
from .knowledge_graph import COPRESCRIPTION_MIN_LIFT, COPRESCRIPTION_MIN_VISITS, coprescribed_pairs


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m medrec_training.pretrain", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="patient database for the co-prescription edges (default: MEDREC_DB or resources/demo.sqlite)")
    parser.add_argument("--data-dir", help="open data folder (default: MEDREC_DATA_DIR or ../shared/data)")
    parser.add_argument(
        "--modalities", default=",".join(KNOWLEDGE_MODALITIES), help=f"comma-separated, from {', '.join(KNOWLEDGE_MODALITIES)}"
    )
    parser.add_argument("--alignment", default="cross", choices=ALIGNMENTS)
    parser.add_argument("--epochs", type=int, default=PretrainSettings.epochs)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as the benchmark)")
    parser.add_argument("--no-cache", action="store_true", help="recompute everything (corpus and encoder), then cache it")
    parser.add_argument("--json", action="store_true", help="print the full pre-training report as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    torch.set_num_threads(arguments.threads)
    started, cpu_started = time.perf_counter(), time.process_time()
    root = Path(arguments.data_dir).resolve() if arguments.data_dir else default_data_dir()
    database = Path(arguments.database) if arguments.database else default_database_path()
    try:
        settings = PretrainSettings(
            modalities=tuple(m.strip() for m in arguments.modalities.split(",") if m.strip()),
            alignment=arguments.alignment,
            epochs=arguments.epochs,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    pairs: tuple[tuple[str, str], ...] = ()
    if KNOWLEDGE_GRAPH in settings.modalities:
        from ..harness import prepare_data

        try:
            data = prepare_data(database, structures_file=root / "knowledge" / "molecules" / "atc3_smiles.json", folds=2)
        except DatasetError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        pairs = coprescribed_pairs(data.samples.targets, data.vocabularies.medication.codes())
        print(
            f"Co-prescription: {len(pairs)} ATC3 pairs given together in >= {COPRESCRIPTION_MIN_VISITS} of the "
            f"{len(data.samples)} visits of {database.name}, with lift >= {COPRESCRIPTION_MIN_LIFT}"
        )
    try:
        encoder = load_or_pretrain(settings, pairs, root, use_cache=not arguments.no_cache, log=print)
    except (FileNotFoundError, ImportError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    report = encoder.report
    if arguments.json:
        print(json.dumps(report, indent=2))
    coverage = report["coverage"]
    print(f"Encoder: {settings.describe()}; text encoder {report['textEncoder'].split(' (')[0]}")
    print(
        f"Corpus: {coverage['all']['molecules']} molecules + {coverage['all']['fragments']} BRICS fragments; with each modality: "
        + ", ".join(f"{m} {c['molecules']}+{c['fragments']}" for m, c in coverage.items() if m != "all")
    )
    pool = report["pool"]
    print(
        f"Aligned on {pool['graphs']} graphs ({pool['molecules']} molecules, {pool['fragments']} fragments); pairs per modality {pool['pairsPerModality']}"
    )
    if "knowledgeGraph" in report:
        kg = report["knowledgeGraph"]
        print(
            f"Knowledge graph: {kg['entities']} entities, triples {kg['triples']}; TransE loss {kg['transeLoss'][0]} -> {kg['transeLoss'][-1]}"
        )
    losses = report["alignmentLoss"]
    if losses:
        print("InfoNCE per modality, first -> last epoch: " + ", ".join(f"{m} {losses[0][m]} -> {losses[-1][m]}" for m in losses[-1]))
    print(f"Top-1 retrieval of a graph's own knowledge among 256 (chance ~0.004): {report['retrieval']}")
    corpus_cost = report["corpusBuildCost"]
    costs = [f"corpus features {corpus_cost['seconds']} s wall / {corpus_cost['cpuSeconds']} s CPU (once per data version)"]
    if report.get("warmStart"):
        base = load_or_pretrain(settings, (), root).report  # in the cache: fine-tuning started from it
        costs.append(f"pre-training without co-prescription {base['seconds']} s wall / {base['cpuSeconds']} s CPU (shared by all folds)")
        costs.append(f"fine-tuning with co-prescription {report['seconds']} s wall / {report['cpuSeconds']} s CPU")
    else:
        costs.append(f"pre-training {report['seconds']} s wall / {report['cpuSeconds']} s CPU")
    print("Cost when computed: " + "; ".join(costs))
    print(f"Weights: {cache_dir() / 'pretrain' / encoder.key}.npz; corpus features: {corpus_cache_path(root).name}")
    print(f"This command: {time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu_started:.1f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
