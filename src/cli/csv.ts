/**
 * A small RFC 4180 CSV reader and writer for the `sms-otp token` commands: fields in double
 * quotes may hold commas, quotes (doubled) and line breaks; a UTF-8 byte order mark is dropped;
 * CRLF and LF both end a record. Every record carries the line it starts on, for error reports.
 */

/** One record of a CSV text: its fields and the (1-based) line it starts on. */
export interface CsvRecord {
  readonly line: number
  readonly fields: string[]
}

/** A CSV text that cannot be read at all (an unterminated quote, a stray quote). */
export class CsvSyntaxError extends Error {
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`)
    this.name = 'CsvSyntaxError'
  }
}

/**
 * Splits `text` into records. A blank line is a record with one empty field (the caller decides
 * what it means).
 * @throws CsvSyntaxError for an unterminated quoted field or text after a closing quote
 */
export function parseCsv(text: string): CsvRecord[] {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  const records: CsvRecord[] = []
  let line = 1
  let i = 0
  const n = src.length
  while (i < n) {
    const start = line
    const fields: string[] = []
    for (;;) {
      let field = ''
      if (src[i] === '"') {
        const open = line
        i++
        for (;;) {
          if (i >= n) throw new CsvSyntaxError(open, 'a quoted field is not closed')
          const c = src[i] as string
          if (c === '"') {
            if (src[i + 1] === '"') {
              field += '"'
              i += 2
              continue
            }
            i++
            break
          }
          if (c === '\n') line++
          field += c
          i++
        }
        if (i < n && src[i] !== ',' && src[i] !== '\n' && src[i] !== '\r') throw new CsvSyntaxError(line, 'text after a closing quote (quote the whole field, double the quotes inside)')
      } else {
        while (i < n && src[i] !== ',' && src[i] !== '\n' && src[i] !== '\r') {
          if (src[i] === '"') throw new CsvSyntaxError(line, 'a quote inside an unquoted field (quote the whole field, double the quotes inside)')
          field += src[i]
          i++
        }
      }
      fields.push(field)
      if (i < n && src[i] === ',') {
        i++
        continue
      }
      break
    }
    if (src[i] === '\r') i++
    if (src[i] === '\n') i++
    line++
    records.push({ line: start, fields })
  }
  return records
}

/** One CSV field, quoted when it holds a comma, a quote, a line break or outer spaces. */
export function csvField(value: string | number | boolean | null | undefined): string {
  const s = value === null || value === undefined ? '' : String(value)
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** A CSV line (with CRLF, as RFC 4180 writes it). */
export function csvLine(values: ReadonlyArray<string | number | boolean | null | undefined>): string {
  return `${values.map(csvField).join(',')}\r\n`
}
