/**
 * User and realm condition lists (§4.6), compiled once into matchers that return a precision
 * (`EXACT` > `PATTERN` > `WILDCARD`, 0 = no match).
 *
 * Rules shared by every condition list here: a list matches when at least one positive condition
 * matches and no exclusion (`!x` / `-x`) matches — an exclusion rejects the policy outright, even
 * next to `*` (LinOTP lets `*` short-circuit realm and client exclusions; we do not). A list of
 * exclusions only matches nobody, as in LinOTP: write `*, !bob` for "everyone but bob".
 */
import { ConfigError } from '../errors.js'
import { EXACT, NO_MATCH, PATTERN, WILDCARD } from './types.js'

/** A compiled condition list: query → precision (0 = the policy does not apply). */
export type ListMatcher<Q> = (query: Q) => number

export interface UserSubject {
  /** The login, or undefined for no user. */
  login: string | undefined
  /** The realm, lower-cased, or undefined. */
  realm: string | undefined
}

function fail(policy: string, field: string, problem: string): ConfigError {
  return new ConfigError(`policy '${policy}': ${field}: ${problem}`, 'ERR_OTP_POLICY')
}

/** Comma-separated list, trimmed, empties dropped, each split into (negated, condition). */
export function splitConditions(text: string): { negated: boolean; cond: string }[] {
  return text
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '')
    .map((c) => (c[0] === '!' || c[0] === '-' ? { negated: true, cond: c.slice(1).trim() } : { negated: false, cond: c }))
}

/**
 * `*` becomes `.*`, every other character is taken literally. LinOTP leaves the rest of the regex
 * syntax active (`bob.` matches `bobX`); we escape it, which is safer and what admins expect.
 */
function wildcardRegExp(pattern: string, flags = ''): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'))
    .join('.*')
  return new RegExp(`^${body}$`, flags)
}

/** Combines per-condition results: any matching exclusion → 0, else the best positive precision. */
function combine<Q>(conds: { negated: boolean; test: (q: Q) => number }[]): ListMatcher<Q> {
  return (q) => {
    let best = NO_MATCH
    for (const c of conds) {
      const p = c.test(q)
      if (p === NO_MATCH) continue
      if (c.negated) return NO_MATCH
      if (p > best) best = p
    }
    return best
  }
}

function compileUserCondition(policy: string, cond: string): (s: UserSubject) => number {
  if (cond === '') throw fail(policy, 'user', 'empty exclusion')
  if (cond.includes(':')) throw fail(policy, 'user', "user resolver conditions ('resolver:') are not supported yet")
  if (cond.includes('#')) throw fail(policy, 'user', "user attribute conditions ('#attr') are not supported yet")
  if (cond === '*') return () => WILDCARD
  const at = cond.lastIndexOf('@')
  const name = at < 0 ? cond : cond.slice(0, at)
  const realm = at < 0 ? undefined : cond.slice(at + 1).toLowerCase()
  if (name === '' || realm === '') throw fail(policy, 'user', `'${cond}' needs a name and a realm around '@'`)
  const nameRe = wildcardRegExp(name)
  const realmRe = realm === undefined ? undefined : wildcardRegExp(realm, 'i')
  const exact = !cond.includes('*')
  return (s) => {
    if (realmRe !== undefined && (s.realm === undefined || !realmRe.test(s.realm))) return NO_MATCH
    // Without a user only `*`-style names (`*`, `*@realm`) can match (§2.6 pseudo-user).
    if (s.login === undefined) return name === '*' ? PATTERN : NO_MATCH
    if (!nameRe.test(s.login)) return NO_MATCH
    return exact ? EXACT : PATTERN
  }
}

/** The `user` field: case-sensitive logins, `name@realm` with a case-insensitive realm part. */
export function compileUserList(policy: string, text: string): ListMatcher<UserSubject> {
  return combine(splitConditions(text).map(({ negated, cond }) => ({ negated, test: compileUserCondition(policy, cond) })))
}

/**
 * The `realm` field: case-insensitive equality or `*`. Partial wildcards (`real*`) are refused:
 * LinOTP compares realms literally, so such a condition would never match.
 */
export function compileRealmList(policy: string, text: string): ListMatcher<string | undefined> {
  return combine(
    splitConditions(text).map(({ negated, cond }) => {
      if (cond === '*') return { negated, test: () => WILDCARD }
      if (cond.includes('*')) throw fail(policy, 'realm', `'${cond}': only a lone '*' is a wildcard`)
      if (cond === '') throw fail(policy, 'realm', 'empty exclusion')
      const realm = cond.toLowerCase()
      return { negated, test: (q: string | undefined) => (q === realm ? EXACT : NO_MATCH) }
    }),
  )
}

export { combine, fail }
