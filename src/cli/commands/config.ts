/**
 * `sms-otp config check FILE`: validates a sidecar config file without starting anything (no
 * database, no network) and lists every problem with its line and column, plus what each SMS text
 * costs. Exit code 1 when there is an error; warnings alone pass.
 */
import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { jsonSyntax, locateJson, positionOf, type JsonPath } from '../../providers/parse-json.js'
import { checkConfig } from '../../sidecar/config-file.js'
import { CliError, emit, jsonOption } from '../context.js'
import { lintSmsTexts, type SmsTextReport } from '../sms-lint.js'

/** One finding of `config check`, located in the file. */
export interface CheckFinding {
  readonly line: number
  readonly column: number
  /** Dotted JSON path, e.g. `providers.1.timeout`. */
  readonly path: string
  readonly message: string
}

/** The `--json` answer of `config check`. */
export interface CheckResult {
  readonly ok: boolean
  readonly file: string
  readonly errors: CheckFinding[]
  readonly warnings: CheckFinding[]
  readonly sms: Array<Omit<SmsTextReport, 'path'> & { readonly line: number; readonly column: number }>
}

/** Checks the config file at `file` (its text is never echoed: it may hold PINs and passwords). */
export async function checkConfigFile(file: string): Promise<CheckResult> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new CliError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  const locations = locateJson(text)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    const { kind } = jsonSyntax(text, err)
    const at = locations.error ?? { line: 1, column: 1 }
    return { ok: false, file, errors: [{ line: at.line, column: at.column, path: '', message: `not valid JSON: ${kind}` }], warnings: [], sms: [] }
  }
  const locate = (path: JsonPath, message: string): CheckFinding => {
    const at = positionOf(locations, path) ?? { line: 1, column: 1 }
    return { line: at.line, column: at.column, path: path.join('.'), message }
  }
  const report = checkConfig(json)
  const errors = report.errors.map((e) => locate(e.path, e.message))
  const warnings = report.warnings.map((w) => locate(w.path, w.message))
  const texts = report.checked === undefined ? [] : lintSmsTexts(report.checked)
  const sms = texts.map(({ path, ...s }) => {
    const { line, column } = locate(path, '')
    return { ...s, line, column }
  })
  for (const s of texts) {
    if (s.parts > 1) warnings.push(locate(s.path, `SMS text of ${s.source} needs ${s.parts} SMS parts (${s.length} ${s.encoding === 'UCS-2' ? 'UCS-2 characters' : 'GSM septets'} with the longest OTP, serial and transaction id)`))
  }
  return { ok: errors.length === 0, file, errors, warnings, sms }
}

export function registerConfig(program: Command): void {
  const config = program.command('config').description('work with sidecar config files')
  jsonOption(
    config
      .command('check')
      .description('validate a sidecar config file without starting anything: every error with its line, and what each SMS text costs')
      .argument('<file>', 'the JSON config file (as for serve --config)'),
  ).action(async (file: string, opts: { json?: boolean }) => {
    const result = await checkConfigFile(file)
    emit(opts, result, () => {
      const line = (kind: string, f: CheckFinding) => `${file}:${f.line}:${f.column}: ${kind}: ${f.message}`
      const sms = result.sms.map((s) => `sms ${s.source}: ${s.encoding}, ${s.length} ${s.encoding === 'UCS-2' ? 'characters' : 'septets'}, ${s.parts} part${s.parts === 1 ? '' : 's'}`)
      const summary = result.ok ? `${file}: OK${result.warnings.length ? ` (${result.warnings.length} warning${result.warnings.length === 1 ? '' : 's'})` : ''}` : `${file}: ${result.errors.length} error${result.errors.length === 1 ? '' : 's'}`
      return [...result.errors.map((e) => line('error', e)), ...result.warnings.map((w) => line('warning', w)), ...sms, summary].join('\n')
    })
    if (!result.ok) throw new CliError(`${file}: ${result.errors.length} error${result.errors.length === 1 ? '' : 's'}`)
  })
}
