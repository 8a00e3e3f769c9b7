"""Cross-modal pre-training of MKMed's molecular encoder (models/mkmed.py).

    python -m medrec_training.pretrain          pre-train (or find in the cache) the encoder for the
                                                patient database's visits and print what it cost

API: load_or_pretrain(settings, coprescribed_pairs, data_dir) -> PretrainedEncoder, cached under
training/.cache/pretrain by the hash of every input (open data files, RDKit, text encoder weights,
settings, code, co-prescription pairs). Modules: corpus (graphs and their modality data), depiction,
conformers, knowledge_graph (TransE), encoders (networks and the loss), alignment (training, cache).
"""

from .alignment import CLASS_LEVEL_MODALITIES, PretrainedEncoder, PretrainSettings, load_or_pretrain, pretrain
from .corpus import IMAGE, KNOWLEDGE_GRAPH, KNOWLEDGE_MODALITIES, PROPERTIES, STRUCTURE_3D, TEXT, PretrainingCorpus, load_corpus
from .knowledge_graph import COPRESCRIPTION_MIN_VISITS, coprescribed_pairs

__all__ = [
    "CLASS_LEVEL_MODALITIES",
    "COPRESCRIPTION_MIN_VISITS",
    "IMAGE",
    "KNOWLEDGE_GRAPH",
    "KNOWLEDGE_MODALITIES",
    "PROPERTIES",
    "STRUCTURE_3D",
    "TEXT",
    "PretrainSettings",
    "PretrainedEncoder",
    "PretrainingCorpus",
    "coprescribed_pairs",
    "load_corpus",
    "load_or_pretrain",
    "pretrain",
]
