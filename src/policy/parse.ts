/**
 * Policy records: normalisation (`parsePolicy`, from admin parameters or JSON) and compilation
 * into matchers (`compilePolicy`). Every failure is a ConfigError with code ERR_OTP_POLICY that
 * names the policy and the field.
 */
import { ConfigError } from '../errors.js'
import { parseActions } from './actions.js'
import { compileClientList, type ClientAddress } from './clients.js'
import { compileTime } from './time.js'
import { ACTIONS, UNSUPPORTED_SCOPES, type ActionValue, type PolicyRecord, type PolicyScope } from './types.js'
import { compileRealmList, compileUserList, type ListMatcher, type UserListMatcher } from './users.js'

const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/

/** A policy ready for evaluation. */
export interface CompiledPolicy {
  readonly record: Readonly<PolicyRecord>
  readonly scope: PolicyScope
  readonly actions: ReadonlyMap<string, ActionValue>
  readonly allActions: boolean
  /** `user.needsDirectory`: some condition asks the user's directory entry. */
  readonly user: UserListMatcher
  readonly realm: ListMatcher<string | undefined>
  readonly client: ListMatcher<ClientAddress | undefined>
  readonly time: (now: Date) => boolean
}

function fail(policy: string, field: string, problem: string): ConfigError {
  return new ConfigError(`policy '${policy}': ${field}: ${problem}`, 'ERR_OTP_POLICY')
}

function checkName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new ConfigError(
      `policy name ${JSON.stringify(name.slice(0, 70))}: expected 1-64 characters of A-Z a-z 0-9 _ . -`,
      'ERR_OTP_POLICY',
    )
  }
}

function checkScope(policy: string, scope: string): PolicyScope {
  if (Object.hasOwn(ACTIONS, scope)) return scope as PolicyScope
  if (UNSUPPORTED_SCOPES.includes(scope)) throw fail(policy, 'scope', `scope '${scope}' is not supported yet`)
  throw fail(policy, 'scope', `unknown scope '${scope}' (expected authentication, authorization or enrollment)`)
}

/**
 * Fills LinOTP's defaults: empty `user`/`client` → `*`; empty `realm` → `*` too (LinOTP requires a
 * realm in its UI; a policy without one is taken to mean every realm); empty `time` → always;
 * realm lower-cased. Trims every field.
 */
function normalise(r: PolicyRecord): PolicyRecord {
  const or = (v: string, fallback: string): string => (v.trim() === '' ? fallback : v.trim())
  return {
    name: r.name.trim(),
    scope: r.scope.trim().toLowerCase(),
    action: r.action.trim(),
    user: or(r.user, '*'),
    realm: or(r.realm, '*').toLowerCase(),
    client: or(r.client, '*'),
    time: r.time.trim(),
    active: r.active,
  }
}

/** Validates and compiles a record (normalising it first). */
export function compilePolicy(input: PolicyRecord): CompiledPolicy {
  checkName(input.name.trim())
  const record = Object.freeze(normalise(input))
  const scope = checkScope(record.name, record.scope)
  const { values, allActions } = parseActions(record.name, scope, record.action)
  return {
    record,
    scope,
    actions: values,
    allActions,
    user: compileUserList(record.name, record.user),
    realm: compileRealmList(record.name, record.realm),
    client: compileClientList(record.name, record.client),
    time: compileTime(record.name, record.time),
  }
}

function stringField(input: Record<string, unknown>, name: string, field: string, required: boolean): string {
  const v = input[field]
  if (v === undefined || v === null) {
    if (required) throw fail(name, field, 'is required')
    return ''
  }
  if (typeof v !== 'string') throw fail(name, field, `expected a string, got ${typeof v}`)
  if (required && v.trim() === '') throw fail(name, field, 'is required')
  return v
}

/** Decision 9: `true`, `'true'`, `'True'`, `1`, `'1'` are true, anything else false; missing or empty → true. */
function activeField(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true
  if (v === true || v === 1) return true
  return typeof v === 'string' && (v.trim().toLowerCase() === 'true' || v.trim() === '1')
}

/** Builds a validated, normalised record from admin parameters or JSON. */
export function parsePolicy(input: Record<string, unknown>): PolicyRecord {
  const rawName = input['name']
  if (typeof rawName !== 'string') throw new ConfigError('policy name: expected a string', 'ERR_OTP_POLICY')
  checkName(rawName.trim())
  const name = rawName.trim()
  const record: PolicyRecord = {
    name,
    scope: stringField(input, name, 'scope', true),
    action: stringField(input, name, 'action', true),
    user: stringField(input, name, 'user', false),
    realm: stringField(input, name, 'realm', false),
    client: stringField(input, name, 'client', false),
    time: stringField(input, name, 'time', false),
    active: activeField(input['active']),
  }
  return { ...compilePolicy(record).record }
}
