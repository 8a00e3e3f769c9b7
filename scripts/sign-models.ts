// Signs model folders for release: writes signature.json (Ed25519 over the sha256 of every file in the
// folder, see src/main/services/models/signature.ts). The private key never lives in the repository: give
// its path with --key or MEDREC_SIGNING_KEY. Before signing, the folder must be what its manifest says:
// a valid manifest, every file named by it, every declared sha256 matching. Then the app verifies the
// signature against the public keys in resources/trusted-keys/ (and the hospital's own keys).
//
//   npm run sign-models -- --key /secure/medrec-signing-key.pem               # every folder under models/
//   npm run sign-models -- --key key.pem models/logistic models/nla-mmr       # only these
//   npm run sign-models -- --key key.pem --public-key > resources/trusted-keys/medrec-project.pem
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { keyIdOf, SIGNATURE_FILE, signModelFolder, unsignableReasons } from '../src/main/services/models/signature'
import { modelsDir } from '../src/main/services/paths'

const usage = `Usage: tsx scripts/sign-models.ts --key <private-key.pem> [--public-key] [folder ...]

  --key <path>     Ed25519 private key (PEM); default $MEDREC_SIGNING_KEY
  --public-key     print the key's public half (PEM) and its key id, sign nothing
  folder ...       model folders to sign (default: every folder under $MEDREC_MODELS_DIR or models/)`

function main(): number {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: { key: { type: 'string' }, 'public-key': { type: 'boolean', default: false }, help: { type: 'boolean', default: false } }
  })
  if (values.help) {
    console.log(usage)
    return 0
  }
  const keyPath = values.key ?? process.env.MEDREC_SIGNING_KEY
  if (!keyPath) {
    console.error(`No signing key: give --key <path> or set MEDREC_SIGNING_KEY.\n\n${usage}`)
    return 2
  }
  const privateKey = createPrivateKey(readFileSync(resolve(keyPath)))
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    console.error(`${keyPath} is a ${privateKey.asymmetricKeyType ?? 'unknown'} key; an Ed25519 private key is needed (openssl genpkey -algorithm ed25519).`)
    return 2
  }
  if (values['public-key']) {
    process.stdout.write(createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString())
    console.error(`key id ${keyIdOf(privateKey)}`)
    return 0
  }
  const root = modelsDir()
  const folders =
    positionals.length > 0
      ? positionals.map((p) => resolve(p))
      : readdirSync(root, { withFileTypes: true })
          .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
          .map((e) => join(root, e.name))
  let failed = 0
  for (const directory of folders) {
    const reasons = unsignableReasons(directory)
    if (reasons.length > 0) {
      failed++
      console.error(`Not signed: ${directory}\n  ${reasons.join('\n  ')}`)
      continue
    }
    const signature = signModelFolder(directory, basename(directory), privateKey)
    console.log(`Signed ${join(directory, SIGNATURE_FILE)}: ${signature.files.map((f) => f.file).join(', ')}; key ${signature.keyId}`)
  }
  return failed > 0 ? 1 : 0
}

process.exitCode = main()
