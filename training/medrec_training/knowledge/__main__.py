"""Print the drug knowledge coverage report: `python -m medrec_training.knowledge [--data-dir D] [--atc3 A,B] [--json]`."""

from __future__ import annotations

import argparse
import json
import sys

from .ddi import DDI_MATRIX_DESCRIPTIONS
from .loader import load_drug_knowledge, load_knowledge_base


def format_report(report: dict) -> str:
    molecules, brics, ddi = report["molecules"], report["brics"], report["ddi"]
    lines = [
        f"RDKit {report['rdkit']}",
        f"SMILES: {molecules['smiles_entries']} entries under {molecules['keys_in_file']} keys; "
        f"{molecules['dropped_count']} invalid SMILES dropped; non-ATC3 keys dropped: {', '.join(molecules['non_atc3_keys']) or 'none'}; "
        f"{molecules['duplicates_within_class']} duplicates within a class; "
        f"{molecules['unique_molecules']} unique molecules in {molecules['classes_with_molecules']} ATC3 classes",
    ]
    lines += [f"  dropped {d['atc3']} {d['smiles']!r}: {d['reason']}" for d in molecules["dropped"] if d["smiles"]]
    lines.append(f"BRICS: {brics['fragments']} fragments ({brics['method']}); {brics['molecules_without_breakable_bond']} molecules are one fragment")
    twosides, top40, ddinter = ddi["twosides-atc3"], ddi["twosides-top40"], ddi["ddinter-atc3"]
    lines += [
        f"twosides-atc3: {twosides['atc3_pairs']} ATC3 pairs from {twosides['rows']} rows",
        f"twosides-top40: {top40['stitch_pairs_mapped']}/{top40['stitch_pairs']} STITCH pairs mapped "
        f"({top40['unmapped_cids']} CIDs without ATC) -> {top40['atc3_pairs']} ATC3 pairs",
        f"ddinter-atc3: {ddinter['drugs_matched_atc']}/{ddinter['drugs']} drugs matched a WHO ATC name "
        f"({100 * ddinter['drug_match_rate']:.1f}%); {ddinter['drug_pairs_lifted']}/{ddinter['drug_pairs']} drug pairs lifted "
        f"-> {ddinter['atc3_pairs']} ATC3 pairs (most severe: "
        + ", ".join(f"{level} {count}" for level, count in ddinter["atc3_pairs_by_most_severe_level"].items())
        + f"); {ddinter['within_class_atc3']} classes with a within-class pair",
    ]
    if "vocabulary" in report:
        vocabulary = report["vocabulary"]
        lines += [
            f"Vocabulary: {vocabulary['size']} codes, {vocabulary['with_structure']} with structure, "
            f"{vocabulary['molecules']} molecules, {vocabulary['fragments']} fragments; "
            f"without structure: {', '.join(vocabulary['without_structure']) or 'none'}; "
            f"not ATC3: {', '.join(vocabulary['not_atc3_codes']) or 'none'}",
            "  DDI pairs: " + ", ".join(f"{name} {count}" for name, count in vocabulary["ddi_pairs"].items()),
        ]
    lines += [f"{name}: {text}" for name, text in DDI_MATRIX_DESCRIPTIONS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medrec_training.knowledge", description=__doc__)
    parser.add_argument("--data-dir", help="open data folder (default: MEDREC_DATA_DIR or ../shared/data)")
    parser.add_argument("--atc3", help="comma-separated ATC3 vocabulary to align to (default: none)")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.add_argument("--no-cache", action="store_true", help="rebuild instead of reading the cache")
    arguments = parser.parse_args(argv)
    if arguments.atc3:
        vocabulary = [code.strip() for code in arguments.atc3.split(",") if code.strip()]
        report = load_drug_knowledge(arguments.data_dir, vocabulary, use_cache=not arguments.no_cache).report
    else:
        report = load_knowledge_base(arguments.data_dir, use_cache=not arguments.no_cache).report
    print(json.dumps(report, indent=2) if arguments.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
