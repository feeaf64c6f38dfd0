/**
 * FileSMSProvider: LinOTP's test helper, also selectable. Writes `<phone>:<message>` to
 * `here/file` (overwriting, as LinOTP does). Two additions for demos and local development:
 * `append` keeps every message (one per line) and `echo` also prints each SMS to the terminal.
 *
 * An admin-defined instance (see `resources.ts`) is confined to its allowed directory: checked by
 * realpath when it is set and again before every write, the file opened without following a
 * final symbolic link (O_NOFOLLOW) and without blocking on a FIFO (O_NONBLOCK), and only a
 * regular file is written. Missing directories are created one level at a time, never with
 * Node's recursive `mkdir` (which never settles under /proc), checking the signal between steps.
 */
import { constants } from 'node:fs'
import { mkdir, open, realpath, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { configBool, configString, requireString } from './config-values.js'
import { LOCAL, ResourceError, confinePath, dotDotRefusal, within } from './resources.js'
import type { ProviderClass, SendResult, SmsProvider } from './types.js'

export interface FileOptions {
  /** Resolved path of the outbox file. */
  readonly path: string
  /** Append one line per SMS instead of overwriting. @default false */
  readonly append: boolean
  /** Also print each SMS to standard output (demo mode). @default false */
  readonly echo: boolean
  /** Admin-defined: the allowed entry (realpath) every write must stay within. */
  readonly confine?: { readonly root: string; readonly directory: boolean }
}

/** Directory levels created for one outbox at most (a bound for a pathological path). */
const MAX_LEVELS = 32

export const FileSmsProviderClass: ProviderClass<FileOptions> = {
  id: 'FileSMSProvider',
  parse(config, _warn, resources = LOCAL) {
    const file = requireString(config, 'file')
    const here = configString(config, 'here') ?? '.'
    const append = configBool(config.append)
    const echo = configBool(config.echo)
    if (resources.origin === 'local') return Object.freeze({ path: resolve(here, file), append, echo })
    if (here.includes('\0') || here.split(/[\\/]/).includes('..')) throw dotDotRefusal('here')
    const confined = confinePath(resources, 'file', file, resolve(here))
    if (confined === undefined) throw new ResourceError('file: not allowed') // unreachable: origin is admin
    const confine = Object.freeze({ root: confined.root, directory: confined.rootIsDirectory })
    return Object.freeze({ path: confined.path, append, echo, confine })
  },
  create(options): SmsProvider {
    return {
      async send(msg, signal): Promise<SendResult> {
        const line = `${msg.phone}:${msg.text}`
        try {
          await writeOutbox(options, options.append ? `${line}\n` : line, signal)
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code
          const why = err instanceof ResourceError ? err.message : signal.aborted ? 'aborted' : (code ?? 'error')
          return { status: 'unavailable', reason: `Failed to open file '${options.path}': ${why}` }
        }
        // The terminal is this provider's delivery channel in demo mode, not a log.
        if (options.echo) process.stdout.write(`[sms-otp outbox] SMS to ${msg.phone}: ${msg.text}\n`)
        return { status: 'sent' }
      },
    }
  },
}

async function writeOutbox(o: FileOptions, data: string, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted()
  const dir = dirname(o.path)
  await makeDirectories(dir, signal)
  let flags = constants.O_WRONLY | constants.O_CREAT | (o.append ? constants.O_APPEND : constants.O_TRUNC)
  if (o.confine !== undefined) {
    // A directory on the way may have been replaced by a link since the provider was set.
    const real = join(await realpath(dir), basename(o.path))
    if (!within(real, o.confine.root, o.confine.directory)) throw new ResourceError('the path leads outside the allowed path')
    flags |= constants.O_NOFOLLOW | constants.O_NONBLOCK
  }
  signal.throwIfAborted()
  const handle = await open(o.path, flags, 0o600)
  try {
    if (o.confine !== undefined && !(await handle.stat()).isFile()) throw new ResourceError('not a regular file')
    signal.throwIfAborted()
    await handle.write(data)
  } finally {
    await handle.close()
  }
}

/** `mkdir -p`, one level at a time; the caller confines the result. */
async function makeDirectories(dir: string, signal: AbortSignal): Promise<void> {
  const missing: string[] = []
  for (let current = dir; missing.length <= MAX_LEVELS; current = dirname(current)) {
    try {
      if ((await stat(current)).isDirectory()) break
      throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' })
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' || dirname(current) === current) throw err
      missing.push(current)
    }
    signal.throwIfAborted()
  }
  if (missing.length > MAX_LEVELS) throw Object.assign(new Error('too many missing directories'), { code: 'ENAMETOOLONG' })
  for (const level of missing.reverse()) {
    signal.throwIfAborted()
    try {
      await mkdir(level, { mode: 0o700 })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
}
