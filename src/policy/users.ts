/**
 * User and realm condition lists (§4.6), compiled once into matchers that return a precision
 * (`EXACT` > `PATTERN` > `WILDCARD`, 0 = no match).
 *
 * Rules shared by every condition list here: a list matches when at least one positive condition
 * matches and no exclusion (`!x` / `-x`) matches — an exclusion rejects the policy outright, even
 * next to `*` (LinOTP lets `*` short-circuit realm and client exclusions; we do not). A list of
 * exclusions only matches nobody, as in LinOTP: write `*, !bob` for "everyone but bob".
 * Conditions on the directory entry (`resolver:`, `#attr`) never match without one, so as
 * exclusions they then exclude nobody.
 */
import { ConfigError } from '../errors.js'
import { compileAttributeTest, parseResolverCondition } from './directory.js'
import { EXACT, NO_MATCH, PATTERN, WILDCARD, type PolicyDirectoryUser } from './types.js'

/** A compiled condition list: query → precision (0 = the policy does not apply). */
export type ListMatcher<Q> = (query: Q) => number

export interface UserSubject {
  /** The login, or undefined for no user. */
  login: string | undefined
  /** The realm, lower-cased, or undefined. */
  realm: string | undefined
  /** The user's directory entry, when looked up; resolver and attribute conditions need it. */
  directory?: PolicyDirectoryUser | undefined
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

type SubjectTest = (s: UserSubject) => number

/** `name` or `name@realm` (wildcards in both parts); the pre-directory forms. */
function compileNameCondition(policy: string, cond: string): SubjectTest {
  const at = cond.lastIndexOf('@')
  const name = at < 0 ? cond : cond.slice(0, at)
  const realm = at < 0 ? undefined : cond.slice(at + 1).toLowerCase()
  if (name === '' || realm === '') throw fail(policy, 'user', `'${cond}' needs a name and a realm around '@'`)
  if (cond.includes(':')) throw fail(policy, 'user', `'${cond}': ':' may only end a resolver condition (resolver: or name.resolver:)`)
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

/** `resolver:` (pattern) and `name.resolver:` (exact without `*`): the directory entry's resolver. */
function compileResolverCondition(policy: string, cond: string): SubjectTest {
  const { name, resolver } = parseResolverCondition(policy, cond)
  const nameRe = name === undefined ? undefined : wildcardRegExp(name)
  const exact = name !== undefined && !name.includes('*')
  return (s) => {
    // No user or no directory entry: there is no resolver to compare (an exclusion excludes nothing).
    if (s.login === undefined || s.directory?.resolver !== resolver) return NO_MATCH
    if (nameRe === undefined) return PATTERN
    if (!nameRe.test(s.login)) return NO_MATCH
    return exact ? EXACT : PATTERN
  }
}

/** A condition without `#`: `*`, a name form or a resolver form. */
function compileBaseCondition(policy: string, cond: string): { test: SubjectTest; directory: boolean } {
  if (cond === '*') return { test: () => WILDCARD, directory: false }
  if (cond.endsWith(':')) return { test: compileResolverCondition(policy, cond), directory: true }
  return { test: compileNameCondition(policy, cond), directory: false }
}

/**
 * One user condition. `[userdef]#attr…` holds when `userdef` (empty or `*` = anyone; otherwise
 * any other form) holds and the attribute test passes on the directory entry; its precision is
 * always PATTERN (LinOTP: only `login`, `login@realm`, `login.resolver:` are exact).
 */
function compileUserCondition(policy: string, cond: string): { test: SubjectTest; directory: boolean } {
  if (cond === '') throw fail(policy, 'user', 'empty exclusion')
  const hash = cond.indexOf('#')
  if (hash < 0) return compileBaseCondition(policy, cond)
  const userdef = cond.slice(0, hash).trim()
  const attr = compileAttributeTest(policy, cond, cond.slice(hash + 1))
  const base = userdef === '' || userdef === '*' ? undefined : compileBaseCondition(policy, userdef).test
  return {
    directory: true,
    test: (s) => {
      if (s.login === undefined || s.directory === undefined) return NO_MATCH
      if (base !== undefined && base(s) === NO_MATCH) return NO_MATCH
      return attr(s.directory.attributes) ? PATTERN : NO_MATCH
    },
  }
}

/** A compiled `user` field; `needsDirectory` when a condition asks the directory entry. */
export type UserListMatcher = ListMatcher<UserSubject> & { readonly needsDirectory: boolean }

/**
 * The `user` field: case-sensitive logins, `name@realm` with a case-insensitive realm part,
 * `[name.]resolver:` and `[userdef]#attr…` on the directory entry ({@link UserSubject.directory}).
 */
export function compileUserList(policy: string, text: string): UserListMatcher {
  const conds = splitConditions(text).map(({ negated, cond }) => ({ negated, ...compileUserCondition(policy, cond) }))
  return Object.assign(combine(conds), { needsDirectory: conds.some((c) => c.directory) })
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
