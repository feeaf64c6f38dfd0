/**
 * Provider definitions as LinOTP keeps them (§4.1–4.4): named records, a default pointer, and the
 * legacy `imported_default` provider made from the old `SMSProvider*` config keys. Records are
 * validated before anything is stored; configs are stored encrypted.
 */
import { ConfigError, OtpError } from '../errors.js'
import type { Secrets } from '../crypto/secrets.js'
import type { ProviderRecord } from '../providers/types.js'

/** Name of the virtual provider built from legacy config keys. */
export const IMPORTED_DEFAULT = 'imported_default'
/** Config key holding the default provider's name (LinOTP `Provider.Default.sms_provider`). */
export const DEFAULT_POINTER = 'Provider.Default.sms_provider'
/** Default OTP validity of a provider in seconds (Decision 1). */
export const DEFAULT_PROVIDER_TIMEOUT = 120

const NAME = /^[A-Za-z0-9_.-]{1,64}$/

/** Stored shape of a provider under settings kind `provider`. */
interface StoredProvider {
  className: string
  config: string // ciphertext
  timeout: number
  /** Absent in records written before origins existed: those count as `admin` (unknown provenance). */
  origin?: 'local' | 'admin'
}

/** Checks a provider name (used in policies and URLs). */
export function checkProviderName(name: string): void {
  if (!NAME.test(name)) throw new ConfigError(`provider name ${JSON.stringify(name.slice(0, 70))}: 1 to 64 letters, digits, _ . - only`)
}

/** Parses the `timeout` attribute: seconds, 1 to 86400. */
export function parseProviderTimeout(value: unknown): number {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : ''
  if (value === undefined || value === null || text === '') throw new ConfigError("missing key 'timeout' (OTP validity in seconds)")
  if (!/^\d+$/.test(text)) throw new ConfigError(`timeout: expected the OTP validity in whole seconds from 1 to 86400, not ${JSON.stringify(text.slice(0, 20))}`)
  const n = Number(text)
  if (n < 1 || n > 86_400) throw new ConfigError('timeout: expected seconds from 1 to 86400')
  return n
}

export function encodeProvider(record: ProviderRecord, secrets: Secrets): string {
  const stored: StoredProvider = {
    className: record.className,
    config: secrets.encryptConfig(record.name, record.config),
    timeout: record.timeout,
    origin: record.origin ?? 'local',
  }
  return JSON.stringify(stored)
}

export function decodeProvider(name: string, value: string, secrets: Secrets): ProviderRecord {
  let stored: StoredProvider
  try {
    stored = JSON.parse(value) as StoredProvider
  } catch (cause) {
    throw new OtpError('ERR_OTP_STORE', `stored provider '${name}' is corrupt`, { cause, status: 500 })
  }
  // Only an explicit 'local' is trusted: a record of unknown provenance is held to the allow-lists.
  const origin = stored.origin === 'local' ? 'local' : 'admin'
  return { name, className: stored.className, config: secrets.decryptConfig(name, stored.config), timeout: stored.timeout, origin }
}

/**
 * The legacy provider from config keys, if `SMSProviderConfig` exists (§4.2). Without an
 * `SMSProviderOrigin` of `local` (written by a trusted `setProvider` only) it counts as admin-defined.
 */
export function legacyProvider(config: ReadonlyMap<string, string>, secrets: Secrets): ProviderRecord | undefined {
  const sealed = config.get('SMSProviderConfig')
  if (sealed === undefined) return undefined
  const timeout = Number(config.get('SMSProviderTimeout'))
  return {
    name: IMPORTED_DEFAULT,
    className: config.get('SMSProvider') ?? 'smsprovider.HttpSMSProvider.HttpSMSProvider',
    config: sealed.startsWith('v1:') ? secrets.decryptConfig(IMPORTED_DEFAULT, sealed) : sealed,
    timeout: Number.isInteger(timeout) && timeout > 0 ? timeout : DEFAULT_PROVIDER_TIMEOUT,
    origin: config.get('SMSProviderOrigin') === 'local' ? 'local' : 'admin',
  }
}

/** Config writes that store the legacy provider. */
export function legacyProviderWrites(record: ProviderRecord, secrets: Secrets): Array<[string, string]> {
  return [
    ['SMSProvider', record.className],
    ['SMSProviderConfig', secrets.encryptConfig(IMPORTED_DEFAULT, record.config)],
    ['SMSProviderTimeout', String(record.timeout)],
    ['SMSProviderOrigin', record.origin ?? 'local'],
  ]
}
