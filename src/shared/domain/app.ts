// What the app says about itself: version, data sources and their licences.
// No runtime imports here: the preload bundle and the renderer take these as types.

export interface AppInfo {
  version: string
  databasePath: string
  patientCount: number
  dataAttributions: DataAttribution[]
}

export interface DataAttribution {
  name: string
  license: string
  attribution: string
  url: string
}
