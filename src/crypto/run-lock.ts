/**
 * The run lock of a data directory: every `sms-otp serve` holds it while it uses the directory,
 * and `sms-otp key rotate` refuses while anyone does. A running sidecar keeps the old master key
 * in memory: a token it enrolls, or a provider it saves, after the rotation would be sealed with a
 * key that is gone, and the next start with the new key could not open it.
 *
 * Several sidecar processes may share one database, so the lock has many holders: one empty file
 * per holder in `<dataDir>/run/`, named `<role>-<pid>-<random>` (`serve-812-1f0c9a2e`,
 * `rotate-907-77d1e0b4`); the random part keeps two holders of one process apart. Each side creates
 * its own file first and only then looks for the other's (a sidecar for rotations, a rotation for
 * everyone), so of a sidecar and a rotation that start at the same moment at least one sees the
 * other and refuses. The file of a process that is gone (`kill(pid, 0)` fails with ESRCH: a
 * crash, `kill -9`) is stale: it is ignored and removed.
 *
 * Processes are judged by pid on this host: a sidecar in another pid namespace (another container
 * on the same volume) looks dead from here, and a stale file whose pid was reused looks alive (the
 * refusal names the file to delete).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError } from '../errors.js'

/** The directory of the lock files, inside the data directory. */
export const RUN_DIR = 'run'

/** Who holds a run lock: a sidecar, or a key rotation. */
export type RunRole = 'serve' | 'rotate'

/** One held run lock. */
export interface RunLock {
  /** The lock file of this holder. */
  readonly file: string
  /** Removes the lock file; idempotent. */
  release(): Promise<void>
}

interface Holder {
  readonly role: RunRole
  readonly pid: number
  readonly file: string
}

const FILE_NAME = /^(serve|rotate)-([1-9]\d{0,9})-[0-9a-f]+$/
const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code

/**
 * Takes the run lock of `dataDir` for `role`. A sidecar is refused while a key rotation holds it;
 * a key rotation is refused while anyone else does, except `ignore` (the sidecar that finishes an
 * interrupted rotation at its own start). Stale lock files of dead processes are removed.
 * @throws ConfigError naming the live holder, its lock file and what to do.
 * @example
 * const lock = await acquireRunLock('/var/lib/sms-otp', 'serve')
 * try { … } finally { await lock.release() }
 */
export async function acquireRunLock(dataDir: string, role: RunRole, ignore?: RunLock): Promise<RunLock> {
  const dir = join(dataDir, RUN_DIR)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const file = join(dir, `${role}-${process.pid}-${randomBytes(4).toString('hex')}`)
  await writeFile(file, '', { flag: 'wx', mode: 0o600 })
  let released: Promise<void> | undefined
  const lock: RunLock = {
    file,
    release: () => (released ??= unlink(file).catch((err: unknown) => {
      if (errno(err) !== 'ENOENT') throw err
    })),
  }
  try {
    // Only after our own file exists: whoever comes later sees us (see the module comment).
    const others = (await liveHolders(dir)).filter((h) => h.file !== file && h.file !== ignore?.file)
    const blocking = others.find((h) => role === 'rotate' || h.role === 'rotate')
    if (blocking) throw refusal(role, blocking, dataDir)
  } catch (err) {
    await lock.release()
    throw err
  }
  return lock
}

/** The holders whose process is alive; the files of dead ones are removed on the way. */
async function liveHolders(dir: string): Promise<Holder[]> {
  const out: Holder[] = []
  for (const name of await readdir(dir)) {
    const match = FILE_NAME.exec(name)
    if (!match) continue // not ours: neither a holder nor ours to delete
    const holder: Holder = { role: match[1] as RunRole, pid: Number(match[2]), file: join(dir, name) }
    if (alive(holder.pid)) out.push(holder)
    else await unlink(holder.file).catch(() => undefined) // stale; another process may remove it first
  }
  return out
}

/** Signal 0 tests for existence only; EPERM means it exists under another account. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return errno(err) !== 'ESRCH'
  }
}

function refusal(role: RunRole, holder: Holder, dataDir: string): ConfigError {
  const where = `the data directory ${dataDir} (lock file ${holder.file})`
  const unlessStale = `if no process ${holder.pid} runs, delete the lock file`
  if (role === 'serve') {
    return new ConfigError(`a key rotation (pid ${holder.pid}) is running on ${where}: start the sidecar once it has finished (${unlessStale})`)
  }
  if (holder.role === 'rotate') {
    return new ConfigError(`another key rotation (pid ${holder.pid}) is running on ${where}: let it finish (${unlessStale})`)
  }
  return new ConfigError(`a sidecar (pid ${holder.pid}) is using ${where}: stop every sidecar process that uses it, then run key rotate again; a running sidecar keeps the old key and would seal what it writes with it (${unlessStale})`)
}
