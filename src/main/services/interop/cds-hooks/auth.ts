// CDS Hooks 2.0 client authentication: the EHR sends "Authorization: Bearer <JWT>", signed with a key it
// publishes as a JWK Set; the service trusts a configured list of issuers and their keys. Verified with
// `jose`: signature (ES384/RS384 as the spec requires, plus ES256/RS256/ES512/RS512), iss among the
// trusted issuers, aud the endpoint being called, exp/iat present and recent, jti never seen before.
import { readFileSync } from 'node:fs'
import { createLocalJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JSONWebKeySet } from 'jose'

export interface TrustedIssuer {
  iss: string
  /** The issuer's public keys, inline or in a file (a JWK Set as the EHR publishes it). */
  jwks?: JSONWebKeySet
  jwksFile?: string
}

export interface CdsAuthConfig {
  trustedIssuers: TrustedIssuer[]
  /**
   * The base URL the EHR calls (e.g. https://medrec.hospital.example), which the JWT's aud names. Default:
   * http://<Host header>, right when the EHR reaches the service directly.
   */
  publicBaseUrl?: string
}

export class CdsAuthError extends Error {
  override name = 'CdsAuthError'
}

const ALGORITHMS = ['ES384', 'RS384', 'ES256', 'RS256', 'ES512', 'RS512']
/** Tokens older than this are refused even before exp (the spec asks for a 5-minute lifetime). */
const MAX_TOKEN_AGE_S = 300

/** Reads and checks an auth configuration file: { "trustedIssuers": [{ "iss": "...", "jwks": {...} | "jwksFile": "..." }] }. */
export function loadAuthConfig(path: string): CdsAuthConfig {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new Error(`Cannot read the CDS Hooks auth configuration ${path}: ${(error as Error).message}`)
  }
  const config = parsed as CdsAuthConfig
  if (!config || !Array.isArray(config.trustedIssuers) || config.trustedIssuers.length === 0)
    throw new Error(`${path}: "trustedIssuers" must list at least one { "iss", "jwks" | "jwksFile" }.`)
  for (const [i, issuer] of config.trustedIssuers.entries()) {
    if (typeof issuer.iss !== 'string' || issuer.iss === '') throw new Error(`${path}: trustedIssuers[${i}].iss must be the EHR's issuer URL.`)
    if (!issuer.jwks && !issuer.jwksFile) throw new Error(`${path}: trustedIssuers[${i}] (${issuer.iss}) needs "jwks" or "jwksFile".`)
  }
  return config
}

export class CdsAuthenticator {
  private readonly keys = new Map<string, ReturnType<typeof createLocalJWKSet>>()
  /** jti → expiry (seconds): replayed tokens are refused until they expire. */
  private readonly seen = new Map<string, number>()

  constructor(private readonly config: CdsAuthConfig) {
    for (const issuer of config.trustedIssuers) {
      const jwks = issuer.jwks ?? (JSON.parse(readFileSync(issuer.jwksFile!, 'utf8')) as JSONWebKeySet)
      if (!Array.isArray(jwks.keys)) throw new Error(`The JWK Set of ${issuer.iss} has no "keys" array.`)
      this.keys.set(issuer.iss, createLocalJWKSet(jwks))
    }
  }

  /** The verified client (iss, sub), or CdsAuthError with the reason. `endpoint` is the path called, e.g. /cds-services/x. */
  async verify(authorization: string | undefined, hostHeader: string | undefined, endpoint: string): Promise<{ iss: string; sub: string }> {
    if (!authorization) throw new CdsAuthError('Missing "Authorization: Bearer <JWT>" header: CDS Hooks clients must authenticate with a signed JWT.')
    const match = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\s*$/.exec(authorization)
    if (!match) throw new CdsAuthError('The Authorization header is not "Bearer <JWT>" with a compact JWS token.')
    const token = match[1]!
    let iss: unknown
    try {
      iss = decodeJwt(token).iss
    } catch {
      throw new CdsAuthError('The bearer token is not a readable JWT.')
    }
    const keys = typeof iss === 'string' ? this.keys.get(iss) : undefined
    if (!keys) throw new CdsAuthError(`The JWT issuer ${JSON.stringify(iss ?? null)} is not a trusted issuer of this service.`)
    const base = (this.config.publicBaseUrl ?? `http://${hostHeader ?? 'localhost'}`).replace(/\/+$/, '')
    const service = endpoint.replace(/\/feedback$/, '')
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: iss as string,
        audience: [`${base}${endpoint}`, `${base}${service}`],
        algorithms: ALGORITHMS,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti'],
        maxTokenAge: MAX_TOKEN_AGE_S,
        clockTolerance: 30
      })
      const now = Math.floor(Date.now() / 1000)
      if (this.seen.size > 50_000) for (const [jti, exp] of this.seen) if (exp < now) this.seen.delete(jti)
      if (this.seen.has(payload.jti!)) throw new CdsAuthError(`The JWT ${payload.jti} was already used (replay refused).`)
      this.seen.set(payload.jti!, payload.exp!)
      return { iss: iss as string, sub: String(payload.sub) }
    } catch (error) {
      if (error instanceof CdsAuthError) throw error
      if (error instanceof joseErrors.JWTExpired) throw new CdsAuthError('The JWT has expired.')
      if (error instanceof joseErrors.JWTClaimValidationFailed) throw new CdsAuthError(`The JWT was refused: ${error.message} (claim "${error.claim}").`)
      if (error instanceof joseErrors.JOSEError) throw new CdsAuthError(`The JWT was refused: ${error.message}.`)
      throw error
    }
  }
}
