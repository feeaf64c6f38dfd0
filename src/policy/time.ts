/**
 * The `time` field (§4.6): `;`-separated conditions of six cron-like fields
 * `min hour dom month dow year`, evaluated in server local time. A field is `*`, a number, a name
 * (months `jan`…`dec`, weekdays `sun`…`sat`), a range `a-b`, a list `a,b-c`, or `*\/n`.
 *
 * Choices: `*\/n` matches values divisible by n (LinOTP's pycron rule, so `*\/2` in the day field
 * means even days, not 1,3,5 as in classic cron). Day of week 0 and 7 are Sunday; a range may end
 * on Sunday (`fri-sun`, `5-7`). A lone `*` condition means always; a condition prefixed `!`/`-`
 * excludes (as in LinOTP): a matching exclusion makes the policy inactive at that time, even next
 * to `*` (LinOTP lets `*` win; we let the exclusion win, as in the other condition lists).
 */
import { fail } from './users.js'

type Predicate = (value: number) => boolean

interface FieldSpec {
  label: string
  min: number
  max: number
  names?: readonly string[]
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']

const FIELDS: readonly FieldSpec[] = [
  { label: 'minute', min: 0, max: 59 },
  { label: 'hour', min: 0, max: 23 },
  { label: 'day of month', min: 1, max: 31 },
  { label: 'month', min: 1, max: 12, names: MONTHS },
  { label: 'day of week', min: 0, max: 7, names: DAYS },
  { label: 'year', min: 1970, max: 9999 },
]

function parseValue(policy: string, spec: FieldSpec, text: string): number {
  const named = spec.names?.indexOf(text.toLowerCase()) ?? -1
  if (named >= 0) return spec.label === 'month' ? named + 1 : named
  const n = /^\d+$/.test(text) ? Number(text) : NaN
  if (!(n >= spec.min && n <= spec.max)) {
    throw fail(policy, 'time', `${spec.label} '${text}' is not in ${spec.min}-${spec.max}`)
  }
  return n
}

function compileField(policy: string, spec: FieldSpec, text: string): Predicate {
  const isDow = spec.label === 'day of week'
  const parts: Predicate[] = text.split(',').map((part) => {
    if (part === '*') return () => true
    const step = /^\*\/(\d+)$/.exec(part)
    if (step !== null) {
      const n = Number(step[1])
      if (n < 1) throw fail(policy, 'time', `${spec.label} step '${part}' must be at least 1`)
      // Sunday is 0 (divisible by every step), as in LinOTP.
      return (v) => v % n === 0
    }
    const dash = part.indexOf('-')
    if (dash > 0) {
      const lo = parseValue(policy, spec, part.slice(0, dash))
      let hi = parseValue(policy, spec, part.slice(dash + 1))
      if (isDow && hi === 0 && lo > 0) hi = 7 // `fri-sun`
      if (hi < lo) throw fail(policy, 'time', `${spec.label} range '${part}' runs backwards`)
      return isDow ? (v) => (v >= lo && v <= hi) || (v === 0 && hi === 7) : (v) => v >= lo && v <= hi
    }
    const one = parseValue(policy, spec, part)
    return isDow && one === 7 ? (v) => v === 0 : (v) => v === one
  })
  return (v) => parts.some((p) => p(v))
}

/** Compiles a time field; `isActive(now)` tells whether the policy applies at `now`. */
export function compileTime(policy: string, text: string): (now: Date) => boolean {
  const conds = text
    .split(';')
    .map((c) => c.trim())
    .filter((c) => c !== '')
  if (conds.length === 0) return () => true
  const compiled = conds.map((raw) => {
    if (raw === '*') return { negated: false, preds: [] as Predicate[] } // always; exclusions still apply
    const negated = raw[0] === '!' || raw[0] === '-'
    const fields = (negated ? raw.slice(1) : raw).trim().split(/\s+/)
    if (fields.length !== 6) {
      throw fail(policy, 'time', `'${raw}' needs 6 fields (min hour dom month dow year), got ${fields.length}`)
    }
    const preds = fields.map((f, i) => compileField(policy, FIELDS[i] as FieldSpec, f))
    return { negated, preds }
  })
  return (now) => {
    const values = [now.getMinutes(), now.getHours(), now.getDate(), now.getMonth() + 1, now.getDay(), now.getFullYear()]
    let active = false
    for (const c of compiled) {
      if (!c.preds.every((p, i) => p(values[i] ?? -1))) continue
      if (c.negated) return false
      active = true
    }
    return active
  }
}
