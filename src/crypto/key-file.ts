/**
 * The key file and the data directory on disk: loading the master key, creating it only for a
 * fresh installation, and the permission checks that keep other accounts away from it.
 *
 * A key file is written durably (exclusive create, mode 0600, fsync of the file and of its
 * directory) before any data is sealed with it: a power cut must not leave a database whose key
 * never reached the disk.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, stat, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { ConfigError, OtpError, invalidOption } from '../errors.js'

/** Name of the key file inside the data directory. */
export const KEY_FILE_NAME = 'sms-otp.key'

const isWindows = process.platform === 'win32'
const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(4, '0')
const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code

/** Parses a 32-byte key given as 64 hex characters or base64. */
export function parseMasterKey(text: string, origin: string): Buffer {
  const trimmed = text.trim()
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64')
  if (key.length !== 32) throw invalidOption(origin, 'expected a 32-byte key as 64 hex characters or base64')
  return key
}

/** Options of {@link loadMasterKey}. */
export interface LoadMasterKeyOptions {
  /**
   * May a missing key file be created with a fresh random key? Pass `false` when data sealed with
   * the key exists already (the sidecar does when its database file exists): a new key cannot
   * read that data, so the call fails with `ERR_OTP_KEY_MISMATCH` and writes nothing.
   * @default true
   */
  readonly create?: boolean
}

/**
 * Loads the master key: `SMS_OTP_ENC_KEY` when set, else the key file. The key file must not be
 * readable or writable by group or others (refused with a `chmod 600` hint). A missing key file
 * is created with a fresh random key (mode 0600, directory 0700) unless `create` is false.
 * @example
 * const secrets = new Secrets(await loadMasterKey('./data/sms-otp.key'))
 * // an existing database: never invent a key for it
 * const key = await loadMasterKey('./data/sms-otp.key', process.env, { create: false })
 */
export async function loadMasterKey(keyFile: string, env: NodeJS.ProcessEnv = process.env, options: LoadMasterKeyOptions = {}): Promise<Buffer> {
  const fromEnv = env.SMS_OTP_ENC_KEY
  if (fromEnv !== undefined && fromEnv !== '') return parseMasterKey(fromEnv, 'SMS_OTP_ENC_KEY')
  try {
    return await readKeyFile(keyFile)
  } catch (err) {
    if (errno(err) !== 'ENOENT') throw err
  }
  if (options.create === false) {
    throw new OtpError(
      'ERR_OTP_KEY_MISMATCH',
      `key file ${keyFile} is missing for an existing database: restore the key file from your backup, or set SMS_OTP_ENC_KEY to the key the database was written with (a new key could not read the stored seeds, so none was created and nothing was changed)`,
      { status: 500 },
    )
  }
  await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 })
  const key = randomBytes(32)
  // Another process may create it between our read and this write: then use theirs.
  return (await createKeyFile(keyFile, key)) ? key : readKeyFile(keyFile)
}

/** Reads a key file; refuses one that is not a regular file or that group or others may access. */
export async function readKeyFile(file: string): Promise<Buffer> {
  const handle = await open(file, 'r')
  try {
    const st = await handle.stat() // of the file we read, not of whatever the path names later
    if (!st.isFile()) throw new ConfigError(`key file ${file}: not a regular file`)
    const key = parseMasterKey(await handle.readFile('utf8'), file)
    if (!isWindows && (st.mode & 0o077) !== 0) {
      throw new ConfigError(`key file ${file} is readable or writable by group or others (mode ${octal(st.mode)}): chmod 600 ${file}`)
    }
    return key
  } finally {
    await handle.close()
  }
}

/**
 * Writes `key` to a new file (exclusive create, mode 0600) and makes it durable.
 * @returns false when the file exists already (nothing written).
 */
export async function createKeyFile(file: string, key: Buffer): Promise<boolean> {
  let handle
  try {
    handle = await open(file, 'wx', 0o600)
  } catch (err) {
    if (errno(err) === 'EEXIST') return false
    throw err
  }
  try {
    await handle.writeFile(`${key.toString('hex')}\n`)
    await handle.sync()
  } catch (err) {
    await handle.close()
    await unlink(file).catch(() => undefined) // a half-written key file would be read as a bad key
    throw err
  }
  await handle.close()
  await syncDirectory(dirname(file))
  return true
}

/** fsync of a directory, so a created or renamed entry survives a power cut (best effort off Linux). */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined)
  if (!handle) return
  try {
    await handle.sync()
  } catch {
    // Some platforms and file systems do not fsync directories; the data itself is synced.
  } finally {
    await handle.close()
  }
}

/**
 * Refuses a data directory that belongs to another account or that others may write to: whoever
 * can replace files there can swap the key file or the database. A missing directory passes (it
 * is created 0700 by this process). The ownership check is skipped where `uid` is unknown
 * (`process.getuid` is undefined on Windows).
 * @param uid the service user's uid. @default process.getuid()
 * @throws ConfigError with the fix (`chown`, `chmod 700`).
 */
export async function checkDataDir(dir: string, uid: number | undefined = process.getuid?.()): Promise<void> {
  let st
  try {
    st = await stat(dir)
  } catch (err) {
    if (errno(err) === 'ENOENT') return
    throw err
  }
  if (!st.isDirectory()) throw new ConfigError(`data directory ${dir} is not a directory`)
  if (isWindows) return
  if (uid !== undefined && st.uid !== uid) {
    throw new ConfigError(`data directory ${dir} is owned by uid ${st.uid}, not by the service user (uid ${uid}): chown it to the account sms-otp runs as`)
  }
  if ((st.mode & 0o002) !== 0) throw new ConfigError(`data directory ${dir} is writable by others (mode ${octal(st.mode)}): chmod 700 ${dir}`)
}

/** Does a SQLite database exist at `path` (a non-empty file, or a write-ahead log)? */
export async function databaseExists(path: string): Promise<boolean> {
  for (const file of [path, `${path}-wal`]) {
    try {
      if ((await stat(file)).size > 0) return true
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err
    }
  }
  return false
}
