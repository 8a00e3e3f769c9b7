"""Drug knowledge plus the frozen text embeddings of every vocabulary entry (what NLA-MMR is built from).

`with_text(knowledge, vocabularies, data_dir)` wraps the harness's DrugKnowledge into a TextKnowledge:
the same object for every other model (it *is* a DrugKnowledge), plus the texts of the diagnosis,
procedure and medication vocabularies. The embeddings are computed on first use (`tables()`), once
per process and cached on disk per encoder, so a run that never builds NLA-MMR never loads a language
model, and one that does embeds each text once, not once per fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from ..knowledge import DrugKnowledge
from .building import VocabularyTexts, vocabulary_texts
from .encoder import EncoderSpec, embed_texts, resolve_encoder


@dataclass(frozen=True)
class TextTables:
    """Frozen text embeddings in model-input row order.

    diagnosis [Vd + 2, T] and procedure [Vp + 2, T]: row 0 = padding, row 1 = unknown code (both zero:
    the model learns what to use there), row i + 2 = vocabulary entry i (zero and `*_has_text` False
    for a code without a title). medication [D, T]: row i = ATC3 entry i.
    """

    diagnosis: np.ndarray
    procedure: np.ndarray
    medication: np.ndarray
    diagnosis_has_text: np.ndarray  # bool [Vd + 2]
    procedure_has_text: np.ndarray  # bool [Vp + 2]
    encoder: str  # EncoderSpec.describe()

    @property
    def dimension(self) -> int:
        return int(self.medication.shape[1])


def _code_table(texts: tuple[str | None, ...], embeddings: dict[str, np.ndarray], dimension: int) -> tuple[np.ndarray, np.ndarray]:
    from ..tasks import INDEX_OFFSET

    table = np.zeros((len(texts) + INDEX_OFFSET, dimension), dtype=np.float32)
    has_text = np.zeros(len(texts) + INDEX_OFFSET, dtype=bool)
    for position, text in enumerate(texts):
        if text:
            table[position + INDEX_OFFSET] = embeddings[text]
            has_text[position + INDEX_OFFSET] = True
    return table, has_text


def embed_vocabulary_texts(texts: VocabularyTexts, spec: EncoderSpec, log=None) -> TextTables:
    distinct = texts.distinct()
    matrix = embed_texts(distinct, spec, log)
    embeddings = dict(zip(distinct, matrix, strict=True))
    dimension = int(matrix.shape[1])
    diagnosis, diagnosis_has_text = _code_table(texts.diagnosis, embeddings, dimension)
    procedure, procedure_has_text = _code_table(texts.procedure, embeddings, dimension)
    medication = np.stack([embeddings[t] for t in texts.medication]).astype(np.float32) if texts.medication else np.zeros((0, dimension), np.float32)
    return TextTables(diagnosis, procedure, medication, diagnosis_has_text, procedure_has_text, spec.describe())


@dataclass(frozen=True)
class TextKnowledge(DrugKnowledge):
    """A DrugKnowledge that also knows the vocabulary texts and which frozen encoder embeds them."""

    texts: VocabularyTexts
    encoder_spec: EncoderSpec | None  # None: the tables were given (tests, experiments), or see encoder_error
    encoder_error: str | None = None  # why the encoder could not be resolved; raised by tables(), not before,
    # so the other knowledge-based models still train on a machine without the text encoder
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    def tables(self, log=None) -> TextTables:
        if "tables" not in self._memo:
            if self.encoder_spec is None:
                raise ImportError(self.encoder_error or "TextKnowledge has neither text tables nor an encoder to compute them.")
            self._memo["tables"] = embed_vocabulary_texts(self.texts, self.encoder_spec, log)
        return self._memo["tables"]


def _drug_fields(knowledge: DrugKnowledge) -> dict:
    return {f.name: getattr(knowledge, f.name) for f in fields(DrugKnowledge)}


def with_text(knowledge: DrugKnowledge, vocabularies, data_dir: Path | str, encoder: str | None = None) -> TextKnowledge:
    """`knowledge` plus the texts of `vocabularies` (tasks.Vocabularies). The encoder is resolved now but
    run only when tables() is first called; a missing encoder is reported by tables() (with the install
    command), so only the models that need text fail."""
    texts = vocabulary_texts(vocabularies, Path(data_dir))
    try:
        spec, error = resolve_encoder(encoder), None
    except (ImportError, FileNotFoundError) as problem:
        spec, error = None, str(problem)
    return TextKnowledge(**_drug_fields(knowledge), texts=texts, encoder_spec=spec, encoder_error=error)


def with_tables(knowledge: DrugKnowledge, texts: VocabularyTexts, tables: TextTables) -> TextKnowledge:
    """`knowledge` plus text tables computed elsewhere (tests, the cold-start experiment's reduced vocabulary)."""
    text_knowledge = TextKnowledge(**_drug_fields(knowledge), texts=texts, encoder_spec=None)
    text_knowledge._memo["tables"] = tables
    return text_knowledge
