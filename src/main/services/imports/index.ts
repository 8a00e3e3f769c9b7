// The EHR import service's entry points (see import-dataset.ts for the import semantics).
export { buildDemoDatabase, DEMO_DATASETS } from './demo'
export { ImportError } from './errors'
export { EHR_FORMATS, IMPORTER_VERSION, importDataset, type ImportOptions } from './import-dataset'
export { detectFormats, formatName } from './layout'
