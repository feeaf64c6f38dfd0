/**
 * What the `sms-otp` commands share: where the data is (the local SQLite store under the data
 * directory, or a running sidecar's admin API), how results are printed (`--json` or text), and
 * how failures end the process (a message on stderr, a non-zero exit code, never a stack trace).
 */
import { join, resolve } from 'node:path'
import { Option, type Command } from 'commander'
import { databaseExists } from '../crypto/key-file.js'
import { acquireRunLock, type RunLock } from '../crypto/run-lock.js'
import { Secrets, loadMasterKey } from '../crypto/secrets.js'
import { describeError, isOtpError } from '../errors.js'
import { silentLogger, type Logger } from '../logger.js'
import { createSmsOtp, type SmsOtp } from '../sms-otp.js'
import { createSqliteStore } from '../stores/sqlite.js'

/** A failure the CLI reports as it is (no "sms-otp:" cause chain) and ends with `exitCode`. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message)
    this.name = 'CliError'
  }
}

/** Options of every command that reads or changes tokens or providers. */
export interface TargetOptions {
  readonly dataDir: string
  readonly db?: string
  readonly store: 'sqlite'
  /** A running sidecar's base URL (then the admin API is used, not the files). */
  readonly url?: string
  /** Its admin token. @default $SMS_OTP_ADMIN_TOKEN */
  readonly token?: string
  readonly json?: boolean
}

/** Adds `--data-dir`, `--db`, `--store`, `--url`, `--token` and `--json` to `cmd`. */
export function targetOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'directory with the database and the key file', './data')
    .option('--db <file>', 'SQLite file (default: <data-dir>/sms-otp.db)')
    .addOption(new Option('--store <kind>', 'local store backend').choices(['sqlite']).default('sqlite'))
    .option('--url <url>', "a running sidecar's base URL: use its admin API instead of the local files")
    .option('--token <token>', 'admin token for --url (default: $SMS_OTP_ADMIN_TOKEN)')
    .option('--json', 'print JSON')
}

/** Adds `--json` to a command that needs no data. */
export function jsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print JSON')
}

/** The engine on the local files (the same database and key as `sms-otp serve`). */
export interface LocalTarget {
  readonly kind: 'local'
  readonly otp: SmsOtp
  /** The database file. */
  readonly db: string
  close(): Promise<void>
}

/** A running sidecar, through its admin API. */
export interface RemoteTarget {
  readonly kind: 'remote'
  readonly admin: AdminClient
  close(): Promise<void>
}

export type Target = LocalTarget | RemoteTarget

/**
 * Opens what `opts` names. Locally the database must exist (a first `sms-otp serve` creates it
 * with its key); the CLI holds a run lock like a sidecar, so `key rotate` waits for it.
 */
export async function openTarget(opts: TargetOptions, env: NodeJS.ProcessEnv = process.env, logger: Logger = silentLogger): Promise<Target> {
  if (opts.url !== undefined) {
    const token = opts.token ?? env.SMS_OTP_ADMIN_TOKEN
    if (token === undefined || token === '') throw new CliError('--url needs an admin token: --token or SMS_OTP_ADMIN_TOKEN')
    const admin = new AdminClient(opts.url, token)
    return { kind: 'remote', admin, close: async () => undefined }
  }
  const dataDir = resolve(opts.dataDir)
  const db = resolve(opts.db ?? join(dataDir, 'sms-otp.db'))
  if (!(await databaseExists(db))) throw new CliError(`no database at ${db}: run \`sms-otp serve\` once (it creates the database and its key), or pass --db / --data-dir`)
  const lock: RunLock = await acquireRunLock(dataDir, 'serve')
  try {
    const secrets = new Secrets(await loadMasterKey(join(dataDir, 'sms-otp.key'), env, { create: false }))
    const otp = await createSmsOtp({ store: createSqliteStore({ path: db }), secrets, logger })
    return { kind: 'local', otp, db, close: () => otp.close().finally(() => lock.release()) }
  } catch (err) {
    await lock.release()
    throw err
  }
}

/** Runs `use` on the opened target and closes it, whatever happens. */
export async function withTarget<T>(opts: TargetOptions, use: (target: Target) => Promise<T>): Promise<T> {
  const target = await openTarget(opts)
  try {
    return await use(target)
  } finally {
    await target.close()
  }
}

/** A LinOTP-style admin API client (`POST` form, `Authorization: Bearer`). */
export class AdminClient {
  readonly #base: string
  readonly #token: string

  constructor(base: string, token: string) {
    let url: URL
    try {
      url = new URL(base)
    } catch {
      throw new CliError(`--url: not a URL: ${JSON.stringify(base.slice(0, 200))}`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError('--url: http:// or https:// only')
    this.#base = url.href.replace(/\/+$/, '')
    this.#token = token
  }

  /**
   * Calls `path` (e.g. `/admin/show`) with form parameters and returns `result.value`, plus
   * `detail` when the sidecar sent one.
   * @throws CliError with the sidecar's message (`result.error.message`) or the HTTP failure
   */
  async call<T = unknown>(path: string, params: Record<string, string | undefined> = {}): Promise<{ value: T; detail?: Record<string, unknown> }> {
    const body = new URLSearchParams()
    for (const [k, v] of Object.entries(params)) if (v !== undefined) body.set(k, v)
    let res: Response
    try {
      res = await fetch(`${this.#base}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/x-www-form-urlencoded' },
        body,
        signal: AbortSignal.timeout(60_000),
      })
    } catch (err) {
      throw new CliError(`${this.#base}${path}: ${describeError(err)}`)
    }
    const text = await res.text()
    let json: { result?: { status?: boolean; value?: T; error?: { message?: string; code?: string } }; detail?: Record<string, unknown> }
    try {
      json = JSON.parse(text) as typeof json
    } catch {
      throw new CliError(`${this.#base}${path}: HTTP ${res.status}, not a JSON answer`)
    }
    if (json.result?.status !== true) {
      const e = json.result?.error
      throw new CliError(`${path}: ${e?.message ?? `HTTP ${res.status}`}${e?.code ? ` (${e.code})` : ''}`)
    }
    return { value: json.result.value as T, ...(json.detail ? { detail: json.detail } : {}) }
  }
}

/** Prints `data` as JSON with `--json`, else the text `human()` returns (a trailing newline is added). */
export function emit(opts: { readonly json?: boolean }, data: unknown, human: () => string): void {
  const out = opts.json === true ? JSON.stringify(data, null, 2) : human()
  process.stdout.write(out.endsWith('\n') || out === '' ? out : `${out}\n`)
}

/** The message a failure prints: coded errors and CLI errors as they are, others described. */
export function failureMessage(err: unknown): string {
  return err instanceof CliError || isOtpError(err) ? err.message : describeError(err)
}
