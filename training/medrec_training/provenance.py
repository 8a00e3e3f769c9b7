"""Data sources a trained model depends on, with license and attribution (same wording as src/shared/domain/attributions.ts)."""

from __future__ import annotations

PHYSIONET_CITATION = (
    "Goldberger, A., Amaral, L., Glass, L., Hausdorff, J., Ivanov, P. C., Mark, R., ... & Stanley, H. E. (2000). "
    "PhysioBank, PhysioToolkit, and PhysioNet: Components of a new research resource for complex physiologic signals. "
    "Circulation 101(23), e215-e220."
)

MIMIC_IV_DEMO = {
    "name": "MIMIC-IV Clinical Database Demo v2.2 (PhysioNet)",
    "license": "Open Database License (ODbL) 1.0",
    "attribution": (
        "Johnson, A., Bulgarelli, L., Pollard, T., Horng, S., Celi, L. A., & Mark, R. (2023). MIMIC-IV Clinical Database "
        f"Demo (version 2.2). PhysioNet. https://doi.org/10.13026/dp1f-ex47. {PHYSIONET_CITATION} "
        "The model weights are a produced work of this database."
    ),
    "url": "https://physionet.org/content/mimic-iv-demo/2.2/",
}
EICU_DEMO = {
    "name": "eICU Collaborative Research Database Demo v2.0.1 (PhysioNet)",
    "license": "Open Database License (ODbL) 1.0",
    "attribution": (
        "Johnson, A., Pollard, T., Badawi, O., & Raffa, J. (2021). eICU Collaborative Research Database Demo "
        "(version 2.0.1). PhysioNet. https://doi.org/10.13026/4mxk-na84. Pollard, T. J., Johnson, A. E. W., Raffa, J. D., "
        "Celi, L. A., Mark, R. G., & Badawi, O. (2018). The eICU Collaborative Research Database, a freely available "
        f"multi-center database for critical care research. Scientific Data 5, 180178. {PHYSIONET_CITATION}"
    ),
    "url": "https://physionet.org/content/eicu-crd-demo/2.0.1/",
}
WHO_ATC = {
    "name": "WHO Anatomical Therapeutic Chemical (ATC) classification index",
    "license": "CC BY-NC-SA 4.0 (non-commercial use only)",
    "attribution": (
        "WHO Collaborating Centre for Drug Statistics Methodology, ATC/DDD Index (retrieved 2026-04-25). "
        "ATC level-3 classes are the model's output vocabulary."
    ),
    "url": "https://atcddd.fhi.no/atc_ddd_index/",
}
MAPPING_TABLES = {
    "name": "Medication and code mapping tables (ethos-paper, MoleRec, PyHealth)",
    "license": "MIT License",
    "attribution": (
        "Drug name / NDC / GSN to ATC mappings and ATC names from the ethos-paper repository; NDC to ATC level 3 from "
        "MoleRec; TWOSIDES pair lists from PyHealth. Each is used under the MIT License of its repository."
    ),
    "url": "https://github.com/ipolharvard/ethos-paper",
}
DDINTER = {
    "name": "DDInter drug–drug interactions v1",
    "license": "CC BY-NC-SA 4.0 (non-commercial use only)",
    "attribution": (
        "Xiong, G., Yang, Z., Yi, J., Wang, N., Wang, L., Zhu, H., Wu, C., Lu, A., Chen, X., Liu, S., Hou, T., & Cao, D. "
        "(2022). DDInter: an online drug–drug interaction database towards improving clinical decision-making and "
        "patient safety. Nucleic Acids Research 50(D1), D1200–D1207."
    ),
    "url": "https://ddinter.scbdd.com/",
}

PATIENT_DATA_SOURCES = (MIMIC_IV_DEMO, EICU_DEMO, WHO_ATC, MAPPING_TABLES)
DRUG_KNOWLEDGE_SOURCES = (DDINTER,)


def sources_for(uses_drug_knowledge: bool) -> list[dict[str, str]]:
    """Provenance sources of a model trained on the demo cohort (plus the drug knowledge it consumed)."""
    chosen = PATIENT_DATA_SOURCES + (DRUG_KNOWLEDGE_SOURCES if uses_drug_knowledge else ())
    return [dict(source) for source in chosen]
