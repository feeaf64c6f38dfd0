/**
 * Typed readers for provider configuration values. LinOTP configs are hand-written JSON where
 * numbers arrive as strings and booleans in several spellings; these readers accept exactly the
 * documented forms and throw a `ConfigError` naming the key otherwise.
 */
import { ConfigError } from '../errors.js'

/** Decision 9: `true`, `"true"`, `"True"`, `1` (and `"1"`) are true; anything else is false. */
export function configBool(value: unknown): boolean {
  if (value === true || value === 1) return true
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase()
    return v === 'true' || v === '1'
  }
  return false
}

/** An optional string key; numbers are accepted and stringified. */
export function configString(config: Record<string, unknown>, key: string): string | undefined {
  const value = config[key]
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  throw new ConfigError(`${key}: expected a string, got ${describeType(value)}`)
}

/** A required non-empty string key. */
export function requireString(config: Record<string, unknown>, key: string): string {
  const value = configString(config, key)
  if (value === undefined || value.trim() === '') throw new ConfigError(`missing required key '${key}'`)
  return value
}

/** An optional integer (number or numeric string) within bounds. */
export function configInt(config: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const value = config[key]
  if (value === undefined || value === null || value === '') return undefined
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : NaN
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${key}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`)
  }
  return n
}

/** An optional object of string values (HEADERS, PARAMETER). Non-string scalars are stringified. */
export function configStringMap(config: Record<string, unknown>, key: string): Record<string, string> {
  const value = config[key]
  if (value === undefined || value === null || value === '') return {}
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`${key}: expected an object of name/value pairs, got ${describeType(value)}`)
  }
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string') out[k] = v
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v)
    else throw new ConfigError(`${key}.${k}: expected a string, got ${describeType(v)}`)
  }
  return out
}

/**
 * A network timeout in seconds: a number, a numeric string, or LinOTP's pair form `"3,30"` /
 * `"(3,30)"` / `[3,30]` meaning (connect, read). Returns milliseconds.
 */
export function configTimeoutPair(
  config: Record<string, unknown>,
  key: string,
  fallback: { connectMs: number; readMs: number },
): { connectMs: number; readMs: number } {
  const value = config[key]
  if (value === undefined || value === null || value === '') return fallback
  const parts: unknown[] = Array.isArray(value)
    ? value
    : typeof value === 'string'
      ? value.replace(/[()\s]/g, '').split(',').filter((p) => p !== '')
      : [value]
  const seconds = parts.map((p) => (typeof p === 'number' ? p : typeof p === 'string' ? Number(p) : NaN))
  if (seconds.length < 1 || seconds.length > 2 || seconds.some((s) => !Number.isFinite(s) || s <= 0 || s > 3600)) {
    throw new ConfigError(`${key}: expected seconds as a number or a "connect,read" pair, got ${JSON.stringify(value)}`)
  }
  const connect = seconds[0] as number
  const read = seconds[1] ?? connect
  return { connectMs: Math.round(connect * 1000), readMs: Math.round(read * 1000) }
}

export function describeType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`
}
