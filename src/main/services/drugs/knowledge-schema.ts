// The drug knowledge base is its own SQLite file (resources/knowledge.sqlite), separate from the
// patient database: it is rebuilt from open data by `npm run knowledge`, never migrated in place.
// A file whose schema version differs from KB_SCHEMA_VERSION is refused with "rebuild it".

import { SEVERITIES } from '../../../shared/domain/interaction'

export const KB_SCHEMA_VERSION = 1

/**
 * How a source's completeness may be claimed. 'groups': the source lists every pair in which at least
 * one drug lies in one of these ATC anatomical groups (DDInter's open copy); 'all': every pair;
 * 'listed-pairs': only the pairs it lists — absence there says nothing (curated lists, TWOSIDES signals).
 */
export type SourceCoverage = { kind: 'all' } | { kind: 'groups'; groups: string[] } | { kind: 'listed-pairs' }

export type SourceKind = 'reference' | 'curated' | 'hospital' | 'signal' | 'vocabulary' | 'structure'

/** The 14 ATC anatomical main groups. */
export const ATC_GROUPS = ['A', 'B', 'C', 'D', 'G', 'H', 'J', 'L', 'M', 'N', 'P', 'R', 'S', 'V'] as const

export const KB_SCHEMA_SQL = `
CREATE TABLE kb_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- Every fact in this file references one of these rows: where it came from and under which license.
CREATE TABLE sources (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('reference', 'curated', 'hospital', 'signal', 'vocabulary', 'structure')),
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  license TEXT NOT NULL,
  attribution TEXT NOT NULL,
  url TEXT NOT NULL,
  severity_graded INTEGER NOT NULL CHECK (severity_graded IN (0, 1)),
  coverage TEXT NOT NULL,            -- JSON SourceCoverage
  coverage_note TEXT NOT NULL,
  files TEXT NOT NULL,               -- JSON [{ path, sha256 }] of the input files
  loaded_at TEXT NOT NULL
);

-- WHO ATC index, all levels (1: anatomical group … 5: chemical substance), one row per code.
CREATE TABLE atc (
  code TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 5),
  parent TEXT,
  atc3 TEXT,                         -- the level-3 class of a level 4/5 code (its first 4 characters)
  source_id INTEGER NOT NULL REFERENCES sources(id)
);
CREATE INDEX atc_by_atc3 ON atc(atc3, level);

CREATE TABLE atc3_smiles (
  atc3 TEXT NOT NULL,
  ordinal INTEGER NOT NULL,
  smiles TEXT NOT NULL,
  source_id INTEGER NOT NULL REFERENCES sources(id),
  PRIMARY KEY (atc3, ordinal)
);

-- A drug as one source names it (a DDInter drug, a STITCH compound, a row of a curated/hospital table),
-- with the WHO ATC codes it was matched to in drug_atc. Drugs that match no ATC code are kept (match_method
-- 'unmatched') so that a check by name still finds their interactions.
CREATE TABLE drugs (
  id INTEGER PRIMARY KEY,
  source_id INTEGER NOT NULL REFERENCES sources(id),
  external_id TEXT NOT NULL,         -- DDInter id, STITCH CID, or the code/name written in a table
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,            -- normalised name (see names.ts)
  match_method TEXT NOT NULL,
  -- Groups (comma-separated) under which the source is shown to list every interaction of this drug;
  -- NULL when not shown. For DDInter: the drug's pairs all lie in that group's download, and one partner
  -- is not itself filed there (so the group is the drug's own, not its partners').
  filed_groups TEXT,
  UNIQUE (source_id, external_id)
);
CREATE INDEX drugs_by_name ON drugs(name_key);

CREATE TABLE drug_atc (
  drug_id INTEGER NOT NULL REFERENCES drugs(id),
  atc5 TEXT NOT NULL REFERENCES atc(code),
  PRIMARY KEY (drug_id, atc5)
) WITHOUT ROWID;
CREATE INDEX drug_atc_by_code ON drug_atc(atc5);

-- Names a user may type, resolved to ATC-5 codes and/or drugs (drug_id for drugs without ATC codes).
CREATE TABLE drug_names (
  name_key TEXT NOT NULL,
  display TEXT NOT NULL,
  atc5 TEXT REFERENCES atc(code),
  drug_id INTEGER REFERENCES drugs(id),
  via TEXT NOT NULL,                 -- 'who', 'who-alias', 'source-name'
  CHECK (atc5 IS NOT NULL OR drug_id IS NOT NULL)
);
CREATE INDEX drug_names_by_key ON drug_names(name_key);

-- Drug-level interactions. drug_a < drug_b; both drugs belong to the pair's source.
CREATE TABLE drug_pairs (
  id INTEGER PRIMARY KEY,
  source_id INTEGER NOT NULL REFERENCES sources(id),
  drug_a INTEGER NOT NULL REFERENCES drugs(id),
  drug_b INTEGER NOT NULL REFERENCES drugs(id),
  severity TEXT NOT NULL CHECK (severity IN (${SEVERITIES.map((s) => `'${s}'`).join(', ')})),
  effect TEXT,
  citation TEXT,
  source_line INTEGER,               -- line in the source file, for tables loaded from CSV
  CHECK (drug_a < drug_b),
  UNIQUE (source_id, drug_a, drug_b)
);

-- ATC level-3 class pairs (atc3_a <= atc3_b) per source. basis 'lifted': derived from that source's
-- drug pairs, justified by class_pair_members; basis 'class': the source itself is class-level (TWOSIDES ATC3).
CREATE TABLE class_pairs (
  id INTEGER PRIMARY KEY,
  source_id INTEGER NOT NULL REFERENCES sources(id),
  atc3_a TEXT NOT NULL,
  atc3_b TEXT NOT NULL,
  basis TEXT NOT NULL CHECK (basis IN ('lifted', 'class')),
  severity TEXT NOT NULL,            -- the most severe member pair ('Unknown' for class-level sources)
  n_contraindicated INTEGER NOT NULL DEFAULT 0,
  n_major INTEGER NOT NULL DEFAULT 0,
  n_moderate INTEGER NOT NULL DEFAULT 0,
  n_minor INTEGER NOT NULL DEFAULT 0,
  n_unknown INTEGER NOT NULL DEFAULT 0,
  CHECK (atc3_a <= atc3_b),
  UNIQUE (source_id, atc3_a, atc3_b)
);

-- The drug pairs behind a lifted class pair, one row per drug pair, ranked most severe first (rank 0), with
-- member ATC-5 codes that place it in the class pair (atc5_a lies in atc3_a, atc5_b in atc3_b).
CREATE TABLE class_pair_members (
  class_pair_id INTEGER NOT NULL REFERENCES class_pairs(id),
  rank INTEGER NOT NULL,
  drug_pair_id INTEGER NOT NULL REFERENCES drug_pairs(id),
  atc5_a TEXT NOT NULL,
  atc5_b TEXT NOT NULL,
  PRIMARY KEY (class_pair_id, rank)
) WITHOUT ROWID;

-- Measured coverage: drug pairs per source and ATC anatomical group pair (group_a <= group_b; '?' for a
-- drug with no ATC code), and whether the source's coverage claim includes that group pair.
CREATE TABLE coverage (
  source_id INTEGER NOT NULL REFERENCES sources(id),
  group_a TEXT NOT NULL,
  group_b TEXT NOT NULL,
  pairs INTEGER NOT NULL,
  claimed INTEGER NOT NULL CHECK (claimed IN (0, 1)),
  PRIMARY KEY (source_id, group_a, group_b)
) WITHOUT ROWID;
`
