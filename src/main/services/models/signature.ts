// Model folder signatures. A release signs each model folder with Ed25519 (scripts/sign-models.ts):
// signature.json beside manifest.json lists the sha256 of EVERY other file in the folder (manifest.json,
// model.onnx, metrics.json, extra files) and signs the canonical JSON of that list. The manifest declares
// the hashes of the files it names, and the signature covers the manifest's own bytes, so editing weights
// and then re-hashing them in the manifest breaks the signature. The app trusts the project's public key
// (resources/trusted-keys/) plus any keys a hospital adds (trustedKeyDirectories()).
import { canonicalJson } from '../canonical-json'
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { basename, delimiter, join, resolve } from 'node:path'
import { defaultUserDataDir, resourcesDir } from '../paths'
import { checkManifest } from './manifest'

export const SIGNATURE_FILE = 'signature.json'
export const SIGNATURE_FORMAT = 'medrec-model-signature/1'
export const SIGNATURE_ALGORITHM = 'ed25519'

export interface SignedFile {
  file: string
  sha256: string
}

/** What signature.json holds; `signature` is base64 Ed25519 over canonicalJson(everything else). */
export interface ModelSignature {
  format: typeof SIGNATURE_FORMAT
  algorithm: typeof SIGNATURE_ALGORITHM
  keyId: string
  modelId: string
  signedAt: string
  files: SignedFile[]
  signature: string
}

export interface TrustedKey {
  keyId: string
  key: KeyObject
  /** Where it was read from, for messages ("resources/trusted-keys/medrec-project.pem"). */
  source: string
}

const sha256Hex = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex')

/** A key's id: "ed25519:" + the first 16 hex digits of the sha256 of its public key (SPKI DER), whatever the file is called. */
export function keyIdOf(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key
  return `ed25519:${sha256Hex(publicKey.export({ type: 'spki', format: 'der' })).slice(0, 16)}`
}

/** The folders whose *.pem public keys are trusted: the project's, then the hospital's. */
export function trustedKeyDirectories(): string[] {
  const project = join(resourcesDir(), 'trusted-keys')
  const configured = process.env.MEDREC_TRUSTED_KEYS
  const hospital = configured
    ? configured.split(delimiter).filter(Boolean).map((p) => resolve(p))
    : [join(process.env.MEDREC_USER_DATA ?? defaultUserDataDir(), 'trusted-keys')]
  return [project, ...hospital]
}


/** Every Ed25519 public key (*.pem) in the folders; a file that is not one is an error naming it. */
export function loadTrustedKeys(directories: readonly string[] = trustedKeyDirectories()): TrustedKey[] {
  const keys: TrustedKey[] = []
  for (const directory of directories) {
    if (!existsSync(directory)) continue
    for (const name of readdirSync(directory).filter((n) => n.endsWith('.pem')).sort()) {
      const source = join(directory, name)
      let key: KeyObject
      try {
        key = createPublicKey(readFileSync(source))
      } catch (error) {
        throw new Error(`Trusted key ${source} is not a PEM public key: ${error instanceof Error ? error.message : String(error)}`)
      }
      if (key.asymmetricKeyType !== 'ed25519') throw new Error(`Trusted key ${source} is a ${key.asymmetricKeyType ?? 'unknown'} key; only Ed25519 keys are accepted.`)
      keys.push({ keyId: keyIdOf(key), key, source })
    }
  }
  return keys
}

/** Every file of the folder except signature.json, sorted, with its sha256; a sub-folder is an error. */
export function folderFileHashes(directory: string): SignedFile[] {
  const files: SignedFile[] = []
  for (const name of readdirSync(directory).sort()) {
    if (name === SIGNATURE_FILE) continue
    const path = join(directory, name)
    if (!statSync(path).isFile()) throw new Error(`${path} is not a plain file: a model folder holds files only.`)
    files.push({ file: name, sha256: sha256Hex(readFileSync(path)) })
  }
  return files
}

const signedBytes = (signature: Omit<ModelSignature, 'signature'>): Buffer => Buffer.from(canonicalJson(signature), 'utf8')

/** Signs the folder as it is now and writes signature.json; returns what was written. */
export function signModelFolder(directory: string, modelId: string, privateKey: KeyObject, signedAt = new Date().toISOString()): ModelSignature {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`The signing key is a ${privateKey.asymmetricKeyType ?? 'unknown'} key; an Ed25519 private key is needed.`)
  const unsigned: Omit<ModelSignature, 'signature'> = {
    format: SIGNATURE_FORMAT,
    algorithm: SIGNATURE_ALGORITHM,
    keyId: keyIdOf(privateKey),
    modelId,
    signedAt,
    files: folderFileHashes(directory)
  }
  const signature: ModelSignature = { ...unsigned, signature: sign(null, signedBytes(unsigned), privateKey).toString('base64') }
  writeFileSync(join(directory, SIGNATURE_FILE), `${JSON.stringify(signature, null, 2)}\n`)
  return signature
}

export type SignatureCheck = { ok: true; keyId: string; keySource: string } | { ok: false; problems: string[] }

/**
 * Checks signature.json of the folder: a trusted key, a valid Ed25519 signature, the model id, and the
 * folder's files exactly as listed (none changed, missing or added). Problems name the file.
 */
export function verifyModelFolder(directory: string, folder: string, expectedModelId: string | null, trustedKeys: readonly TrustedKey[]): SignatureCheck {
  const path = join(directory, SIGNATURE_FILE)
  if (!existsSync(path)) return { ok: false, problems: [`${folder}/${SIGNATURE_FILE}: missing: the model is unsigned (sign it with scripts/sign-models.ts)`] }
  let parsed: ModelSignature
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as ModelSignature
  } catch (error) {
    return { ok: false, problems: [`${folder}/${SIGNATURE_FILE}: not valid JSON (${error instanceof Error ? error.message : String(error)})`] }
  }
  const shapeOk =
    typeof parsed === 'object' && parsed !== null && parsed.format === SIGNATURE_FORMAT && parsed.algorithm === SIGNATURE_ALGORITHM &&
    typeof parsed.keyId === 'string' && typeof parsed.modelId === 'string' && typeof parsed.signedAt === 'string' &&
    typeof parsed.signature === 'string' && Array.isArray(parsed.files) &&
    parsed.files.every((f) => typeof f?.file === 'string' && typeof f?.sha256 === 'string')
  if (!shapeOk) return { ok: false, problems: [`${folder}/${SIGNATURE_FILE}: not a ${SIGNATURE_FORMAT} signature with algorithm ${SIGNATURE_ALGORITHM}`] }

  const trusted = trustedKeys.find((k) => k.keyId === parsed.keyId)
  if (!trusted) {
    const known = trustedKeys.map((k) => k.keyId).join(', ') || 'none'
    return { ok: false, problems: [`${folder}/${SIGNATURE_FILE}: signed by key ${parsed.keyId}, which is not trusted (trusted: ${known})`] }
  }
  const { signature, ...unsigned } = parsed
  const body: Omit<ModelSignature, 'signature'> = {
    format: unsigned.format,
    algorithm: unsigned.algorithm,
    keyId: unsigned.keyId,
    modelId: unsigned.modelId,
    signedAt: unsigned.signedAt,
    files: unsigned.files.map((f) => ({ file: f.file, sha256: f.sha256 }))
  }
  if (!verify(null, signedBytes(body), trusted.key, Buffer.from(signature, 'base64'))) {
    return { ok: false, problems: [`${folder}/${SIGNATURE_FILE}: the Ed25519 signature does not match its content (signature.json was edited or signed by another key)`] }
  }
  const problems: string[] = []
  if (expectedModelId !== null && body.modelId !== expectedModelId) {
    problems.push(`${folder}/${SIGNATURE_FILE}: signed for model "${body.modelId}", but manifest.json is model "${expectedModelId}"`)
  }
  let actual: SignedFile[]
  try {
    actual = folderFileHashes(directory)
  } catch (error) {
    return { ok: false, problems: [...problems, `${folder}: ${error instanceof Error ? error.message : String(error)}`] }
  }
  const signedByName = new Map(body.files.map((f) => [f.file, f.sha256]))
  for (const file of actual) {
    const signedHash = signedByName.get(file.file)
    if (signedHash === undefined) problems.push(`${folder}/${file.file}: not covered by the signature (a file was added after signing)`)
    else if (signedHash !== file.sha256) problems.push(`${folder}/${file.file}: sha256 is ${file.sha256} but the signature covers ${signedHash} (changed after signing)`)
  }
  for (const file of body.files) {
    if (!actual.some((a) => a.file === file.file)) problems.push(`${folder}/${file.file}: signed but missing`)
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, keyId: trusted.keyId, keySource: trusted.source }
}

/**
 * Why a folder must not be signed as it is (scripts/sign-models.ts): a signature vouches that the manifest
 * describes every file exactly, so a stray file or a hash the manifest does not match stops the release.
 */
export function unsignableReasons(directory: string): string[] {
  const folder = basename(directory)
  const manifestPath = join(directory, 'manifest.json')
  if (!existsSync(manifestPath)) return [`${folder}/manifest.json: missing`]
  const check = checkManifest(JSON.parse(readFileSync(manifestPath, 'utf8')) as unknown)
  if (!check.ok) return check.problems.map((p) => `${folder}/manifest.json: ${p}`)
  const manifest = check.manifest
  const declared = new Map<string, string | null>([
    [manifest.onnx.file, manifest.onnx.sha256],
    ...(manifest.extraFiles ?? []).map((f) => [f.file, f.sha256] as [string, string]),
    ...(manifest.calibration ? [[manifest.calibration.file, manifest.calibration.sha256] as [string, string]] : []),
    [manifest.metricsFile, manifest.metricsSha256 ?? null]
  ])
  const reasons: string[] = []
  if (manifest.id !== folder) reasons.push(`${folder}/manifest.json: id "${manifest.id}" differs from its folder name`)
  const present = folderFileHashes(directory)
  for (const { file, sha256: actual } of present) {
    if (file === 'manifest.json') continue
    if (!declared.has(file)) reasons.push(`${folder}/${file}: not named by manifest.json (remove it or declare it in extraFiles)`)
    const expected = declared.get(file)
    if (expected && expected !== actual) reasons.push(`${folder}/${file}: sha256 is ${actual} but manifest.json says ${expected}`)
  }
  for (const file of declared.keys()) if (!present.some((p) => p.file === file)) reasons.push(`${folder}/${file}: named by manifest.json but missing`)
  return reasons
}

