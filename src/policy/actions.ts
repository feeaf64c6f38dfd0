/**
 * The `action` field of a policy: `key`, `key=value`, `!key` entries separated by commas, where a
 * value may be quoted ('…' or "…") to protect commas (`smstext="a, b <otp>"`). Values are typed
 * from the catalogue in `types.ts`; anything unknown or mistyped is a ConfigError.
 */
import { configBool } from '../providers/config-values.js'
import { ConfigError } from '../errors.js'
import { ACTIONS, OTPPIN_MODES, type ActionValue, type PolicyScope } from './types.js'

/** Parsed action field. */
export interface ParsedActions {
  readonly values: ReadonlyMap<string, ActionValue>
  readonly allActions: boolean
}

/** One raw entry before typing: `negated` for `!key`, `value` undefined for a bare `key`. */
interface RawEntry {
  key: string
  value: string | undefined
  negated: boolean
}

function fail(policy: string, problem: string): ConfigError {
  return new ConfigError(`policy '${policy}': action: ${problem}`, 'ERR_OTP_POLICY')
}

/**
 * Splits on commas outside quotes. A quote opens only as the first character of a value (right
 * after `=`), so an apostrophe inside an unquoted text (`don't`) stays literal.
 */
function splitEntries(policy: string, text: string): RawEntry[] {
  const entries: RawEntry[] = []
  let i = 0
  while (i <= text.length) {
    let end = i
    while (end < text.length && text[end] !== ',' && text[end] !== '=') end++
    const head = text.slice(i, end).trim()
    let value: string | undefined
    if (text[end] === '=') {
      let j = end + 1
      while (j < text.length && /\s/.test(text[j] ?? '')) j++
      const quote = text[j]
      if (quote === '"' || quote === "'") {
        const close = text.indexOf(quote, j + 1)
        if (close < 0) throw fail(policy, `unterminated quote in the value of '${head}'`)
        value = text.slice(j + 1, close)
        end = close + 1
        while (end < text.length && /\s/.test(text[end] ?? '')) end++
        if (end < text.length && text[end] !== ',') throw fail(policy, `unexpected text after the quoted value of '${head}'`)
      } else {
        end = text.indexOf(',', j)
        if (end < 0) end = text.length
        value = text.slice(j, end).trim()
      }
    }
    i = end + 1
    if (head === '' && value === undefined) continue // empty entry (`a,,b` or a trailing comma)
    if (head === '') throw fail(policy, 'an entry has a value but no name')
    const negated = head.startsWith('!')
    const key = negated ? head.slice(1).trim() : head
    if (negated && value !== undefined) throw fail(policy, `'!${key}' cannot have a value`)
    entries.push({ key, value, negated })
  }
  return entries
}

function typeBool(e: RawEntry): boolean {
  if (e.negated) return false
  if (e.value === undefined) return true
  // Decision 9: true, True, 1 are true; anything else is false (no substring tests).
  return configBool(e.value)
}

function typeString(policy: string, e: RawEntry): string {
  if (e.negated || e.value === undefined || e.value.toLowerCase() === 'false') {
    throw fail(policy, `'${e.key}' expects a value ('${e.key}=...')`)
  }
  if (e.key === 'otppin') {
    const mode = OTPPIN_MODES[e.value.toLowerCase()]
    if (mode === undefined) {
      throw fail(policy, `otppin must be 0, 1, 2, 3, token_pin, password, only_otp or ignore_pin, got '${e.value}'`)
    }
    return mode
  }
  if (e.key === 'autoenrollment') {
    // §1.10: lower-cased, split on whitespace, a subset of sms / email / `*`, in preference order.
    const types = e.value.toLowerCase().split(/\s+/).filter((t) => t !== '')
    const bad = types.filter((t) => t !== 'sms' && t !== 'email' && t !== '*')
    if (types.length === 0 || bad.length > 0) throw fail(policy, `autoenrollment takes sms, email or *, got '${e.value}'`)
    return types.join(' ')
  }
  if (e.key === 'sms_provider' && splitProviderList(e.value).length === 0) {
    throw fail(policy, 'sms_provider names no provider')
  }
  return e.value
}

function typeInt(policy: string, e: RawEntry): number {
  if (e.value === undefined || !/^-?\d+$/.test(e.value)) throw fail(policy, `'${e.key}' expects an integer`)
  return Number(e.value)
}

/** Parses and types the action field of a policy in `scope`. */
export function parseActions(policy: string, scope: PolicyScope, text: string): ParsedActions {
  const known = ACTIONS[scope]
  const values = new Map<string, ActionValue>()
  let allActions = false
  for (const e of splitEntries(policy, text)) {
    if (e.key === '*' && !e.negated && e.value === undefined) {
      allActions = true
      continue
    }
    const type = Object.hasOwn(known, e.key) ? known[e.key] : undefined
    if (type === undefined) throw fail(policy, `unknown action '${e.key}' in scope '${scope}'`)
    if (values.has(e.key)) throw fail(policy, `action '${e.key}' is given twice`)
    values.set(e.key, type === 'bool' ? typeBool(e) : type === 'int' ? typeInt(policy, e) : typeString(policy, e))
  }
  if (!allActions && values.size === 0) throw fail(policy, 'no action given')
  return { values, allActions }
}

/** §4.5: `"  one   two ,"` → `['one', 'two']` (split on whitespace and commas, empties dropped). */
export function splitProviderList(value: string): string[] {
  return value.split(/[\s,]+/).filter((name) => name !== '')
}
