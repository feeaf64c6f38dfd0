/**
 * How user resolver definitions and realm records are kept in the settings store. A definition's
 * secrets (`BINDPW`) are sealed with the config key (AES-256-GCM, bound to the resolver's name)
 * and kept apart from the other parameters, so nothing that lists settings ever holds them in
 * the clear.
 */
import type { Secrets } from '../crypto/secrets.js'
import { OtpError } from '../errors.js'
import { SECRET_PARAMS, type ResolverDefinition, type ResolverOrigin, type ResolverType } from '../users/definitions.js'
import type { DirectoryRealm, StoredResolver } from '../users/directory.js'

/** Stored shape of a resolver under settings kind `resolver`. */
interface StoredValue {
  type: ResolverType
  /** Every parameter but the secrets. */
  params: Record<string, string>
  /** Sealed JSON of the secret parameters, when there are any. */
  sealed?: string
  origin: ResolverOrigin
}

/** Additional data the secrets are sealed with: a sealed value cannot be moved to another resolver. */
const sealName = (name: string): string => `resolver:${name}`

export function encodeResolver(definition: ResolverDefinition, origin: ResolverOrigin, secrets: Secrets): string {
  const params: Record<string, string> = {}
  const hidden: Record<string, string> = {}
  for (const [k, v] of Object.entries(definition.params)) (SECRET_PARAMS.has(k) ? hidden : params)[k] = v
  const value: StoredValue = { type: definition.type, params, origin }
  if (Object.keys(hidden).length > 0) value.sealed = secrets.encryptConfig(sealName(definition.name), JSON.stringify(hidden))
  return JSON.stringify(value)
}

export function decodeResolver(name: string, value: string, secrets: Secrets): StoredResolver {
  let stored: StoredValue
  try {
    stored = JSON.parse(value) as StoredValue
    if ((stored.type !== 'file' && stored.type !== 'ldap') || typeof stored.params !== 'object' || stored.params === null) throw new Error('bad shape')
  } catch (cause) {
    throw new OtpError('ERR_OTP_STORE', `stored resolver '${name}' is corrupt`, { cause, status: 500 })
  }
  // Only an explicit 'local' is trusted: a record of unknown provenance is held to the allow-lists.
  const origin: ResolverOrigin = stored.origin === 'local' ? 'local' : 'admin'
  let hidden: Record<string, string> = {}
  let error: string | undefined
  try {
    if (stored.sealed !== undefined) hidden = JSON.parse(secrets.decryptConfig(sealName(name), stored.sealed)) as Record<string, string>
  } catch {
    // One unreadable secret must not stop the engine: this resolver fails when used, saying why.
    error = `its stored secrets (BINDPW) cannot be decrypted with this key: set the resolver again`
  }
  const definition = Object.freeze({ name, type: stored.type, params: Object.freeze({ ...stored.params, ...hidden }) })
  return error === undefined ? { definition, origin } : { definition, origin, error }
}

/** A realm record as stored under settings kind `realm`; records written before resolvers have none. */
export function decodeRealm(name: string, value: string): DirectoryRealm {
  let stored: { default?: unknown; resolvers?: unknown }
  try {
    stored = JSON.parse(value) as typeof stored
  } catch (cause) {
    throw new OtpError('ERR_OTP_STORE', `stored realm '${name}' is corrupt`, { cause, status: 500 })
  }
  const resolvers = Array.isArray(stored.resolvers) ? stored.resolvers.filter((r): r is string => typeof r === 'string') : []
  return { name, default: stored.default === true, resolvers: Object.freeze(resolvers) }
}

export function encodeRealm(realm: { default: boolean; resolvers: readonly string[] }): string {
  return JSON.stringify({ default: realm.default, resolvers: realm.resolvers })
}

/**
 * For `sms-otp key rotate`: the stored value with its secrets sealed under `to` instead of `from`,
 * or undefined when there is nothing to change (no secrets, or sealed under `to` already).
 * @throws OtpError `ERR_OTP_CRYPTO` when the secrets open with neither key.
 */
export function resealResolver(name: string, value: string, from: Secrets, to: Secrets): string | undefined {
  const record = JSON.parse(value) as Record<string, unknown>
  if (typeof record.sealed !== 'string') return undefined
  try {
    to.decryptConfig(sealName(name), record.sealed)
    return undefined
  } catch {
    // not yet under the new key
  }
  record.sealed = to.encryptConfig(sealName(name), from.decryptConfig(sealName(name), record.sealed))
  return JSON.stringify(record)
}
