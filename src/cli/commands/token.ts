/**
 * `sms-otp token`: enrol from a CSV file, list, show, enable, disable, unlock, delete and export
 * tokens, on the local files or through a running sidecar's admin API (`--url`). Output never
 * holds a PIN, a seed or a full phone number, except `export` (the phone, the data being
 * exported) and `export --with-secrets` (the seeds, locally only).
 */
import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { pageTokens, tokenInfo, type TokenInfo, type TokenView } from '../../admin/tokens.js'
import { isOtpError } from '../../errors.js'
import { parseHexSeed } from '../../otp/hotp.js'
import { maskPhone, validatePhone } from '../../phone/index.js'
import { MAX_PIN_LENGTH } from '../../tokens/enroll.js'
import { AUTO_SERIAL_PREFIX } from '../../validate/autoenroll.js'
import { isDecoy } from '../../validate/decoy.js'
import { count } from '../args.js'
import { CliError, emit, targetOptions, withTarget, type Target, type TargetOptions } from '../context.js'
import { CsvSyntaxError, csvLine, parseCsv } from '../csv.js'
import { Progress } from '../progress.js'

/** Columns of an enrolment file: the first three are required. */
export const ENROL_COLUMNS = ['user', 'phone', 'realm', 'serial', 'pin', 'otpkey'] as const
type Column = (typeof ENROL_COLUMNS)[number]
const REQUIRED: readonly Column[] = ['user', 'phone', 'realm']
const SERIAL = /^[A-Za-z0-9_.:-]{1,64}$/
/** Rows enrolled at once (the store commits them in groups). */
const PARALLEL = 8
/** Page size when listing everything through `--url`. */
const REMOTE_PAGE = 10_000

/** A row of the enrolment file that passed validation. */
interface EnrolRow {
  readonly line: number
  readonly user: string
  readonly realm: string
  readonly phone: string
  readonly serial?: string | undefined
  readonly pin?: string | undefined
  readonly otpkey?: string | undefined
}

/** A row that did not (each problem names its column). */
interface BadRow {
  readonly line: number
  readonly errors: string[]
}

/** A token as the CLI prints it: the phone masked. */
interface TokenLine {
  readonly serial: string
  readonly user: string | null
  readonly realm: string | null
  readonly phone: string
  readonly active: boolean
  readonly failcount: number
  readonly maxfail: number
  readonly counter: number
  readonly otplen: number
  readonly hashlib: string
  readonly description: string
  readonly createdAt?: number
}

export function registerToken(program: Command): void {
  const token = program.command('token').description('enrol, list, change and export SMS tokens (local files or --url)')

  targetOptions(token.command('enroll').alias('enrol'))
    .description('enrol tokens from a CSV file (columns: user, phone, realm; optional serial, pin, otpkey); users who have a token are skipped')
    .requiredOption('--csv <file>', 'the CSV file (header row first)')
    .option('--dry-run', 'validate and report what would be enrolled; write nothing')
    .option('--no-progress', 'no progress display on stderr')
    .action(async (opts: TargetOptions & { csv: string; dryRun?: boolean; progress: boolean }) => {
      await enrol(opts)
    })

  targetOptions(token.command('list'))
    .description('list tokens, ordered by serial (phone numbers masked)')
    .option('--user <login>', 'tokens of this user')
    .option('--realm <realm>', 'tokens in this realm (with --user: the user\'s realm)')
    .option('--limit <n>', 'at most this many (1-10000)', count, 100)
    .option('--offset <n>', 'skip this many first', count, 0)
    .action(async (opts: TargetOptions & { user?: string; realm?: string; limit: number; offset: number }) => {
      if (opts.limit < 1 || opts.limit > 10_000) throw new CliError('--limit: expected 1 to 10000')
      const page = await withTarget(opts, (t) => listTokens(t, { user: opts.user, realm: opts.realm }, opts.limit, opts.offset))
      const tokens = page.tokens.map(tokenLine)
      emit(opts, { total: page.total, offset: opts.offset, limit: opts.limit, tokens }, () => {
        if (tokens.length === 0) return page.total === 0 ? 'no tokens' : `no tokens at offset ${opts.offset} (${page.total} in all)`
        const rows = tokens.map((t) => [t.serial, t.user ?? '-', t.realm ?? '-', t.phone, t.active ? 'active' : 'disabled', `${t.failcount}/${t.maxfail}`])
        return `${table([['SERIAL', 'USER', 'REALM', 'PHONE', 'STATE', 'FAILS'], ...rows])}${opts.offset + 1}-${opts.offset + tokens.length} of ${page.total}\n`
      })
    })

  targetOptions(token.command('show').argument('<serial>'))
    .description('one token (phone number masked)')
    .action(async (serial: string, opts: TargetOptions) => {
      const found = await withTarget(opts, (t) => listTokens(t, { serial }, 1, 0))
      const t = found.tokens[0]
      if (t === undefined) throw new CliError(`no token with serial ${JSON.stringify(serial.slice(0, 64))}`)
      const line = tokenLine(t)
      emit(opts, line, () => Object.entries(line).map(([k, v]) => `${k}: ${k === 'createdAt' && typeof v === 'number' ? new Date(v).toISOString() : String(v ?? '-')}`).join('\n'))
    })

  const actions = [
    ['disable', 'disable', 'disabled', 'disable a token (validate skips it)'],
    ['enable', 'enable', 'enabled', 'enable a token'],
    ['unlock', 'reset', 'unlocked (failcount 0)', 'reset the failcount of a token'],
    ['delete', 'remove', 'deleted', 'delete a token and its open challenges'],
  ] as const
  for (const [name, op, done, description] of actions) {
    targetOptions(token.command(name).argument('<serial>'))
      .description(description)
      .action(async (serial: string, opts: TargetOptions) => {
        const n = await withTarget(opts, async (t) => {
          if (t.kind === 'remote') return Number((await t.admin.call<number>(`/admin/${op}`, { serial })).value)
          return t.otp.tokens[op]({ serial })
        })
        emit(opts, { serial, action: name, count: n }, () => `${serial}: ${done}`)
      })
  }

  targetOptions(token.command('export'))
    .description('every token as CSV (or --json); no seed and no PIN hash unless --with-secrets')
    .option('--with-secrets', 'add the seed (otpkey, hex) and the PIN hash; local files only, never over --url')
    .action(async (opts: TargetOptions & { withSecrets?: boolean }) => {
      if (opts.withSecrets === true && opts.url !== undefined) throw new CliError('--with-secrets works on the local files only: the admin API never hands out seeds')
      const rows = await withTarget(opts, (t) => exportTokens(t, opts.withSecrets === true))
      if (opts.json === true) {
        emit(opts, rows, () => '')
        return
      }
      const columns = Object.keys(rows[0] ?? exportRow(exampleInfo(), opts.withSecrets === true ? { otpkey: '', pinhash: '' } : undefined))
      process.stdout.write(csvLine(columns))
      for (const r of rows) process.stdout.write(csvLine(columns.map((c) => r[c] as string | number | boolean | null)))
    })
}

// ---------------------------------------------------------------------------------------------
// enroll

async function enrol(opts: TargetOptions & { csv: string; dryRun?: boolean; progress: boolean }): Promise<void> {
  let text: string
  try {
    text = await readFile(opts.csv, 'utf8')
  } catch (err) {
    throw new CliError(`--csv: cannot read ${opts.csv}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  const report = await withTarget(opts, async (target) => {
    const realms = await realmNames(target)
    const { good, bad, rows } = validateCsv(text, realms)
    const existing = await existingOwners(target)
    const toEnrol: EnrolRow[] = []
    const skipped: Array<{ line: number; user: string; realm: string; reason: string }> = []
    for (const r of good) {
      const reason = existing.users.has(ownerKey(r.user, r.realm)) ? 'user has a token' : r.serial !== undefined && existing.serials.has(r.serial) ? 'serial exists' : undefined
      if (reason === undefined) toEnrol.push(r)
      else skipped.push({ line: r.line, user: r.user, realm: r.realm, reason })
    }
    const failed: BadRow[] = []
    let enrolled = 0
    if (opts.dryRun !== true && toEnrol.length > 0) {
      const progress = opts.progress ? new Progress({ verb: 'enrolled', total: toEnrol.length }) : undefined
      let next = 0
      const worker = async (): Promise<void> => {
        while (next < toEnrol.length) {
          const r = toEnrol[next++] as EnrolRow
          try {
            await enrolOne(target, r)
            enrolled++
          } catch (err) {
            if (isOtpError(err, 'ERR_OTP_TOKEN_EXISTS') || (err instanceof CliError && /ERR_OTP_TOKEN_EXISTS/.test(err.message))) {
              skipped.push({ line: r.line, user: r.user, realm: r.realm, reason: 'user has a token' })
            } else {
              failed.push({ line: r.line, errors: [err instanceof Error ? err.message : String(err)] })
            }
          }
          progress?.tick()
        }
      }
      await Promise.all(Array.from({ length: Math.min(PARALLEL, toEnrol.length) }, worker))
      progress?.finish()
    }
    failed.sort((a, b) => a.line - b.line)
    skipped.sort((a, b) => a.line - b.line)
    return { rows, valid: good.length, bad, enrol: toEnrol, enrolled, skipped, failed }
  })
  const problems = [...report.bad, ...report.failed].sort((a, b) => a.line - b.line)
  for (const p of problems) for (const e of p.errors) process.stderr.write(`line ${p.line}: ${e}\n`)
  const dry = opts.dryRun === true
  const data = {
    file: opts.csv,
    dryRun: dry,
    rows: report.rows,
    valid: report.valid,
    invalid: report.bad,
    ...(dry ? { wouldEnroll: report.enrol.map((r) => ({ line: r.line, user: r.user, realm: r.realm, phone: maskPhone(r.phone), ...(r.serial === undefined ? {} : { serial: r.serial }) })) } : { enrolled: report.enrolled, failed: report.failed }),
    skipped: report.skipped,
  }
  emit(opts, data, () => {
    const head = `${report.rows} row(s): ${report.valid} valid, ${report.bad.length} invalid`
    const done = dry ? `dry run: would enrol ${report.enrol.length}, skip ${report.skipped.length} (already enrolled); nothing written` : `enrolled ${report.enrolled}, skipped ${report.skipped.length} (already enrolled)${report.failed.length ? `, failed ${report.failed.length}` : ''}`
    return `${head}\n${done}`
  })
  if (problems.length > 0) process.exitCode = 1
}

/**
 * Reads and checks an enrolment file: the header names known columns (each once, the required
 * ones present), and every row has one field per column, a user, a valid phone, a known realm,
 * a valid serial/PIN/otpkey, and neither its user nor its serial repeats an earlier row's.
 * Blank lines are ignored. Problems never quote a phone, a PIN or an otpkey.
 */
export function validateCsv(text: string, realms: ReadonlySet<string> | undefined): { good: EnrolRow[]; bad: BadRow[]; rows: number } {
  let records
  try {
    records = parseCsv(text)
  } catch (err) {
    if (err instanceof CsvSyntaxError) throw new CliError(`${err.message} (nothing enrolled)`)
    throw err
  }
  const nonBlank = records.filter((r) => !(r.fields.length === 1 && (r.fields[0] as string).trim() === ''))
  const header = nonBlank[0]
  if (header === undefined) throw new CliError('the CSV file is empty: expected a header row (user,phone,realm[,serial,pin,otpkey])')
  const names = header.fields.map((f) => f.trim().toLowerCase())
  const headerErrors: string[] = []
  names.forEach((n, i) => {
    if (!(ENROL_COLUMNS as readonly string[]).includes(n)) headerErrors.push(`unknown column ${JSON.stringify(n.slice(0, 40))} (known: ${ENROL_COLUMNS.join(', ')})`)
    else if (names.indexOf(n) !== i) headerErrors.push(`column ${n} appears twice`)
  })
  for (const c of REQUIRED) if (!names.includes(c)) headerErrors.push(`missing column ${c}`)
  if (headerErrors.length > 0) throw new CliError(`line ${header.line} (header): ${headerErrors.join('; ')} (nothing enrolled)`)

  const good: EnrolRow[] = []
  const bad: BadRow[] = []
  const users = new Map<string, number>()
  const serials = new Map<string, number>()
  for (const rec of nonBlank.slice(1)) {
    const errors: string[] = []
    if (rec.fields.length !== names.length) {
      bad.push({ line: rec.line, errors: [`expected ${names.length} fields (${names.join(',')}), got ${rec.fields.length}`] })
      continue
    }
    const get = (c: Column): string | undefined => {
      const i = names.indexOf(c)
      const v = i < 0 ? undefined : (rec.fields[i] as string).trim()
      return v === '' ? undefined : v
    }
    const user = get('user')
    const realm = get('realm')?.toLowerCase()
    const serial = get('serial')
    const pin = get('pin')
    const otpkey = get('otpkey')
    let phone = get('phone')
    if (user === undefined) errors.push('user: missing')
    else if (user.length > 256) errors.push('user: longer than 256 characters')
    try {
      phone = validatePhone(phone)
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err))
    }
    if (realm === undefined) errors.push('realm: missing')
    else if (realms !== undefined && !realms.has(realm)) errors.push(`realm: '${realm.slice(0, 64)}' does not exist`)
    if (serial !== undefined) {
      if (!SERIAL.test(serial)) errors.push('serial: 1 to 64 letters, digits, _ . : - only')
      else if (serial.toUpperCase().startsWith(AUTO_SERIAL_PREFIX)) errors.push(`serial: the prefix ${AUTO_SERIAL_PREFIX} is reserved for auto-enrolled tokens`)
    }
    if (pin !== undefined && pin.length > MAX_PIN_LENGTH) errors.push(`pin: longer than ${MAX_PIN_LENGTH} characters`)
    if (otpkey !== undefined) {
      const seed = parseHexSeed(otpkey)
      if (seed === undefined) errors.push('otpkey: must be hexadecimal (an even number of 0-9 a-f digits, at most 128 bytes)')
      else if (seed.length < 16) errors.push('otpkey: must be at least 16 bytes (32 hex digits)')
    }
    if (user !== undefined && realm !== undefined) {
      const key = ownerKey(user, realm)
      const first = users.get(key)
      if (first !== undefined) errors.push(`user: '${user.slice(0, 64)}' in realm '${realm.slice(0, 64)}' repeats line ${first}`)
      else users.set(key, rec.line)
    }
    if (serial !== undefined) {
      const first = serials.get(serial)
      if (first !== undefined) errors.push(`serial: '${serial}' repeats line ${first}`)
      else serials.set(serial, rec.line)
    }
    if (errors.length > 0 || user === undefined || realm === undefined || phone === undefined) bad.push({ line: rec.line, errors })
    else good.push({ line: rec.line, user, realm, phone, serial, pin, otpkey })
  }
  return { good, bad, rows: nonBlank.length - 1 }
}

const ownerKey = (user: string, realm: string): string => `${user}\u0000${realm.toLowerCase()}`

/** The realms defined, or undefined when none are (then any realm is accepted, as by /admin/init). */
async function realmNames(target: Target): Promise<Set<string> | undefined> {
  const names = target.kind === 'local'
    ? target.otp.realms.list().map((r) => r.name)
    : Object.keys((await target.admin.call<Record<string, unknown>>('/system/getRealms')).value ?? {})
  return names.length === 0 ? undefined : new Set(names.map((n) => n.toLowerCase()))
}

/** Owners (user + realm) and serials of every token there is. */
async function existingOwners(target: Target): Promise<{ users: Set<string>; serials: Set<string> }> {
  const users = new Set<string>()
  const serials = new Set<string>()
  for (const t of await allTokens(target)) {
    serials.add(t.serial)
    if (t.user !== null && t.realm !== null) users.add(ownerKey(t.user, t.realm))
  }
  return { users, serials }
}

async function enrolOne(target: Target, r: EnrolRow): Promise<void> {
  const params = { user: r.user, realm: r.realm, phone: r.phone, serial: r.serial, pin: r.pin, otpkey: r.otpkey }
  if (target.kind === 'local') await target.otp.tokens.init(params)
  else await target.admin.call('/admin/init', params)
}

// ---------------------------------------------------------------------------------------------
// list, show, export

async function listTokens(target: Target, filter: { serial?: string | undefined; user?: string | undefined; realm?: string | undefined }, limit: number, offset: number): Promise<{ tokens: TokenInfo[]; total: number }> {
  if (target.kind === 'local') return pageTokens(target.otp.core, { ...filter, limit, offset })
  // /admin/show pages by page number: fetch the one or two pages of size `limit` that hold the slice.
  const first = Math.floor(offset / limit) + 1
  const skip = offset % limit
  const a = await showPage(target, filter, first, limit)
  let tokens = a.tokens.slice(skip)
  if (skip > 0 && a.total > first * limit) tokens = tokens.concat((await showPage(target, filter, first + 1, limit)).tokens)
  return { tokens: tokens.slice(0, limit), total: a.total }
}

async function showPage(target: Target & { kind: 'remote' }, filter: Record<string, string | undefined>, page: number, pagesize: number): Promise<{ tokens: TokenInfo[]; total: number }> {
  const { value } = await target.admin.call<{ resultset: { tokens: number }; data: TokenView[] }>('/admin/show', { ...filter, page: String(page), pagesize: String(pagesize) })
  return { tokens: value.data.map(fromView), total: value.resultset.tokens }
}

/** Every token (the local store's records, or every page of /admin/show). */
async function allTokens(target: Target): Promise<TokenInfo[]> {
  if (target.kind === 'local') return (await target.otp.core.store.tokens.list({}, Number.MAX_SAFE_INTEGER)).filter((t) => !isDecoy(t.serial)).map(tokenInfo)
  const out: TokenInfo[] = []
  for (let page = 1; ; page++) {
    const p = await showPage(target, {}, page, REMOTE_PAGE)
    out.push(...p.tokens)
    if (p.tokens.length === 0 || out.length >= p.total) return out
  }
}

async function exportTokens(target: Target, withSecrets: boolean): Promise<Array<Record<string, unknown>>> {
  if (!withSecrets) return (await allTokens(target)).map((t) => exportRow(t))
  if (target.kind !== 'local') throw new CliError('--with-secrets works on the local files only')
  const core = target.otp.core
  const records = (await core.store.tokens.list({}, Number.MAX_SAFE_INTEGER)).filter((t) => !isDecoy(t.serial))
  return records.map((r) => exportRow(tokenInfo(r), { otpkey: core.secrets.decryptSeed(r.serial, r.seed).toString('hex'), pinhash: r.pinHash ?? '' }))
}

function exportRow(t: TokenInfo, secrets?: { otpkey: string; pinhash: string }): Record<string, unknown> {
  return {
    serial: t.serial, user: t.user ?? '', realm: t.realm ?? '', phone: t.phone, active: t.active, failcount: t.failcount, maxfail: t.maxfail,
    counter: t.counter, otplen: t.otplen, hashlib: t.hashlib, description: t.description, created: t.createdAt ? new Date(t.createdAt).toISOString() : '',
    ...(secrets === undefined ? {} : { otpkey: secrets.otpkey, pinhash: secrets.pinhash }),
  }
}

function exampleInfo(): TokenInfo {
  return { serial: '', type: 'sms', user: null, realm: null, phone: '', description: '', active: true, failcount: 0, maxfail: 0, counter: 0, countWindow: 0, otplen: 6, hashlib: 'sha1', createdAt: 0 }
}

/** A token from /admin/show's LinOTP names (the creation time is not on the wire: 0). */
function fromView(v: TokenView): TokenInfo {
  return {
    serial: v['LinOtp.TokenSerialnumber'], type: 'sms', user: v['LinOtp.Username'] === '' ? null : v['LinOtp.Username'], realm: v['LinOtp.RealmNames'][0] ?? null,
    phone: v['LinOtp.TokenInfo'].phone, description: v['LinOtp.TokenDesc'], active: v['LinOtp.Isactive'], failcount: v['LinOtp.FailCount'], maxfail: v['LinOtp.MaxFail'],
    counter: v['LinOtp.Count'], countWindow: v['LinOtp.CountWindow'], otplen: v['LinOtp.OtpLen'] === 8 ? 8 : 6, hashlib: v['LinOtp.TokenInfo'].hashlib as TokenInfo['hashlib'], createdAt: 0,
  }
}

function tokenLine(t: TokenInfo): TokenLine {
  return {
    serial: t.serial, user: t.user, realm: t.realm, phone: maskPhone(t.phone), active: t.active, failcount: t.failcount, maxfail: t.maxfail,
    counter: t.counter, otplen: t.otplen, hashlib: t.hashlib, description: t.description, ...(t.createdAt ? { createdAt: t.createdAt } : {}),
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
  return rows.map((r) => `${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`).join('')
}
