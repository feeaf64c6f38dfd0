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
  const where = pos ? lineColumn(text, Number(pos[1])) : ''
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
