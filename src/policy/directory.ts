/**
 * The parts of user conditions that ask the user's directory entry (§4.6): the resolver form
 * `[name.]resolver:` and the attribute tests after `#` (`#attr`, `#attr==v`, `#attr!=v`,
 * `#attr~=regex`). users.ts combines them with the name and realm parts.
 */
import { ConfigError } from '../errors.js'
import { compileAttributeRegex, testAttributeRegex } from './regex.js'
import type { PolicyDirectoryUser } from './types.js'

/** Resolver names a condition can name (LinOTP's rule; a `.` would be ambiguous in `name.resolver:`). */
const RESOLVER_NAME = /^[A-Za-z0-9_-]{1,64}$/
/** `attr`, optionally followed by an operator and a value (the value may contain anything). */
const ATTRIBUTE = /^\s*([A-Za-z0-9_-]+)\s*(?:(==|!=|~=)([^]*))?$/

function fail(policy: string, problem: string): ConfigError {
  return new ConfigError(`policy '${policy}': user: ${problem}`, 'ERR_OTP_POLICY')
}

/**
 * Splits `name.resolver:` / `resolver:` (the caller checked the trailing `:`). The resolver is
 * what follows the last `.`, so logins with dots work (`first.last.corp:`).
 */
export function parseResolverCondition(policy: string, cond: string): { name: string | undefined; resolver: string } {
  const body = cond.slice(0, -1)
  if (body.includes('@')) {
    throw fail(policy, `'${cond}': a resolver condition takes no @realm (use the realm field, or name@realm without the resolver)`)
  }
  if (body.includes(':')) throw fail(policy, `'${cond}': ':' may appear only once, at the end (name.resolver:)`)
  const dot = body.lastIndexOf('.')
  const resolver = dot < 0 ? body : body.slice(dot + 1)
  const name = dot < 0 ? undefined : body.slice(0, dot)
  if (!RESOLVER_NAME.test(resolver)) {
    throw fail(policy, `'${cond}': resolver name ${JSON.stringify(resolver)} must be 1-64 letters, digits, _ or -`)
  }
  if (name === '') throw fail(policy, `'${cond}': name missing before '.${resolver}:'`)
  return { name, resolver }
}

/** An attribute test on a directory entry. */
export type AttributeTest = (attributes: PolicyDirectoryUser['attributes']) => boolean

/** An own string attribute, trimmed; undefined when absent (prototype keys never count). */
function attribute(attributes: PolicyDirectoryUser['attributes'], name: string): string | undefined {
  if (!Object.hasOwn(attributes, name)) return undefined
  const v = attributes[name]
  return typeof v === 'string' ? v.trim() : undefined
}

/**
 * Compiles the part after `#`:
 * - `attr`: the attribute is set and not empty (after trimming);
 * - `attr==v`: it equals `v` (both trimmed, case-sensitive);
 * - `attr!=v`: it does not equal `v`, which includes an absent attribute (as in LinOTP);
 * - `attr~=regex`: the regex finds a match in it (unanchored search; see regex.ts for the limits).
 * An empty value is refused: `#attr` and `*, !#attr` already say "set" and "unset or empty".
 */
export function compileAttributeTest(policy: string, cond: string, expr: string): AttributeTest {
  const m = ATTRIBUTE.exec(expr)
  if (!m) throw fail(policy, `'${cond}': expected #attribute, #attribute==value, #attribute!=value or #attribute~=regex (attribute names: letters, digits, _ -)`)
  const [, name = '', op, raw] = m
  if (op === undefined) return (a) => (attribute(a, name) ?? '') !== ''
  const value = (raw ?? '').trim()
  if (value === '') throw fail(policy, `'${cond}': empty value after '${op}' (use '#${name}' for "set", '*, !#${name}' for "unset")`)
  if (op === '==') return (a) => attribute(a, name) === value
  if (op === '!=') return (a) => attribute(a, name) !== value
  const re = compileAttributeRegex(policy, value)
  return (a) => {
    const v = attribute(a, name)
    return v !== undefined && v !== '' && testAttributeRegex(re, v)
  }
}
