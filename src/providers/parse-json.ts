/**
 * Strict parsing of a provider's config JSON, with errors that say what is wrong. LinOTP users
 * paste configs from documentation and mails: single quotes get "use double quotes", and a trailing
 * comma (as in the product document's SMPP example) is accepted with a warning.
 */
import { ConfigError } from '../errors.js'

/** Largest config accepted. */
export const MAX_CONFIG_BYTES = 64 * 1024

/**
 * Parses `text` into a plain object.
 * @param warn receives a message when the text needed a tolerated repair (trailing comma).
 * @throws ConfigError with the line and column of the problem.
 * @example parseProviderJson('{"URL": "https://gw/send",}', console.warn) // { URL: 'https://gw/send' }
 */
export function parseProviderJson(text: string, warn: (message: string) => void = () => {}): Record<string, unknown> {
  if (typeof text !== 'string' || text.trim() === '') throw new ConfigError('missing configuration')
  if (Buffer.byteLength(text, 'utf8') > MAX_CONFIG_BYTES) throw new ConfigError(`configuration larger than ${MAX_CONFIG_BYTES} bytes`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (first) {
    const repaired = stripTrailingCommas(text)
    if (repaired !== text) {
      try {
        value = JSON.parse(repaired)
        warn('trailing comma in provider configuration ignored')
      } catch {
        // fall through to the error for the original text
      }
    }
    if (value === undefined) throw explain(text, first)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError('provider configuration must be a JSON object ({ "KEY": "value", ... })')
  }
  return value as Record<string, unknown>
}

/** Removes commas that stand right before `}` or `]`, outside strings. */
function stripTrailingCommas(text: string): string {
  let out = ''
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string
    if (inString) {
      out += ch
      if (ch === '\\') out += text[++i] ?? ''
      else if (ch === '"') inString = false
      continue
    }
    if (ch === '"') inString = true
    if (ch === ',') {
      const rest = text.slice(i + 1).trimStart()
      if (rest.startsWith('}') || rest.startsWith(']')) continue
    }
    out += ch
  }
  return out
}

function explain(text: string, err: unknown): ConfigError {
  // Never quote the config back: it holds gateway credentials.
  const { where, kind } = jsonSyntax(text, err)
  if (hasSingleQuoteOutsideStrings(text)) {
    return new ConfigError(`invalid provider configuration${where}: use double quotes, not single quotes, around JSON names and strings`)
  }
  return new ConfigError(`invalid provider configuration${where}: ${kind}`)
}

/**
 * What went wrong in a JSON text, without quoting it: Node 20 embeds a snippet of the input in
 * some messages ("Unexpected token ', "..." is not valid JSON"), and the text may hold gateway
 * credentials, PINs or password hashes. `where` is ` at line L, column C` when the parser says.
 */
export function jsonSyntax(text: string, err: unknown): { where: string; kind: string } {
  const message = err instanceof Error ? err.message : String(err)
  const pos = /position (\d+)/.exec(message)
  // Node 20 leaves the position out of some messages ("Unexpected token 'x', "…" is not valid
  // JSON"): the locator finds it then.
  const at = pos ? Number(pos[1]) : locateJson(text).error?.offset
  const where = at === undefined ? '' : lineColumn(text, at)
  const kind = /^Unexpected end/.test(message)
    ? 'unexpected end of input (a missing } or "?)'
    : /^Unexpected token/.test(message)
      ? 'unexpected character'
      : message.replace(/ in JSON at position \d+.*$/s, '').replace(/,? ".*$/s, '').slice(0, 80)
  return { where, kind }
}

/** True when a `'` stands outside a double-quoted string, i.e. where JSON expects `"`. */
function hasSingleQuoteOutsideStrings(text: string): boolean {
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (inString) {
      if (ch === '\\') i++
      else if (ch === '"') inString = false
    } else if (ch === '"') inString = true
    else if (ch === "'") return true
  }
  return false
}

function lineColumn(text: string, at: number): string {
  const before = text.slice(0, at)
  const line = before.split('\n').length
  const column = at - before.lastIndexOf('\n')
  return ` at line ${line} column ${column}`
}

/** Where something is in a JSON text: 1-based line and column, and the 0-based offset. */
export interface JsonPosition {
  readonly line: number
  readonly column: number
  readonly offset: number
}

/** A path into a JSON value: object keys and array indexes, outermost first. */
export type JsonPath = ReadonlyArray<string | number>

/** The positions {@link locateJson} found. */
export interface JsonLocations {
  /** Position of the key of an object member (or of an array element's value), by {@link pathKey}. */
  readonly positions: ReadonlyMap<string, JsonPosition>
  /** The first syntax error, if the text is not JSON (never with the text around it). */
  readonly error?: JsonPosition & { readonly kind: string }
}

/** The map key of `path` in {@link JsonLocations.positions}. */
export function pathKey(path: JsonPath): string {
  return JSON.stringify(path)
}

/**
 * The position of `path`, or of its nearest ancestor that was found (a missing key is reported
 * where its object is). Undefined only when not even the root was found.
 */
export function positionOf(locations: JsonLocations, path: JsonPath): JsonPosition | undefined {
  for (let n = path.length; n >= 0; n--) {
    const found = locations.positions.get(pathKey(path.slice(0, n)))
    if (found !== undefined) return found
  }
  return undefined
}

/**
 * Tokenizes a JSON text and records where each key path starts, so a schema error on
 * `providers.1.timeout` can name line and column. Strict JSON (RFC 8259); stops at the first
 * syntax error and reports its position. Duplicate keys: the last one wins, as in `JSON.parse`.
 */
export function locateJson(text: string): JsonLocations {
  const positions = new Map<string, JsonPosition>()
  const lineStarts = [0]
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1)
  const posAt = (offset: number): JsonPosition => {
    let lo = 0
    let hi = lineStarts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if ((lineStarts[mid] as number) <= offset) lo = mid
      else hi = mid - 1
    }
    return { line: lo + 1, column: offset - (lineStarts[lo] as number) + 1, offset }
  }
  let i = 0
  class Stop extends Error {
    constructor(readonly at: number, readonly kind: string) {
      super(kind)
    }
  }
  const fail = (kind?: string): never => {
    throw new Stop(i, kind ?? (i >= text.length ? 'unexpected end of input (a missing } or "?)' : 'unexpected character'))
  }
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++
  }
  const string = (): string => {
    const start = i
    i++ // opening quote
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i)
      if (c < 0x20) fail('control character in a string')
      if (text[i] === '\\') {
        i++
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail('bad \\u escape')
          i += 4
        } else if (i >= text.length || !'"\\/bfnrt'.includes(text[i] as string)) fail('bad escape in a string')
      }
      i++
    }
    if (i >= text.length) fail('unterminated string')
    i++
    return JSON.parse(text.slice(start, i)) as string
  }
  const value = (path: Array<string | number>): void => {
    ws()
    const ch = text[i]
    if (ch === '{') {
      i++
      ws()
      if (text[i] === '}') {
        i++
        return
      }
      for (;;) {
        ws()
        if (text[i] !== '"') fail(text[i] === "'" ? 'use double quotes, not single quotes' : undefined)
        const keyAt = i
        const key = string()
        positions.set(pathKey([...path, key]), posAt(keyAt))
        ws()
        if (text[i] !== ':') fail("expected ':' after a name")
        i++
        value([...path, key])
        ws()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === '}') {
          i++
          return
        }
        fail("expected ',' or '}'")
      }
    }
    if (ch === '[') {
      i++
      ws()
      if (text[i] === ']') {
        i++
        return
      }
      for (let n = 0; ; n++) {
        ws()
        positions.set(pathKey([...path, n]), posAt(i))
        value([...path, n])
        ws()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === ']') {
          i++
          return
        }
        fail("expected ',' or ']'")
      }
    }
    if (ch === '"') {
      string()
      return
    }
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400))
    if (literal === null) fail()
    i += (literal as RegExpExecArray)[0].length
  }
  try {
    ws()
    positions.set(pathKey([]), posAt(i))
    value([])
    ws()
    if (i < text.length) fail('unexpected text after the JSON value')
    return { positions }
  } catch (err) {
    if (!(err instanceof Stop)) throw err
    return { positions, error: { ...posAt(Math.min(err.at, text.length)), kind: err.kind } }
  }
}
