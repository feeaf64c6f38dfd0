/**
 * The regular expressions of `#attr~=regex` user conditions, compiled once when the policy is
 * written. The value tested comes from the user's directory entry, which a user may be able to
 * shape (a self-service "description" field), so a pattern that backtracks catastrophically would
 * let one login burn seconds of CPU. JavaScript has no linear-time engine without a runtime flag,
 * so the pattern is bounded statically instead:
 *
 * - at most {@link MAX_ATTRIBUTE_REGEX} characters of source;
 * - no repeated group that itself contains a quantifier or ambiguous alternatives (`(a+)+`,
 *   `(a|ab)*`): the exponential cases. Alternatives are ambiguous unless they are plain literals
 *   none of which is a prefix of another (`(sales|support)` is fine);
 * - at most {@link MAX_REGEX_QUANTIFIERS} variable-length quantifiers (`*`, `+`, `?`, `{n,m}`):
 *   each one raises the polynomial degree of the worst case (`\w+\w+\w+y` takes seconds on 256
 *   characters, `\w+\w+y` tens of milliseconds);
 * - ambiguous alternations multiply: at most {@link MAX_REGEX_BRANCHES} combinations without
 *   variable quantifiers, 16 with one, none with two (four `(a|a|a|a)` groups before `[a-z]+x`
 *   take a quarter of a second on 256 characters);
 * - no backreferences (`\1`, `\k<name>`);
 * - values longer than {@link MAX_ATTRIBUTE_VALUE} characters are not tested (no match).
 */
import { ConfigError } from '../errors.js'

/** Longest accepted `~=` pattern, in characters. */
export const MAX_ATTRIBUTE_REGEX = 256
/** Longest attribute value a `~=` pattern is tested against; longer values do not match. */
export const MAX_ATTRIBUTE_VALUE = 256
/** Most variable-length quantifiers one `~=` pattern may contain. */
export const MAX_REGEX_QUANTIFIERS = 2
/** Most combinations of ambiguous alternatives (product of their branch counts) without variable quantifiers. */
export const MAX_REGEX_BRANCHES = 256

interface Frame {
  /** The group contains a variable-length quantifier (directly or in a nested group). */
  quantified: boolean
  /** The group contains an ambiguous alternation (directly or in a nested group). */
  ambiguous: boolean
  /** Source index where its current branch starts. */
  branchStart: number
  /** Its branches so far: the literal text, or undefined when a branch is not a plain literal. */
  branches: (string | undefined)[]
}

const QUANTIFIER = /^(?:[*+?]|\{(\d+)(?:(,)(\d*))?\})/
/** A branch of plain characters and escaped punctuation only. */
const LITERAL = /^(?:[^\\^$.|?*+()[\]{}]|\\[^A-Za-z0-9])*$/

/**
 * Alternatives that can match at the same position (one is a prefix of another, or is not a
 * plain literal) make the engine try each: `(sales|support)` is unambiguous, `(a|ab)` is not.
 */
function ambiguity(branches: (string | undefined)[]): number {
  if (branches.length < 2) return 1
  const texts = branches.map((b) => b?.replace(/\\(.)/g, '$1'))
  const literal = texts.every((t, i) => t !== undefined && texts.every((u, j) => i === j || u === undefined || !u.startsWith(t)))
  return literal ? 1 : branches.length
}

/** The limit on combinations of ambiguous alternatives, by number of variable-length quantifiers. */
const WAYS_FOR_QUANTIFIERS = [MAX_REGEX_BRANCHES, 16, 1]

function newFrame(branchStart: number): Frame {
  return { quantified: false, ambiguous: false, branchStart, branches: [] }
}

function endBranch(frame: Frame, source: string, end: number): void {
  const text = source.slice(frame.branchStart, end)
  frame.branches.push(LITERAL.test(text) ? text : undefined)
}

/** What is wrong with `source` (already known to be valid syntax), or undefined. */
function riskOf(source: string): string | undefined {
  const stack: Frame[] = [newFrame(0)]
  let variable = 0
  let ways = 1
  let lastGroup: Frame | undefined // the group that just closed, when the next token may quantify it
  let i = 0
  while (i < source.length) {
    const c = source[i] as string
    const top = stack[stack.length - 1] as Frame
    const q = i > 0 ? QUANTIFIER.exec(source.slice(i)) : null
    if (q) {
      const [text, min, comma, max] = q
      const fixed = text[0] === '{' && (comma === undefined || max === String(Number(min)))
      const upper = text === '?' ? 1 : text[0] === '{' ? (comma === undefined ? Number(min) : max === '' ? Infinity : Number(max)) : Infinity
      if (lastGroup && upper > 1 && (lastGroup.quantified || lastGroup.ambiguous)) {
        return 'a repeated group may not contain a quantifier or alternatives that can match the same text'
      }
      if (!fixed) {
        variable++
        top.quantified = true
      }
      i += text.length
      if (source[i] === '?') i++ // lazy
      lastGroup = undefined
      continue
    }
    lastGroup = undefined
    if (c === '\\') {
      const next = source[i + 1] ?? ''
      if (/[1-9]/.test(next) || next === 'k') return 'backreferences are not allowed'
      i += 2
    } else if (c === '[') {
      // Inside a class only an escape or the closing bracket is special (syntax already checked).
      i++
      while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1
      i++
    } else if (c === '(') {
      const prefix = /^\((?:\?(?::|=|!|<=|<!|<[^>]*>))?/.exec(source.slice(i))
      i += prefix ? prefix[0].length : 1
      stack.push(newFrame(i))
    } else if (c === ')') {
      const closed = stack.pop() as Frame
      const parent = stack[stack.length - 1] as Frame
      endBranch(closed, source, i)
      const n = ambiguity(closed.branches)
      ways *= n
      parent.quantified ||= closed.quantified
      closed.ambiguous ||= n > 1
      parent.ambiguous ||= closed.ambiguous
      lastGroup = closed
      i++
    } else {
      if (c === '|') {
        endBranch(top, source, i)
        top.branchStart = i + 1
      }
      i++
    }
  }
  const root = stack[0] as Frame
  endBranch(root, source, source.length)
  ways *= ambiguity(root.branches)
  if (variable > MAX_REGEX_QUANTIFIERS) return `at most ${MAX_REGEX_QUANTIFIERS} variable-length quantifiers (* + ? {n,m}) are allowed`
  const allowed = WAYS_FOR_QUANTIFIERS[variable] ?? 1
  if (ways > allowed) {
    return `alternatives that can match the same text (like (a|ab)) multiply the work: at most ${allowed} combinations with ${variable} variable-length quantifier(s)`
  }
  return undefined
}

/**
 * Compiles the pattern of a `~=` condition (no flags: case-sensitive, unanchored search as in
 * LinOTP's `re.search`). Throws a ConfigError (ERR_OTP_POLICY) naming the policy.
 */
export function compileAttributeRegex(policy: string, source: string): RegExp {
  const fail = (problem: string): ConfigError =>
    new ConfigError(`policy '${policy}': user: regular expression ${JSON.stringify(source.slice(0, 70))}: ${problem}`, 'ERR_OTP_POLICY')
  if (source.length > MAX_ATTRIBUTE_REGEX) throw fail(`longer than ${MAX_ATTRIBUTE_REGEX} characters`)
  let re: RegExp
  try {
    re = new RegExp(source)
  } catch (e) {
    throw fail(`invalid (${(e as Error).message.replace(/^Invalid regular expression: /, '')})`)
  }
  const risk = riskOf(source)
  if (risk !== undefined) throw fail(`${risk} (they can make matching take very long)`)
  return re
}

/** Tests `value` against a compiled `~=` pattern; too long a value does not match. */
export function testAttributeRegex(re: RegExp, value: string): boolean {
  return value.length <= MAX_ATTRIBUTE_VALUE && re.test(value)
}
