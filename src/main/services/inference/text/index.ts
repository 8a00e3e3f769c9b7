// The app side of NLA-MMR's text path: WordPiece tokenizer, ONNX sentence encoder, cold-start runner.
export { UNCASED_BERT, VocabularyError, WordPieceTokenizer, type EncodedBatch, type WordPieceSettings } from './wordpiece'
export { TEXT_ENCODER_CONFIG_FILE, TextEncoder, TextEncoderError, parseTextEncoderConfig, type TextEncoderConfig } from './text-encoder'
export { COLD_START_FILE, ColdStartModel, codeText, planNewCodes, type ColdStartPlan, type NewCode, type TitleOf } from './cold-start'
