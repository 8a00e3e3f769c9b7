import type { SourceCoverage, SourceKind } from './knowledge-schema'

/** A row of the sources table as the builder writes it (id and loaded_at are set on insert). */
export interface SourceDefinition {
  key: string
  kind: SourceKind
  name: string
  version: string
  license: string
  attribution: string
  url: string
  severityGraded: boolean
  coverage: SourceCoverage
  coverageNote: string
}

/** ATC anatomical groups whose DDInter downloads exist in the open copy (see ../shared/data/README.md). */
export const DDINTER_OPEN_GROUPS = ['A', 'B', 'D', 'H', 'L', 'P', 'R', 'V'] as const

export const WHO_ATC_SOURCE = (version: string): SourceDefinition => ({
  key: 'who-atc',
  kind: 'vocabulary',
  name: 'WHO ATC classification index',
  version,
  license: 'WHO Collaborating Centre for Drug Statistics Methodology; scraped copy published under CC BY-NC-SA 4.0',
  attribution: 'ATC/DDD Index, WHO Collaborating Centre for Drug Statistics Methodology, Oslo',
  url: 'https://atcddd.fhi.no/atc_ddd_index/',
  severityGraded: false,
  coverage: { kind: 'listed-pairs' },
  coverageNote: 'vocabulary, not an interaction source'
})

export const SMILES_SOURCE: SourceDefinition = {
  key: 'atc3-smiles',
  kind: 'structure',
  name: 'ATC3 member SMILES (SafeDrug atc3toSMILES ∪ MoleRec idx2SMILES)',
  version: 'as redistributed in ../shared/data/knowledge/molecules/atc3_smiles.json',
  license: 'MoleRec: MIT; SafeDrug: repository without a stated license; SMILES originate from DrugBank (CC BY-NC 4.0)',
  attribution: 'Yang et al., SafeDrug (IJCAI 2021); Yang et al., MoleRec (WWW 2023); DrugBank (Wishart et al.)',
  url: 'https://github.com/ycq091044/SafeDrug',
  severityGraded: false,
  coverage: { kind: 'listed-pairs' },
  coverageNote: 'molecular structures, not an interaction source'
}

export const DDINTER_SOURCE: SourceDefinition = {
  key: 'ddinter',
  kind: 'reference',
  name: 'DDInter (open copy, groups A,B,D,H,L,P,R,V)',
  version: '1.0 (downloads by ATC group A, B, D, H, L, P, R, V)',
  license: 'CC BY-NC-SA 4.0 (non-commercial use only)',
  attribution: 'Xiong G, et al. DDInter: an online drug-drug interaction database towards improving clinical decision-making and patient safety. Nucleic Acids Res. 2022;50(D1):D1200-D1207',
  url: 'https://ddinter.scbdd.com/',
  severityGraded: true,
  coverage: { kind: 'groups', groups: [...DDINTER_OPEN_GROUPS] },
  coverageNote:
    'Only the downloads for ATC groups A, B, D, H, L, P, R, V are in this copy: a pair whose two drugs both lie in groups C, G, J, M, N or S is absent.'
}

export const TWOSIDES_ATC3_SOURCE: SourceDefinition = {
  key: 'twosides-atc3',
  kind: 'signal',
  name: 'TWOSIDES ATC3 pairs (SafeDrug/GAMENet DDI matrix; severity unspecified)',
  version: 'ddi_A_final as redistributed by SafeDrug (built with the 40 least frequent side effects, a known bug)',
  license: 'SafeDrug repository without a stated license; TWOSIDES data by the Tatonetti lab',
  attribution: 'Tatonetti NP, et al. Data-driven prediction of drug effects and interactions. Sci Transl Med. 2012;4(125):125ra31; Yang et al., SafeDrug (IJCAI 2021)',
  url: 'https://github.com/ycq091044/SafeDrug',
  severityGraded: false,
  coverage: { kind: 'listed-pairs' },
  coverageNote: 'statistical adverse-event signals between ATC3 classes, not a complete or severity-graded list'
}

export const TWOSIDES_TOP40_SOURCE: SourceDefinition = {
  key: 'twosides-top40',
  kind: 'signal',
  name: 'TWOSIDES top-40 side-effect pairs (STITCH, via PyHealth; severity unspecified)',
  version: 'PyHealth drug-recommendation DDI file, STITCH ids mapped with SafeDrug drug-atc.csv',
  license: 'PyHealth redistribution: MIT; TWOSIDES data by the Tatonetti lab',
  attribution: 'Tatonetti NP, et al. Sci Transl Med. 2012;4(125):125ra31; PyHealth (Zhao et al.)',
  url: 'https://github.com/sunlabuiuc/PyHealth',
  severityGraded: false,
  coverage: { kind: 'listed-pairs' },
  coverageNote: 'statistical adverse-event signals between drugs, not a complete or severity-graded list'
}

/** The curated table shipped in resources/curated-ddi.csv is loaded under this key. */
export const CURATED_SOURCE_KEY = 'curated'

export const CURATED_SOURCE_DEFAULTS = {
  kind: 'curated' as const,
  url: 'resources/curated-ddi.csv',
  coverage: { kind: 'listed-pairs' } as SourceCoverage,
  coverageNote:
    'a short list of well-established high-severity interactions (ONC high-priority list, drug labels) chosen to fill the gaps of the open DDInter copy; not complete'
}
