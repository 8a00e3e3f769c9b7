"""Drug knowledge for training: molecules, BRICS fragments, descriptors and named DDI matrices.

Entry point for the training harness:

    from medrec_training.knowledge import load_drug_knowledge
    knowledge = load_drug_knowledge(data_dir, atc3_vocab)   # data_dir None -> MEDREC_DATA_DIR / ../shared/data
    knowledge.ddi_matrices["ddinter-atc3"]                   # float32 [D, D], row i = atc3_vocab[i]

See loader.DrugKnowledge for every field and ddi.DDI_MATRIX_DESCRIPTIONS for what each matrix is.
`python -m medrec_training.knowledge` prints the coverage report.
"""

from .ddi import DDI_MATRIX_DESCRIPTIONS, DDI_MATRIX_NAMES, DDINTER_ATC3, SEVERITY_LEVELS, TWOSIDES_ATC3, TWOSIDES_TOP40
from .loader import DrugKnowledge, KnowledgeBase, load_drug_knowledge, load_knowledge_base
from .molecules import ATOM_FEATURES, BOND_FEATURES, DESCRIPTOR_NAMES, GraphBatch

__all__ = [
    "ATOM_FEATURES",
    "BOND_FEATURES",
    "DDI_MATRIX_DESCRIPTIONS",
    "DDI_MATRIX_NAMES",
    "DDINTER_ATC3",
    "DESCRIPTOR_NAMES",
    "SEVERITY_LEVELS",
    "TWOSIDES_ATC3",
    "TWOSIDES_TOP40",
    "DrugKnowledge",
    "GraphBatch",
    "KnowledgeBase",
    "load_drug_knowledge",
    "load_knowledge_base",
]
