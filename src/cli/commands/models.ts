import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { ModelList } from '../../shared/types'
import { openDatabase } from '../../main/services/db/database'
import { getActiveModelId, setActiveModel } from '../../main/services/models/active-model'
import { ModelRegistry } from '../../main/services/models/registry'
import { defaultDatabasePath, modelsDir } from '../../main/services/paths'
import { type CliCommand, DEFAULT_DB_HELP, UsageError } from '../command'

const usage = `Usage: medrec models [options]

Lists the models in the models folder: the valid ones (manifest, file hashes and ONNX inputs/outputs
all check out) and the refused ones with every reason. Exits with 1 when a model is refused.

Options:
  --activate <id>       make <id> the active model (kept in the patient database)
  --json                print the list as JSON
  --db <path>           ${DEFAULT_DB_HELP}; read for the active model when it exists
  --models-dir <path>   models folder (default: $MEDREC_MODELS_DIR or models/)`

function printList(list: ModelList, directory: string): void {
  console.log(`Models in ${directory}:`)
  if (list.models.length === 0) console.log('  (no valid model)')
  for (const m of list.models) {
    const active = m.id === list.activeModelId ? '  [active]' : ''
    console.log(`  ${m.id}  ${m.version}  ${m.family}  ${m.medicationCount} drugs  threshold ${m.threshold}${active}`)
    console.log(`      ${m.paperTitle}; modalities: ${m.modalities.map((x) => x.id).join(', ')}`)
    console.log(`      trained on: ${m.provenance.trainedOn}; sources: ${m.provenance.sources.map((s) => `${s.name} (${s.license})`).join('; ')}`)
  }
  if (list.refused.length > 0) {
    console.log('')
    console.log('Refused:')
    for (const r of list.refused) {
      console.log(`  ${r.id ?? r.directory}`)
      for (const reason of r.reasons) console.log(`      ${reason}`)
    }
  }
}

export const command: CliCommand = {
  name: 'models',
  summary: 'list valid and refused models; choose the active one',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        activate: { type: 'string' },
        json: { type: 'boolean', default: false },
        db: { type: 'string' },
        'models-dir': { type: 'string' }
      }
    })
    if (positionals.length > 0) throw new UsageError(`Unexpected argument "${positionals[0]}".`)
    const directory = values['models-dir'] ?? modelsDir()
    const registry = new ModelRegistry(directory)
    const databasePath = values.db ?? defaultDatabasePath()
    try {
      let activeModelId: string | null = null
      if (values.activate !== undefined) {
        if (!existsSync(databasePath)) throw new Error(`No patient database at ${databasePath}: the active model is kept there (give --db).`)
        const db = openDatabase(databasePath)
        try {
          await setActiveModel(db, registry, values.activate)
          activeModelId = getActiveModelId(db)
        } finally {
          db.close()
        }
      } else if (existsSync(databasePath)) {
        try {
          const db = openDatabase(databasePath, { readonly: true })
          try {
            activeModelId = getActiveModelId(db)
          } finally {
            db.close()
          }
        } catch (error) {
          // Listing models must not depend on the patient database; say why no model is marked active.
          console.error(`(active model unknown: ${error instanceof Error ? error.message : String(error)})`)
        }
      }
      const list = await registry.list(activeModelId)
      if (values.json) console.log(JSON.stringify({ directory, ...list }, null, 2))
      else {
        printList(list, directory)
        if (values.activate !== undefined) console.log(`\nActive model: ${values.activate}`)
      }
      return list.refused.length > 0 ? 1 : 0
    } finally {
      await registry.close()
    }
  }
}
