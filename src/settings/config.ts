/**
 * LinOTP system config keys the SMS token reads, with their defaults and types. Unknown keys are
 * stored as given (LinOTP keeps arbitrary keys); known keys are validated when set, so a typo in a
 * number never reaches the validate path.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net'
import { ConfigError } from '../errors.js'
import { configBool } from '../providers/config-values.js'

type KeySpec =
  | { readonly type: 'int'; readonly def: number; readonly min: number; readonly max: number; readonly oneOf?: readonly number[] }
  | { readonly type: 'bool'; readonly def: boolean }
  | { readonly type: 'string'; readonly def: string; readonly maxLength: number }

/** Known keys. Names are matched case-sensitively, as LinOTP does. */
export const CONFIG_KEYS = {
  SMS_CHALLENGE_PROMPT: { type: 'string', def: 'sms submitted', maxLength: 200 },
  SMSBlockingTimeout: { type: 'int', def: 30, min: 0, max: 86_400 },
  DefaultMaxFailCount: { type: 'int', def: 10, min: 1, max: 1_000_000 },
  DefaultCountWindow: { type: 'int', def: 10, min: 1, max: 1000 },
  DefaultOtpLen: { type: 'int', def: 6, min: 6, max: 8, oneOf: [6, 8] },
  TransactionIdLength: { type: 'int', def: 17, min: 12, max: 17 },
  splitAtSign: { type: 'bool', def: true },
  PrependPin: { type: 'bool', def: true },
  /**
   * Longest SMS a request-supplied text (`data`, `message`, `challenge`) may produce, in SMS parts,
   * with the OTP and placeholders filled in. Longer ones send nothing. Policy texts are not capped.
   */
  SMSRequestTextMaxParts: { type: 'int', def: 1, min: 1, max: 10 },
  /** Callers (RADIUS servers, SSO front-ends) allowed to pass the end user's address. */
  mayOverwriteClient: { type: 'string', def: '', maxLength: 4000 },
  /** Timeout of the legacy `imported_default` provider (LinOTP quirk: shared key). */
  SMSProviderTimeout: { type: 'int', def: 120, min: 1, max: 86_400 },
} as const satisfies Record<string, KeySpec>

export type KnownConfigKey = keyof typeof CONFIG_KEYS

/**
 * Keys that only hold provider definitions (legacy `imported_default`) and are validated there.
 * `SMSProviderOrigin` records who defined it (see providers/resources.ts): writable through the
 * provider operations only, so `/system/setConfig` cannot vouch for an admin's definition.
 */
export const LEGACY_PROVIDER_KEYS = ['SMSProvider', 'SMSProviderConfig', 'SMSProviderOrigin'] as const
/** Config keys written only through the provider operations. */
export const PROVIDER_KEYS = [...LEGACY_PROVIDER_KEYS, 'Provider.Default.sms_provider'] as const

const MAX_KEY = 128
const MAX_VALUE = 64 * 1024

/**
 * Validates one key/value pair for storage. Returns a warning for a boolean key whose value is
 * not a boolean spelling: it is stored and reads as false (Decision 9), but the admin should know;
 * and for an unknown key close to a known one ("did you mean SMSBlockingTimeout?").
 * @throws ConfigError naming the key and what it expects.
 */
export function checkConfigEntry(key: string, value: string): string | undefined {
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(key)) {
    throw new ConfigError(`config key ${JSON.stringify(key.slice(0, MAX_KEY))}: only letters, digits and _ . : - are allowed (at most ${MAX_KEY})`)
  }
  if (value.length > MAX_VALUE) throw new ConfigError(`config key ${key}: value longer than ${MAX_VALUE} characters`)
  if ((PROVIDER_KEYS as readonly string[]).includes(key)) {
    throw new ConfigError(`config key ${key}: use /system/setProvider or setDefaultProvider`)
  }
  const spec = (CONFIG_KEYS as Record<string, KeySpec>)[key]
  if (spec === undefined) {
    // LinOTP keeps arbitrary keys, so an unknown one is stored; one that looks like a misspelt
    // known key would silently leave the real key at its default, so it gets a warning.
    const near = closestConfigKey(key)
    return near === undefined ? undefined : `config key ${key} is not a known key (stored as given): did you mean ${near}?`
  }
  if (spec.type === 'int') {
    const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN
    if (spec.oneOf !== undefined && !spec.oneOf.includes(n)) throw new ConfigError(`config key ${key}: expected one of ${spec.oneOf.join(', ')}`)
    if (!(n >= spec.min && n <= spec.max)) throw new ConfigError(`config key ${key}: expected an integer from ${spec.min} to ${spec.max}`)
  } else if (spec.type === 'bool') {
    if (!/^(true|false|1|0)$/i.test(value.trim())) return `config key ${key}: '${value.slice(0, 20)}' is not true, True or 1, so it reads as false`
  } else if (key === 'mayOverwriteClient') {
    parseAddressList(value, key)
  } else if (spec.type === 'string' && value.length > spec.maxLength) {
    throw new ConfigError(`config key ${key}: longer than ${spec.maxLength} characters`)
  }
  return undefined
}

/**
 * The known config key `key` is probably a misspelling of: equal but for case, or at most two
 * edits (insert, delete, replace, swap of neighbours) away. Undefined for known keys and for keys
 * not near any known one.
 * @example closestConfigKey('SMSBlockingTimout') // 'SMSBlockingTimeout'
 */
export function closestConfigKey(key: string): KnownConfigKey | undefined {
  if (Object.hasOwn(CONFIG_KEYS, key)) return undefined
  let best: { key: KnownConfigKey; distance: number } | undefined
  for (const known of Object.keys(CONFIG_KEYS) as KnownConfigKey[]) {
    const distance = known.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, known)
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { key: known, distance }
  }
  return best?.key
}

/** Optimal string alignment distance (Levenshtein plus transposition of neighbours). */
export function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return Math.abs(a.length - b.length)
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  const at = (i: number, j: number): number => rows[i]?.[j] ?? 0
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, at(i - 2, j - 2) + 1)
      ;(rows[i] as number[])[j] = d
    }
  }
  return at(a.length, b.length)
}

/**
 * Parses a comma/space separated list of IP addresses and CIDR networks into a BlockList.
 * @throws ConfigError naming the first bad entry.
 */
export function parseAddressList(value: string, key: string): BlockList | undefined {
  const entries = value.split(/[\s,]+/).filter((e) => e !== '')
  if (entries.length === 0) return undefined
  const list = new BlockList()
  for (const entry of entries) {
    const [address = '', prefix, extra] = entry.split('/')
    const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined
    const bits = prefix === undefined ? undefined : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN
    if (type === undefined || extra !== undefined || (bits !== undefined && !(bits <= (type === 'ipv4' ? 32 : 128)))) {
      throw new ConfigError(`config key ${key}: ${JSON.stringify(entry.slice(0, 60))} is not an IP address or CIDR network`)
    }
    if (bits === undefined) list.addAddress(address, type)
    else list.addSubnet(address, bits, type)
  }
  return list
}

/** Typed, read-only view of the config keys with defaults applied. */
export class ConfigView {
  readonly #values: ReadonlyMap<string, string>
  constructor(values: ReadonlyMap<string, string>) {
    this.#values = values
  }
  raw(key: string): string | undefined {
    return this.#values.get(key)
  }
  int<K extends KnownConfigKey>(key: K): number {
    const spec = CONFIG_KEYS[key] as KeySpec
    const v = this.#values.get(key)
    if (spec.type !== 'int') throw new TypeError(`${key} is not an integer key`)
    const n = v === undefined ? NaN : Number(v)
    return Number.isInteger(n) && n >= spec.min && n <= spec.max ? n : spec.def
  }
  bool<K extends KnownConfigKey>(key: K): boolean {
    const spec = CONFIG_KEYS[key] as KeySpec
    if (spec.type !== 'bool') throw new TypeError(`${key} is not a boolean key`)
    const v = this.#values.get(key)
    return v === undefined ? spec.def : configBool(v)
  }
  string<K extends KnownConfigKey>(key: K): string {
    const spec = CONFIG_KEYS[key] as KeySpec
    if (spec.type !== 'string') throw new TypeError(`${key} is not a string key`)
    return this.#values.get(key) ?? spec.def
  }
  entries(): IterableIterator<[string, string]> {
    return this.#values.entries()
  }
}
