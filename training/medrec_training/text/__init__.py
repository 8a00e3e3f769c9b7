"""Text for NLA-MMR: what is embedded (building), the frozen encoder (encoder), the embedding tables a
model is built from (knowledge), and the encoder's ONNX export for the app (onnx_export)."""
