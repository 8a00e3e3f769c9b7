"""Model registry: id -> "module:Class". The benchmark trains every entry whose module exists.

Adding a model is one file (a MedRecModel subclass) plus one line here. Entries are import strings so
that one missing or broken model never stops the others from loading.
"""

from __future__ import annotations

import importlib

from .base import MedRecModel

MODEL_REGISTRY: dict[str, str] = {
    "most-frequent": "medrec_training.models.most_frequent:MostFrequentModel",
    "logistic": "medrec_training.models.logistic:LogisticRegressionModel",
    "retain": "medrec_training.models.retain:RetainModel",
    "gamenet": "medrec_training.models.gamenet:GAMENet",
    "safedrug": "medrec_training.models.safedrug:SafeDrug",
    "molerec": "medrec_training.models.molerec:MoleRec",
    "nla-mmr": "medrec_training.models.nla_mmr:NLAMMR",
    "nla-mmr-text-only": "medrec_training.models.nla_mmr:NLAMMRTextOnly",  # ablation: drug text, no structure
    "nla-mmr-structure-only": "medrec_training.models.nla_mmr:NLAMMRStructureOnly",  # ablation: structure, no drug text
    "nla-mmr-no-history": "medrec_training.models.nla_mmr:NLAMMRNoHistory",  # ablation: no medication history
    "nla-mmr-text-only-no-history": "medrec_training.models.nla_mmr:NLAMMRTextOnlyNoHistory",  # ablation: text, no history
    "nla-mmr-structure-only-no-history": "medrec_training.models.nla_mmr:NLAMMRStructureOnlyNoHistory",  # ablation
    "cafemed": "medrec_training.models.cafemed:CafeMed",
    "cafemed-no-cwg": "medrec_training.models.cafemed:CafeMedWithoutCWG",  # ablation: static effects
    "cafemed-no-charm": "medrec_training.models.cafemed:CafeMedWithoutCHARM",  # ablation: no diagnosis-procedure attention
    "cafemed-no-causal": "medrec_training.models.cafemed:CafeMedWithoutCausalEffects",  # ablation: no causal effects
    "mkmed": "medrec_training.models.mkmed:MKMed",
    "mkmed-1-modality": "medrec_training.models.mkmed:MKMedOneModality",  # ablation: pre-trained on text only
    "mkmed-2-modalities": "medrec_training.models.mkmed:MKMedTwoModalities",  # ablation: + properties
    "mkmed-3-modalities": "medrec_training.models.mkmed:MKMedThreeModalities",  # ablation: + 2D image
    "mkmed-4-modalities": "medrec_training.models.mkmed:MKMedFourModalities",  # ablation: + 3D (mkmed = + knowledge graph)
    "mkmed-intersection": "medrec_training.models.mkmed:MKMedIntersection",  # ablation: align molecules with all 5 only
    "mkmed-no-substructures": "medrec_training.models.mkmed:MKMedNoSubstructures",  # ablation: no substructure attention
}


class ModelNotAvailable(RuntimeError):
    pass


def load_model_class(model_id: str) -> type[MedRecModel]:
    if model_id not in MODEL_REGISTRY:
        raise KeyError(f"Unknown model {model_id!r}; registered: {', '.join(MODEL_REGISTRY)}.")
    module_name, _, class_name = MODEL_REGISTRY[model_id].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:  # the model's file is not written yet; any other import error is a bug
            raise ModelNotAvailable(f"{model_id}: {module_name} does not exist yet.") from error
        raise
    model_class = getattr(module, class_name, None)
    if model_class is None or not issubclass(model_class, MedRecModel):
        raise ModelNotAvailable(f"{model_id}: {module_name} has no MedRecModel subclass {class_name}.")
    return model_class


def available_models() -> dict[str, type[MedRecModel]]:
    """Every registered model whose file exists, in registry order."""
    found: dict[str, type[MedRecModel]] = {}
    for model_id in MODEL_REGISTRY:
        try:
            found[model_id] = load_model_class(model_id)
        except ModelNotAvailable:
            continue
    return found
