/**
 * The JSON payload of RestSMSProvider: LinOTP's PAYLOAD template, SMS_TEXT_KEY / SMS_PHONENUMBER_KEY
 * templates and its path writer (`a`, `a.b`, `a[0].b`, `a.1`), spec §3.5.
 *
 * Substitution happens inside the parsed JSON values, on a fresh copy per send, and the body is
 * `JSON.stringify` of the result: a phone number or an SMS text can never change the payload's
 * structure, whatever quotes, backslashes or `<phone>` it contains. Objects are built without a
 * prototype, so a PAYLOAD key or path step named `__proto__` is an ordinary key and never reaches
 * `Object.prototype`.
 */
import { randomBytes } from 'node:crypto'
import { ConfigError } from '../../errors.js'
import { describeType } from '../config-values.js'

/** A JSON value as PAYLOAD holds it. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | JsonObject
/** A JSON object (null prototype). */
export interface JsonObject {
  readonly [key: string]: JsonValue
}

/** Everything a send needs to build its body; validated and frozen at config load. */
export interface PayloadPlan {
  /** The template, deep-frozen. */
  readonly payload: JsonObject
  /** SMS_TEXT_KEY as written: the top-level key of the text template and the path written. */
  readonly textKey: string
  readonly textPath: readonly string[]
  readonly phoneKey: string
  readonly phonePath: readonly string[]
}

/** Deepest nesting accepted in PAYLOAD (the config is at most 64 KiB anyway). */
const MAX_DEPTH = 64
const INDEX = /^\d+$/
const PATH_HELP = 'use a, a.b, a[0].b or a.1'

/**
 * Validates PAYLOAD and both paths once and proves with a trial build that every later build
 * succeeds: the structure of the result never depends on the phone or the text.
 * @throws ConfigError naming PAYLOAD, SMS_TEXT_KEY or SMS_PHONENUMBER_KEY.
 */
export function compilePayload(
  rawPayload: unknown,
  textKey: string,
  phoneKey: string,
  warn: (message: string) => void,
): PayloadPlan {
  const payload = readPayload(rawPayload)
  const textPath = parsePath(textKey, 'SMS_TEXT_KEY')
  const phonePath = parsePath(phoneKey, 'SMS_PHONENUMBER_KEY')
  const shorter = Math.min(textPath.length, phonePath.length)
  if (textPath.slice(0, shorter).every((step, i) => step === phonePath[i])) {
    throw new ConfigError(
      textPath.length === phonePath.length
        ? 'SMS_TEXT_KEY and SMS_PHONENUMBER_KEY must differ'
        : `SMS_TEXT_KEY '${textKey}' and SMS_PHONENUMBER_KEY '${phoneKey}' overlap: one would be written inside the other`,
    )
  }
  const plan: PayloadPlan = Object.freeze({
    payload,
    textKey,
    textPath: Object.freeze(textPath),
    phoneKey,
    phonePath: Object.freeze(phonePath),
  })

  // Trial build with a random text: the path writer's errors surface here, at load, and a phone
  // path that lands on the text (e.g. an index that the text's append made valid) is caught.
  const marker = `sms-otp-${randomBytes(8).toString('hex')}`
  const trial = buildPayload(plan, '+10000000000', marker)
  if (!JSON.stringify(trial).includes(marker)) {
    throw new ConfigError(`SMS_PHONENUMBER_KEY '${phoneKey}' overwrites the SMS text written at SMS_TEXT_KEY '${textKey}'`)
  }
  warnTemplateAtPath(payload, textPath, textKey, 'SMS_TEXT_KEY', '<message>', 'SMS text', warn)
  warnTemplateAtPath(payload, phonePath, phoneKey, 'SMS_PHONENUMBER_KEY', '<phone>', 'phone number', warn)
  for (const [where, placeholder] of findPlaceholders(trial, [])) {
    warn(`PAYLOAD${where} contains ${placeholder}, which is sent literally: placeholders are replaced only in the value of ${placeholder === '<phone>' ? 'SMS_PHONENUMBER_KEY' : 'SMS_TEXT_KEY'}`)
  }
  return plan
}

/**
 * The body of one send (LinOTP `_submitMessage`): the text template `PAYLOAD[SMS_TEXT_KEY]` (plain
 * top-level key) gets `<message>` replaced, or the bare text when it has none, written at the text
 * path; then the phone template `PAYLOAD[SMS_PHONENUMBER_KEY]` (a string with `<phone>`, or a list
 * whose string items with `<phone>` are substituted) or the bare phone, written at the phone path.
 */
export function buildPayload(plan: PayloadPlan, phone: string, text: string): JsonObject {
  const body = clone(plan.payload) as Record<string, JsonValue>
  const textTemplate = ownValue(plan.payload, plan.textKey)
  const smsText = typeof textTemplate === 'string' && textTemplate.includes('<message>') ? replaceAll(textTemplate, '<message>', text) : text
  writeAtPath(body, plan.textPath, smsText, 'SMS_TEXT_KEY', plan.textKey)
  // The phone template comes from the template, not from the body the text was written into,
  // so an SMS text can never become a phone template.
  writeAtPath(body, plan.phonePath, applyPhoneTemplate(ownValue(plan.payload, plan.phoneKey), phone), 'SMS_PHONENUMBER_KEY', plan.phoneKey)
  return body
}

/** LinOTP `_apply_phone_template`. */
export function applyPhoneTemplate(template: JsonValue | undefined, phone: string): JsonValue {
  if (typeof template === 'string' && template.includes('<phone>')) return replaceAll(template, '<phone>', phone)
  if (Array.isArray(template)) {
    return (template as readonly JsonValue[]).map((item) =>
      typeof item === 'string' && item.includes('<phone>') ? replaceAll(item, '<phone>', phone) : clone(item),
    )
  }
  return phone
}

/**
 * Splits a path at `.` and `[n]` (LinOTP `json_replace`): `a[0].b` → `a`, `0`, `b`. Every dotted
 * part needs a name; brackets hold digits only. Numeric parts index a list, or name a key of an
 * object.
 */
export function parsePath(path: string, key: string): string[] {
  const steps: string[] = []
  for (const segment of path.split('.')) {
    const m = /^([^[\]]+)((?:\[\d+\])*)$/.exec(segment)
    if (m === null) throw new ConfigError(`${key}: '${path}' is not a valid path (${PATH_HELP})`)
    steps.push(m[1] as string)
    for (const index of (m[2] as string).matchAll(/\[(\d+)\]/g)) steps.push(index[1] as string)
  }
  return steps
}

/**
 * Writes `value` at `steps` (LinOTP semantics): every step but the last must exist; on a list the
 * last step is an index that replaces, or appends when it is ≥ the length; on an object it sets
 * the key.
 */
function writeAtPath(root: Record<string, JsonValue>, steps: readonly string[], value: JsonValue, key: string, path: string): void {
  const fail = (problem: string) => new ConfigError(`${key}: cannot write at '${path}' in PAYLOAD: ${problem}`)
  let node: JsonValue = root
  for (let i = 0; i < steps.length - 1; i++) {
    const step = steps[i] as string
    const next = child(node, step)
    if (next === undefined) throw fail(missing(node, steps.slice(0, i), step))
    node = next
  }
  const last = steps[steps.length - 1] as string
  if (Array.isArray(node)) {
    if (!INDEX.test(last)) throw fail(`${where(steps.slice(0, -1))} is a list, '${last}' is not an index`)
    const list = node as JsonValue[]
    const index = Number(last)
    if (index >= list.length) list.push(value)
    else list[index] = value
  } else if (node !== null && typeof node === 'object') {
    ;(node as Record<string, JsonValue>)[last] = value
  } else {
    throw fail(`${where(steps.slice(0, -1))} is ${describeType(node)}, not an object or a list`)
  }
}

function child(node: JsonValue, step: string): JsonValue | undefined {
  if (Array.isArray(node)) return INDEX.test(step) ? (node as readonly JsonValue[])[Number(step)] : undefined
  if (node !== null && typeof node === 'object') return ownValue(node as JsonObject, step)
  return undefined
}

function missing(node: JsonValue, before: readonly string[], step: string): string {
  if (Array.isArray(node)) {
    return INDEX.test(step)
      ? `${where(before)} has no element ${step} (it has ${node.length})`
      : `${where(before)} is a list, '${step}' is not an index`
  }
  if (node !== null && typeof node === 'object') return `${where(before)} has no key '${step}'`
  return `${where(before)} is ${describeType(node)}, not an object or a list`
}

function where(steps: readonly string[]): string {
  return steps.length === 0 ? 'PAYLOAD' : `'${steps.map((s, i) => (i > 0 && INDEX.test(s) ? `[${s}]` : `${i > 0 ? '.' : ''}${s}`)).join('')}'`
}

function ownValue(obj: JsonObject, key: string): JsonValue | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined
}

/** `String.replaceAll` with a string replacement would expand `$&`, `$'`…; split/join does not. */
function replaceAll(template: string, placeholder: string, value: string): string {
  return template.split(placeholder).join(value)
}

/** PAYLOAD as an object or as a JSON string holding one; returned deep-frozen. */
function readPayload(raw: unknown): JsonObject {
  let value = raw
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw)
    } catch {
      // The text may hold fixed credentials or numbers: never quote it back.
      throw new ConfigError('PAYLOAD: the string is not valid JSON')
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`PAYLOAD: expected a JSON object, got ${describeType(value)}`)
  }
  return freeze(toJson(value, 'PAYLOAD', 0)) as JsonObject
}

/** Copies a parsed (or programmatically given) value, refusing what JSON cannot carry. */
function toJson(value: unknown, at: string, depth: number): JsonValue {
  if (depth > MAX_DEPTH) throw new ConfigError(`PAYLOAD: nested deeper than ${MAX_DEPTH} levels`)
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ConfigError(`${at}: not a JSON number`)
    return value
  }
  if (Array.isArray(value)) return value.map((v, i) => toJson(v, `${at}[${i}]`, depth + 1))
  if (typeof value === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    const out: Record<string, JsonValue> = Object.create(null)
    for (const [k, v] of Object.entries(value)) out[k] = toJson(v, `${at}.${k}`, depth + 1)
    return out
  }
  throw new ConfigError(`${at}: ${typeof value} is not a JSON value`)
}

function clone(value: JsonValue): JsonValue {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return (value as readonly JsonValue[]).map(clone)
  const out: Record<string, JsonValue> = Object.create(null)
  for (const [k, v] of Object.entries(value)) out[k] = clone(v)
  return out
}

function freeze(value: JsonValue): JsonValue {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) freeze(v)
    Object.freeze(value)
  }
  return value
}

/** LinOTP reads templates from the top-level key only; say so when a path points at a template. */
function warnTemplateAtPath(
  payload: JsonObject,
  steps: readonly string[],
  path: string,
  key: string,
  placeholder: string,
  what: string,
  warn: (message: string) => void,
): void {
  if (steps.length < 2) return
  let node: JsonValue | undefined = payload
  for (const step of steps) node = node === undefined ? undefined : child(node, step)
  const isTemplate =
    (typeof node === 'string' && node.includes(placeholder) && node !== placeholder) ||
    (Array.isArray(node) && placeholder === '<phone>')
  if (isTemplate) {
    warn(`${key}: the template at '${path}' is not used: templates are read from a top-level PAYLOAD key only (as in LinOTP), so the bare ${what} is written there`)
  }
}

/** Paths of string values that still contain `<phone>` or `<message>`. */
function findPlaceholders(value: JsonValue, at: readonly string[]): Array<[string, string]> {
  if (typeof value === 'string') {
    const label = at.map((s) => (INDEX.test(s) ? `[${s}]` : `.${s}`)).join('')
    return ['<phone>', '<message>'].filter((p) => value.includes(p)).map((p) => [label, p])
  }
  if (value === null || typeof value !== 'object') return []
  return Object.entries(value).flatMap(([k, v]) => findPlaceholders(v, [...at, k]))
}
