import type { ModelList } from '../../shared/domain/manifest'
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { openDatabase } from '../../main/services/db/database'
import { getActiveModelId, setActiveModel } from '../../main/services/models/active-model'
import { keyIdOf, loadTrustedKeys, SIGNATURE_FILE, signModelFolder, trustedKeyDirectories, unsignableReasons, verifyModelFolder } from '../../main/services/models/signature'
import { openModelRegistry } from '../../main/services/open-services'
import { defaultDatabasePath, modelsDir } from '../../main/services/paths'
import { type CliCommand, DEFAULT_DB_HELP, UsageError } from '../command'

const usage = `Usage: medrec models [options]
       medrec models verify [folder ...] [--models-dir <path>]
       medrec models sign --key <private-key.pem> [folder ...] [--models-dir <path>]
       medrec models sign --key <private-key.pem> --public-key

Lists the models in the models folder: the valid ones (signature, manifest, file hashes and ONNX
inputs/outputs all check out) and the refused ones with every reason. Exits with 1 when a model is refused.

verify   checks only the signatures (signature.json against the trusted keys: the project's in
         resources/trusted-keys/ and the hospital's, $MEDREC_TRUSTED_KEYS or <user data>/trusted-keys/).
sign     signs model folders for release with an Ed25519 private key kept outside the repository
         (--key or $MEDREC_SIGNING_KEY); refuses a folder whose manifest does not name every file with
         its sha256. --public-key prints the key's public half, to put in a trusted-keys folder.

Options:
  --activate <id>       make <id> the active model (kept in the patient database; audited)
  --json                print the list as JSON
  --db <path>           ${DEFAULT_DB_HELP}; read for the active model when it exists
  --models-dir <path>   models folder (default: $MEDREC_MODELS_DIR or models/)
  --key <path>          sign: the Ed25519 private key (PEM)
  --public-key          sign: print the public key (PEM) and its key id, sign nothing`

/** The folders named, or every model folder under the models directory. */
function foldersOf(positionals: string[], directory: string): string[] {
  if (positionals.length > 0) return positionals.map((p) => resolve(p))
  if (!existsSync(directory)) throw new UsageError(`No models folder at ${directory}.`)
  return readdirSync(directory, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => join(directory, e.name))
    .sort()
}

function verifyFolders(folders: string[]): number {
  const keys = loadTrustedKeys()
  console.log(`Trusted keys: ${keys.map((k) => `${k.keyId} (${k.source})`).join(', ') || 'none'}`)
  console.log(`  from ${trustedKeyDirectories().join(', ')}`)
  let refused = 0
  for (const folder of folders) {
    const id = existsSync(join(folder, 'manifest.json')) ? (JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as { id?: string }).id ?? null : null
    const check = verifyModelFolder(folder, basename(folder), id, keys)
    if (check.ok) console.log(`  ${basename(folder)}: signed by ${check.keyId}`)
    else {
      refused++
      console.log(`  ${basename(folder)}: REFUSED\n      ${check.problems.join('\n      ')}`)
    }
  }
  return refused > 0 ? 1 : 0
}

function signFolders(folders: string[], keyPath: string | undefined, publicOnly: boolean): number {
  const path = keyPath ?? process.env.MEDREC_SIGNING_KEY
  if (!path) throw new UsageError('No signing key: give --key <path> or set MEDREC_SIGNING_KEY.')
  let privateKey
  try {
    privateKey = createPrivateKey(readFileSync(resolve(path)))
  } catch (error) {
    throw new UsageError(`${path} is not a PEM private key: ${error instanceof Error ? error.message : String(error)}`)
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new UsageError(`${path} is a ${privateKey.asymmetricKeyType ?? 'unknown'} key; an Ed25519 private key is needed (openssl genpkey -algorithm ed25519).`)
  }
  if (publicOnly) {
    console.log(createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString().trimEnd())
    console.error(`key id ${keyIdOf(privateKey)}`)
    return 0
  }
  let failed = 0
  for (const folder of folders) {
    const reasons = unsignableReasons(folder)
    if (reasons.length > 0) {
      failed++
      console.error(`Not signed: ${folder}\n  ${reasons.join('\n  ')}`)
      continue
    }
    const signature = signModelFolder(folder, basename(folder), privateKey)
    console.log(`Signed ${join(folder, SIGNATURE_FILE)}: ${signature.files.map((f) => f.file).join(', ')}; key ${signature.keyId}`)
  }
  return failed > 0 ? 1 : 0
}

function printList(list: ModelList, directory: string): void {
  console.log(`Models in ${directory}:`)
  if (list.models.length === 0) console.log('  (no valid model)')
  for (const m of list.models) {
    const active = m.id === list.activeModelId ? '  [active]' : list.activeModelId === null && m.id === list.defaultModelId ? '  [default, active]' : ''
    console.log(`  ${m.id}  ${m.version}  ${m.family}  ${m.medicationCount} drugs  threshold ${m.threshold}${active}`)
    console.log(`      ${m.paperTitle}; modalities: ${m.modalities.map((x) => x.id).join(', ')}`)
    console.log(`      trained on: ${m.provenance.trainedOn}; sources: ${m.provenance.sources.map((s) => `${s.name} (${s.license})`).join('; ')}`)
  }
  const refusedActive = list.refused.find((r) => r.id !== null && r.id === list.activeModelId)
  if (refusedActive) {
    console.log('')
    console.log(`The active model "${refusedActive.id}" is refused: recommending stops until another is chosen (--activate <id>).`)
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
        'models-dir': { type: 'string' },
        key: { type: 'string' },
        'public-key': { type: 'boolean', default: false }
      }
    })
    const directory = values['models-dir'] ?? modelsDir()
    const [action, ...folders] = positionals
    if (action === 'verify') return verifyFolders(foldersOf(folders, directory))
    if (action === 'sign') return signFolders(values['public-key'] ? [] : foldersOf(folders, directory), values.key, values['public-key'])
    if (action !== undefined) throw new UsageError(`Unexpected argument "${action}" (actions: verify, sign).`)
    // Medication labels are checked against the knowledge base's ATC names when it is built.
    const { registry, close } = openModelRegistry({ modelsDirectory: directory })
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
      await close()
    }
  }
}
