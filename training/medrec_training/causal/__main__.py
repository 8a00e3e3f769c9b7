"""Report of the causal effect estimation on a patient database (timing, counts, the largest effects).

    python -m medrec_training.causal [--database resources/demo.sqlite] [--share 0.68] [--top 15]

Estimates on a random `share` of the patients (0.68 ~ one benchmark training fold: 4/5 of the
patients minus 15% validation), as CafeMed does inside each fold, and prints the figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ..datasets import DatasetError
from ..harness import prepare_data
from ..paths import default_database_path
from . import EffectSettings, estimate_effects, training_visits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medrec_training.causal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="patient database (default: MEDREC_DB or resources/demo.sqlite)")
    parser.add_argument("--share", type=float, default=0.68, help="share of patients to estimate on (default 0.68)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--top", type=int, default=15, help="largest significant effects to list")
    arguments = parser.parse_args(argv)
    if not 0 < arguments.share <= 1:
        parser.error(f"--share must lie in (0, 1], got {arguments.share}")
    try:
        data = prepare_data(Path(arguments.database) if arguments.database else default_database_path(), folds=2)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    patients = np.unique(data.samples.patient_ids)
    chosen = np.random.default_rng(arguments.seed).permutation(patients)[: max(1, int(arguments.share * len(patients)))]
    train = data.samples.subset(np.nonzero(np.isin(data.samples.patient_ids, chosen))[0])
    started, cpu_started = time.perf_counter(), time.process_time()
    effects = estimate_effects(training_visits(train, data.vocabularies.sizes()), EffectSettings())
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    summary = effects.summary()
    print(f"{len(chosen)} patients, {effects.visits} visits; estimated in {wall:.1f}s wall, {cpu:.1f}s CPU ({summary['timings']}), "
          f"{effects.tests} independence tests")
    for kind in ("diagnosis", "procedure"):
        counts = summary[kind]
        print(f"{kind}: {counts['codesEstimated']} codes, {counts['pairsEstimated']} pairs estimated, "
              f"{counts['pairsSignificant']} with q <= {effects.settings.fdr}")
    rows = []
    for kind, vocabulary in (("diagnosis", data.vocabularies.diagnosis), ("procedure", data.vocabularies.procedure)):
        significant = effects.of(kind).significant(effects.settings.fdr)
        for entry, column in zip(*np.nonzero(significant)):
            rows.append((abs(significant[entry, column]), kind, vocabulary.entries[entry], column, entry))
    rows.sort(key=lambda row: -row[0])
    print("\nLargest significant effects (risk difference; crude in brackets):")
    for _, kind, entry, column, index in rows[: arguments.top]:
        table = effects.of(kind)
        drug = data.vocabularies.medication.entries[column]
        print(
            f"  {entry.code:>10} {(entry.title or '')[:45]:45} -> {drug.code} {(drug.title or '')[:28]:28} "
            f"{table.effect[index, column]:+.3f} ({table.crude[index, column]:+.3f}) q={table.q_value[index, column]:.1e}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
