"""MedRec training pipeline: datasets -> tasks -> models -> metrics -> export.

Records come from the app's own SQLite patient store (one ingestion path); trained models are
exported to ONNX with a manifest that follows models/manifest.schema.json.
"""

__version__ = "0.1.0"
