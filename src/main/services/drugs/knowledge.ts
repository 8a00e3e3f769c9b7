// The drug knowledge base: a SQLite file built from open data (buildKnowledgeBase, `npm run knowledge`),
// read with openKnowledgeBase, extended by hospital interaction tables (loadInteractionTable).
export { buildKnowledgeBase, type BuildOptions, type BuildReport } from './knowledge-build'
export { InteractionTableError, parseInteractionTable, type TableLoadReport, type TableRowError } from '../interactions/interaction-table'
export {
  atc3Members,
  atc3Smiles,
  atcName,
  classPairs,
  coverageMatrix,
  listSources,
  loadInteractionTable,
  openKnowledgeBase,
  unloadInteractionTable,
  type ClassPairRow,
  type CoverageCell,
  type KnowledgeSource
} from './knowledge-base'
export { KB_SCHEMA_VERSION, type SourceCoverage } from './knowledge-schema'
