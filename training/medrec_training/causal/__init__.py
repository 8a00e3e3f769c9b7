"""Causal effects of diagnoses and procedures on drugs (estimated from training visits) for CafeMed.

    from medrec_training.causal import training_visits, estimate_effects
    effects = estimate_effects(training_visits(train_samples, vocab_sizes))
    effects.diagnosis.significant(effects.settings.fdr)   # float32 [diagnosis entries, medications]

See effects.py for the estimator and its assumptions, table.py for the exported file format, and
`python -m medrec_training.causal` for a report on the demo database.
"""

from .effects import (
    CODE_KINDS,
    SEVERITY_COVARIATES,
    CausalEffects,
    CodeEffects,
    EffectSettings,
    TrainingVisits,
    doubly_robust_att,
    estimate_effects,
    estimate_effects_cached,
    marginal_g_squared,
    pc_simple_neighbourhoods,
    training_visits,
)

__all__ = [
    "CODE_KINDS",
    "SEVERITY_COVARIATES",
    "CausalEffects",
    "CodeEffects",
    "EffectSettings",
    "TrainingVisits",
    "doubly_robust_att",
    "estimate_effects",
    "estimate_effects_cached",
    "marginal_g_squared",
    "pc_simple_neighbourhoods",
    "training_visits",
]
