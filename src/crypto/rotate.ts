/**
 * `sms-otp key rotate`: moves every secret of a database from the current master key to a new
 * one, so the old key opens nothing any more.
 *
 * The token store has no multi-token transaction, so seeds are re-sealed one token at a time
 * (each update atomic) and the procedure is made resumable instead:
 * 1. the new key is written durably first (`sms-otp.key.new`, or `--new-key-file`);
 * 2. a marker (`sms-otp/rotating`, the new key's check value) is stored: from here on a start
 *    with either key alone refuses, because the seeds are partly under each key;
 * 3. each seed still under the old key is re-sealed under the new one (a seed the new key
 *    already opens was done by an interrupted run and is skipped);
 * 4. one settings batch: provider configs (and the legacy `SMSProviderConfig`) re-sealed, the
 *    PIN key sealed under the new key, the new check value, the marker removed;
 * 5. `sms-otp.key.new` is renamed over `sms-otp.key`.
 * At every instant each secret opens with one of the two keys, both keys are on disk, and running
 * the command again (or `serve`, which finishes a rotation it finds) completes it.
 *
 * Before step 1 it takes the run lock of the data directory (`run-lock.ts`): it refuses while a
 * sidecar uses the directory, and no sidecar starts while it runs.
 *
 * PIN hashes are keyed HMACs and cannot be recomputed without the PINs, so the PIN key in use is
 * carried over: stored sealed under the new master key (`sms-otp/pin-key`).
 */
import { randomBytes } from 'node:crypto'
import { rename, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ConfigError, OtpError, isOtpError } from '../errors.js'
import type { Logger } from '../logger.js'
import { IMPORTED_DEFAULT } from '../settings/providers.js'
import { createSqliteStore } from '../stores/sqlite.js'
import type { Store } from '../stores/types.js'
import { KEY_CHECK, PIN_KEY, ROTATING, keyMismatch, sealedConfig, usePinKey, verifyKey } from './key-check.js'
import { KEY_FILE_NAME, checkDataDir, createKeyFile, databaseExists, loadMasterKey, readKeyFile, syncDirectory } from './key-file.js'
import { acquireRunLock, type RunLock } from './run-lock.js'
import { Secrets } from './secrets.js'
import { resealResolver } from '../settings/resolvers.js'

/** What a rotation re-sealed in this run. */
export interface RotationCounts {
  readonly seeds: number
  readonly providers: number
}

/**
 * Re-seals every secret of `store` from `from` to `to` (steps 2–4 above). Idempotent: a database
 * already under `to` is left alone, an interrupted run is continued.
 * @throws OtpError `ERR_OTP_KEY_MISMATCH` when `from` is not the database's key or an interrupted
 *   rotation was heading to another key; `ERR_OTP_CRYPTO` naming a seed neither key opens.
 */
export async function rekeyStore(store: Store, from: Secrets, to: Secrets): Promise<RotationCounts> {
  const settings = store.settings
  const marker = await settings.get('config', ROTATING)
  if (marker !== undefined && !to.matchesCheckValue(marker)) {
    throw keyMismatch('an interrupted key rotation of this database was moving it to another key: finish it with that new key (the same sms-otp.key.new or --new-key-file)')
  }
  const current = await settings.get('config', KEY_CHECK)
  if (marker === undefined && current !== undefined && to.matchesCheckValue(current)) return { seeds: 0, providers: 0 }
  await verifyKey(store, from)
  await usePinKey(store, from)
  await settings.put('config', ROTATING, to.keyCheckValue)

  let seeds = 0
  for (const token of await store.tokens.list({}, Number.MAX_SAFE_INTEGER)) {
    if (opens(() => to.decryptSeed(token.serial, token.seed))) continue
    let seed: Buffer
    try {
      seed = from.decryptSeed(token.serial, token.seed)
    } catch (cause) {
      throw new OtpError('ERR_OTP_CRYPTO', `the seed of token ${token.serial} opens with neither key: remove the token, then run key rotate again`, { cause, status: 500 })
    }
    const sealed = to.encryptSeed(token.serial, seed)
    seed.fill(0)
    if (await store.tokens.replaceSeed(token.serial, token.seed, sealed)) seeds++
    else if (await store.tokens.get(token.serial)) {
      throw new OtpError('ERR_OTP_STORE', `token ${token.serial} changed during the key rotation: stop every sidecar process, then run key rotate again`, { status: 500 })
    } // else removed meanwhile: nothing to re-seal
  }

  const ops: Array<{ kind: 'config' | 'provider' | 'resolver'; name: string; value: string | null }> = []
  for (const [name, value] of await settings.list('provider')) {
    const sealed = sealedConfig(value)
    if (sealed === undefined) throw new OtpError('ERR_OTP_STORE', `stored provider '${name}' is corrupt`, { status: 500 })
    // Only `config` changes: whatever else the record holds is kept as it is.
    const record = JSON.parse(value) as Record<string, unknown>
    record.config = to.encryptConfig(name, from.decryptConfig(name, sealed))
    ops.push({ kind: 'provider', name, value: JSON.stringify(record) })
  }
  const legacy = await settings.get('config', 'SMSProviderConfig')
  if (legacy?.startsWith('v1:')) {
    ops.push({ kind: 'config', name: 'SMSProviderConfig', value: to.encryptConfig(IMPORTED_DEFAULT, from.decryptConfig(IMPORTED_DEFAULT, legacy)) })
  }
  const providers = ops.length
  // Stored LDAP resolvers keep their BINDPW sealed like provider configs.
  for (const [name, value] of await settings.list('resolver')) {
    const resealed = resealResolver(name, value, from, to)
    if (resealed !== undefined) ops.push({ kind: 'resolver', name, value: resealed })
  }
  ops.push(
    { kind: 'config', name: PIN_KEY, value: from.sealPinKeyFor(to) },
    { kind: 'config', name: KEY_CHECK, value: to.keyCheckValue },
    { kind: 'config', name: ROTATING, value: null },
  )
  await settings.batch(ops)
  return { seeds, providers }
}

function opens(attempt: () => unknown): boolean {
  try {
    attempt()
    return true
  } catch (err) {
    if (isOtpError(err, 'ERR_OTP_CRYPTO')) return false
    throw err
  }
}

/** Options of {@link rotateMasterKey}. */
export interface RotateOptions {
  /** @default './data' */
  readonly dataDir?: string
  /** SQLite file. @default `<dataDir>/sms-otp.db` */
  readonly db?: string
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv
  /**
   * Required when `SMS_OTP_ENC_KEY` holds the current key (the command cannot change the
   * environment): the new key is written there (mode 0600) for the operator to move into the
   * variable. Refused when the key lives in the key file.
   */
  readonly newKeyFile?: string
  /** The account that must own the data directory. @default process.getuid() */
  readonly serviceUid?: number | undefined
  /**
   * The run lock of the sidecar that finishes an interrupted rotation at its own start: it does
   * not block the rotation (every other holder does).
   */
  readonly sidecarLock?: RunLock | undefined
}

/** The outcome of {@link rotateMasterKey}. */
export interface RotationReport extends RotationCounts {
  /** Where the new key is: the key file, or `newKeyFile`. */
  readonly keyFile: string
  /** True when an earlier, interrupted rotation was finished. */
  readonly resumed: boolean
  /** True when the old key came from `SMS_OTP_ENC_KEY`. */
  readonly fromEnv: boolean
}

/**
 * Rotates the master key of a sidecar installation (steps 1–5 above). Refused (ConfigError,
 * nothing written) while a sidecar holds the run lock of the data directory: a running one keeps
 * the old key in memory. A library process using the database holds no run lock: stop it first.
 * @example
 * const report = await rotateMasterKey({ dataDir: '/var/lib/sms-otp' }) // report.seeds re-sealed
 */
export async function rotateMasterKey(options: RotateOptions = {}): Promise<RotationReport> {
  const env = options.env ?? process.env
  const dataDir = resolve(options.dataDir ?? './data')
  const db = resolve(options.db ?? join(dataDir, 'sms-otp.db'))
  const keyFile = join(dataDir, KEY_FILE_NAME)
  const fromEnv = env.SMS_OTP_ENC_KEY !== undefined && env.SMS_OTP_ENC_KEY !== ''
  if (fromEnv && options.newKeyFile === undefined) {
    throw new ConfigError('SMS_OTP_ENC_KEY is set and key rotate cannot change the environment: run it with --new-key-file FILE, then set SMS_OTP_ENC_KEY to the content of FILE, restart, and delete FILE')
  }
  if (!fromEnv && options.newKeyFile !== undefined) {
    throw new ConfigError(`--new-key-file is for installations that keep the key in SMS_OTP_ENC_KEY; this one uses ${keyFile}, which key rotate replaces itself`)
  }
  await checkDataDir(dataDir, options.serviceUid)
  if (!(await databaseExists(db))) throw new ConfigError(`no database at ${db}: nothing to rotate (give --data-dir or --db)`)
  // Before anything is written (not even sms-otp.key.new, which the next start would act on).
  const lock = await acquireRunLock(dataDir, 'rotate', options.sidecarLock)
  try {
    return await rotateLocked(options, { env, dataDir, db, keyFile, fromEnv })
  } finally {
    await lock.release()
  }
}

async function rotateLocked(options: RotateOptions, paths: { env: NodeJS.ProcessEnv; dataDir: string; db: string; keyFile: string; fromEnv: boolean }): Promise<RotationReport> {
  const { env, dataDir, db, keyFile, fromEnv } = paths
  const current = await loadMasterKey(keyFile, env, { create: false })
  const pending = options.newKeyFile === undefined ? `${keyFile}.new` : resolve(options.newKeyFile)
  const fresh = randomBytes(32)
  const resumed = !(await createKeyFile(pending, fresh))
  const next = resumed ? await readKeyFile(pending) : fresh
  if (next.equals(current)) throw new ConfigError(`${pending} holds the current key already: delete it to rotate again`)

  const store = createSqliteStore({ path: db })
  await store.open()
  let counts: RotationCounts
  try {
    counts = await rekeyStore(store, new Secrets(current), new Secrets(next))
  } finally {
    await store.close()
  }
  if (!fromEnv) {
    await rename(pending, keyFile) // atomic: the key file is the old key or the new one, never neither
    await syncDirectory(dataDir)
  }
  return { ...counts, keyFile: fromEnv ? pending : keyFile, resumed, fromEnv }
}

/**
 * Start-up recovery: when `<dataDir>/sms-otp.key.new` exists next to an existing database (and the
 * key does not come from `SMS_OTP_ENC_KEY`), a rotation was started and is finished now.
 * @returns true when a rotation was finished.
 */
export async function finishInterruptedRotation(options: Omit<RotateOptions, 'newKeyFile'>, logger: Logger): Promise<boolean> {
  const env = options.env ?? process.env
  if (env.SMS_OTP_ENC_KEY !== undefined && env.SMS_OTP_ENC_KEY !== '') return false
  const dataDir = resolve(options.dataDir ?? './data')
  const pending = join(dataDir, `${KEY_FILE_NAME}.new`)
  if (!(await stat(pending).then(() => true, () => false))) return false
  if (!(await databaseExists(resolve(options.db ?? join(dataDir, 'sms-otp.db'))))) return false
  logger.warn({ keyFile: pending }, 'finishing an interrupted key rotation')
  const report = await rotateMasterKey({ ...options, env })
  logger.warn({ seeds: report.seeds, providers: report.providers }, 'key rotation finished')
  return true
}
