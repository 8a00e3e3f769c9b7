"""The "Nested model selection" section of models/BENCHMARK.md, rendered from models/model_selection.json.

The record is written by `python -m medrec_training.experiments.model_selection`; the benchmark's renderer adds
this section whenever the record describes the same cohort, so `benchmark --render-only` keeps it.
"""

from __future__ import annotations

import json
from pathlib import Path

MODEL_SELECTION_RECORD = "model_selection.json"


def load_selection_record(folder: Path, cohort: str) -> dict | None:
    """The record in `folder` if there is one for this cohort (a record of other data would mislabel the table)."""
    path = folder / MODEL_SELECTION_RECORD
    if not path.exists():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    return record if record.get("cohort") == cohort else None


def _interval(entry: dict | None, digits: int = 4) -> str:
    if not entry:
        return "–"
    if entry.get("ci95") is None:
        return f"{entry['mean']:.{digits}f}"
    low, high = entry["ci95"]
    return f"{entry['mean']:.{digits}f} ± {(high - low) / 2:.{digits}f}"


def _overrides(overrides: dict) -> str:
    return ", ".join(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}" for name, value in overrides.items()) or "none"


def selection_markdown(record: dict) -> list[str]:
    baseline = record["baseline"]
    baseline_name = baseline["name"].lower()
    folds = record["folds"]
    lines = [
        "",
        "## Nested model selection",
        "",
        f"Generated {record['generatedAt']} by `{record['command'].strip()}` (a separate run on the same database, folds and "
        f"seed as above, with the current importer's mapping: {record['medicationClasses']} ATC3 classes). "
        f"Rule: {record['selectionRule']}. The test patients take no part in the choice. At most "
        f"{record['maxEpochs']} epochs "
        + ("(capped with --max-epochs)" if record["maxEpochsCapped"] else "(the configured maximum, as in the benchmark)")
        + ", with the benchmark's early stopping.",
        "",
        "| Configuration | Overrides of the benchmark's configuration | Why |",
        "|---|---|---|",
    ]
    lines += [f"| {c['name']} | {_overrides(c['overrides'])} | {c['why']} |" for c in record["grid"]]
    lines += ["", record["gridNote"], "", "Per configuration (all folds) and the configuration each outer fold chose:", ""]
    lines += ["| Model | Configuration | Parameters | Validation Jaccard (mean) | Test Jaccard | Chosen on folds |", "|---|---|---|---|---|---|"]
    for model in record["models"]:
        for name, config in model["configs"].items():
            chosen = [str(fold + 1) for fold, choice in enumerate(model["chosen"]) if choice == name]
            lines.append(
                f"| {model['name']} | {name} | {config['parameters']:,} | {config['meanValidationJaccard']:.4f} | "
                f"{_interval(config['summary'].get('jaccard'))} | {', '.join(chosen) or '–'} |"
            )
    lines += [
        "",
        f"Compared with {baseline_name} (test Jaccard {_interval(baseline['summary'].get('jaccard'))}), paired by fold over the "
        f"{folds} test folds: mean ΔJaccard and its 95% t-interval; beyond the interval only if the whole interval lies above 0. "
        "Ensembles average the members' calibrated probabilities and choose their threshold on the validation patients. "
        "The nested choice's validation mean is the best of the grid on each fold, so it is optimistic by construction; "
        "its test figure is not.",
        "",
        "| Model or ensemble | Kind | Validation Jaccard (mean) | Test Jaccard | ΔJaccard | 95% interval | Beyond the interval? |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in record["comparisons"]:
        delta = row["deltaJaccard"]
        low, high = delta["ci95"] if delta and delta["ci95"] else (float("nan"), float("nan"))
        lines.append(
            f"| {row['name']} | {row['kind']} | {row['meanValidationJaccard']:.4f} | {_interval(row['jaccard'])} | "
            + (f"{delta['mean']:+.4f} | [{low:+.4f}, {high:+.4f}]" if delta else "– | –")
            + f" | {row['verdict']} |"
        )
    cost = record["cost"]
    load = cost["loadAverage1m"]
    lines += ["", "Cost (wall and CPU seconds of the jobs, each on one torch thread in a worker process):", ""]
    lines += ["| Model | Jobs | Wall (s) | CPU (s) |", "|---|---|---|---|"]
    for model_id, entry in cost["perModel"].items():
        lines.append(f"| {model_id} | {entry['jobs']} | {entry['wallSeconds']:.0f} | {entry['cpuSeconds']:.0f} |")
    lines.append(f"| total | {sum(e['jobs'] for e in cost['perModel'].values())} | {cost['jobWallSeconds']:.0f} | {cost['jobCpuSeconds']:.0f} |")
    resumed = f", {cost['resumedJobs']} job(s) resumed from an earlier invocation" if cost.get("resumedJobs") else ""
    lines += [
        "",
        f"Whole command: {cost['wallSeconds']:.0f} s wall ({cost['wallSeconds'] / 60:.1f} min) with {cost['workers']} worker "
        f"process(es) x {cost['threads']} thread(s) on {cost['cpus']} CPU(s){resumed}; 1-minute load average {load['start']:.2f} "
        f"at the start, {load['mean']:.2f} on average and {load['max']:.2f} at most when jobs finished (the machine is shared, "
        "so wall time exceeds CPU time).",
        "",
        f"**{record['conclusion']}**",
    ]
    return lines


SECTION_HEADER = "## Nested model selection"
FOLLOWS = "## Compared with "  # the benchmark renderer puts the section right after this one


def splice_section(markdown: str, record: dict) -> str:
    """BENCHMARK.md with this record's section put where the benchmark's renderer puts it (replacing an older one),
    the rest of the text unchanged: the place the renderer gives it after the comparison with the baseline."""
    section = "\n".join(selection_markdown(record)).lstrip("\n").split("\n")
    lines = markdown.split("\n")
    if SECTION_HEADER in lines:  # replace the old section: up to the next second-level header
        start = lines.index(SECTION_HEADER)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        return "\n".join(lines[:start] + section + [""] + lines[end:]) if end < len(lines) else "\n".join(lines[:start] + section + [""])
    after = next((i for i, line in enumerate(lines) if line.startswith(FOLLOWS)), None)
    if after is None:
        raise ValueError(f"BENCHMARK.md has no '{FOLLOWS}...' section to put the model selection after")
    end = next((i for i in range(after + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[:end] + section + [""] + lines[end:])
