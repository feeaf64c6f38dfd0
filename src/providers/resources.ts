/**
 * Where a provider definition may point. A definition has an origin: `local` (the host's own code,
 * the sidecar's config file or CLI: the operator) or `admin` (the admin HTTP API: whoever holds the
 * admin token). A leaked admin token must not equal a shell on the host, so an admin-defined
 * provider may use a file, a device or a program only where the operator allowed it at start
 * ({@link ResourceOptions}), and never learns whether a path outside that exists. Local definitions
 * are trusted as before. Network destinations are judged in `net/destinations.ts`.
 */
import { realpathSync, statSync } from 'node:fs'
import type { LookupFunction } from 'node:net'
import { basename, delimiter, dirname, isAbsolute, join, resolve, sep } from 'node:path'
import { z } from 'zod'
import { OtpError, invalidOption } from '../errors.js'
import { parseHostList, textRefusal, type HostList } from './net/destinations.js'

/** Who defined a provider: the operator (`local`) or the admin HTTP API (`admin`). */
export type ProviderOrigin = 'local' | 'admin'

/**
 * What admin-defined providers may use (option `resources` of `createSmsOtp`, `sms-otp serve`
 * flags `--allow-path`, `--allow-program`, `--allow-host`). Everything is refused by default.
 * @example
 * createSmsOtp({ store, secrets, resources: { allowPaths: ['/var/lib/sms-otp/outbox'], allowHosts: ['sms.example.net'] } })
 */
export interface ResourceOptions {
  /**
   * Directories under which admin-defined providers may read or write files (FileSMSProvider
   * `file`, `CONFIGFILE`, certificate keys), or single files/devices (`PORT: /dev/ttyUSB0`) they
   * may use. Resolved with realpath at start; each must exist. `sms-otp serve` refuses an entry
   * that holds its data directory, key file, database or config file ({@link assertAllowPathsAvoid}).
   * Files read from here must be regular files (never a FIFO or device, `read-file.ts`). @default [] (no paths)
   */
  readonly allowPaths?: readonly string[]
  /** Programs admin-defined providers may run (DeviceSMSProvider `GNOKII`), matched by realpath. @default [] */
  readonly allowPrograms?: readonly string[]
  /**
   * Host names, IP addresses and CIDR networks. When non-empty, admin-defined providers may reach
   * only these (plus internal networks with `allowPrivateNetworks`). An address entry is also what
   * lets any provider reach a link-local or cloud-metadata address. @default [] (any public host)
   */
  readonly allowHosts?: readonly string[]
  /** Let admin-defined providers reach loopback and private networks (10/8, 192.168/16, fc00::/7 …). @default false */
  readonly allowPrivateNetworks?: boolean
  /** Resolver for gateway host names, `dns.lookup`'s signature (split-horizon DNS, tests). @default dns.lookup */
  readonly lookup?: LookupFunction
}

/** An allowed path: a directory (anything beneath it) or one file/device (exactly it). */
interface AllowedPath {
  /** Both the resolved form the operator gave and its realpath. */
  readonly given: string
  readonly real: string
  readonly directory: boolean
}

/** {@link ResourceOptions} validated, resolved and frozen. */
export interface ResourcePolicy {
  readonly paths: readonly AllowedPath[]
  /** Realpaths of allowed programs, and the forms as given. */
  readonly programs: ReadonlySet<string>
  readonly hosts: HostList
  readonly allowPrivateNetworks: boolean
  readonly lookup: LookupFunction | undefined
}

/** The origin and policy a provider definition is judged with. */
export interface ResourceContext {
  readonly origin: ProviderOrigin
  readonly policy: ResourcePolicy
}

const schema = z
  .object({
    allowPaths: z.array(z.string().min(1)).default([]),
    allowPrograms: z.array(z.string().min(1)).default([]),
    allowHosts: z.array(z.string().min(1)).default([]),
    allowPrivateNetworks: z.boolean().default(false),
    // z.custom, not z.function: the resolver must be passed through as it is, not wrapped.
    lookup: z.custom<LookupFunction>((v) => typeof v === 'function', 'expected a function with the signature of dns.lookup').optional(),
  })
  .strict()

/**
 * Validates {@link ResourceOptions} once at start.
 * @throws TypeError `ERR_OTP_INVALID_OPTION` naming the entry (a path that does not exist, a bad CIDR …).
 */
export function resourcePolicy(options: ResourceOptions = {}): ResourcePolicy {
  const parsed = schema.safeParse(options)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw invalidOption(`resources${issue?.path.length ? `.${issue.path.join('.')}` : ''}`, issue?.message ?? 'invalid')
  }
  const o = parsed.data
  const paths = o.allowPaths.map((p, i) => {
    const given = resolve(p)
    const info = realpathOrThrow(given, `resources.allowPaths[${i}]`)
    return Object.freeze({ given, real: info.real, directory: info.directory })
  })
  const programs = new Set<string>()
  o.allowPrograms.forEach((p, i) => {
    const name = `resources.allowPrograms[${i}]`
    if (!isAbsolute(p)) throw invalidOption(name, `'${p}' must be an absolute path`)
    const { real, directory } = realpathOrThrow(p, name)
    if (directory) throw invalidOption(name, `'${p}' is a directory, not a program`)
    programs.add(real)
  })
  let hosts: HostList
  try {
    hosts = parseHostList(o.allowHosts)
  } catch (err) {
    throw invalidOption('resources.allowHosts', err instanceof Error ? err.message : String(err))
  }
  return Object.freeze({ paths: Object.freeze(paths), programs, hosts, allowPrivateNetworks: o.allowPrivateNetworks, lookup: o.lookup })
}

function realpathOrThrow(path: string, name: string): { real: string; directory: boolean } {
  try {
    const real = realpathSync(path)
    return { real, directory: statSync(real).isDirectory() }
  } catch (err) {
    throw invalidOption(name, `'${path}' cannot be resolved (${(err as NodeJS.ErrnoException).code ?? 'error'}); it must exist`)
  }
}

/** One of the server's own files or directories, which no allowed path may hold. */
export interface ProtectedPath {
  readonly path: string
  /** What it is, for the message: `the key file`, `the database` … */
  readonly what: string
}

/**
 * Refuses an allow-list entry that equals or contains one of the server's own files or
 * directories (`sms-otp serve`: the data directory, the key file, the database, the config file):
 * an admin-defined FileSMSProvider could overwrite them. Both the entry and the protected path are
 * compared as given and by realpath. A directory of its own inside the data directory is fine.
 * @throws TypeError `ERR_OTP_INVALID_OPTION` naming the entry, e.g. `resources.allowPaths[0]: '/var/lib/sms-otp' holds the key file /var/lib/sms-otp/sms-otp.key: …`
 * @example
 * assertAllowPathsAvoid(resourcePolicy({ allowPaths }), [{ path: '/var/lib/sms-otp/sms-otp.key', what: 'the key file' }])
 */
export function assertAllowPathsAvoid(policy: ResourcePolicy, protectedPaths: readonly ProtectedPath[], instead?: string): void {
  const forms = protectedPaths.map((p) => ({ ...p, forms: [resolve(p.path), realpathOrGiven(resolve(p.path))] }))
  policy.paths.forEach((entry, i) => {
    for (const p of forms) {
      if (!p.forms.some((f) => within(f, entry.given, entry.directory) || within(f, entry.real, entry.directory))) continue
      const suggestion = instead === undefined ? '' : ` (such as ${instead})`
      throw invalidOption(`resources.allowPaths[${i}]`, `'${entry.given}' holds ${p.what} ${p.path}: a provider set through the admin API could overwrite it; allow a directory of its own instead${suggestion}`)
    }
  })
}

/** realpath of the longest existing prefix with the rest appended; the path itself when that fails. */
function realpathOrGiven(path: string): string {
  try {
    return realpathPrefix(path, 'path')
  } catch {
    return path
  }
}

/** No allow-lists: the default of every context not given one. */
export const DEFAULT_POLICY: ResourcePolicy = resourcePolicy()
/** Trusted definitions: the host's code, the config file, the CLI. */
export const LOCAL: ResourceContext = Object.freeze({ origin: 'local', policy: DEFAULT_POLICY })

/** ERR_OTP_RESOURCE_NOT_ALLOWED, HTTP 403. */
export class ResourceError extends OtpError {
  constructor(message: string) {
    super('ERR_OTP_RESOURCE_NOT_ALLOWED', message, { status: 403 })
    this.name = 'ResourceError'
  }
}

const ADMIN = 'a provider set through the admin API'
const PATH_HINT = 'start sms-otp serve with --allow-path DIR (library: resources.allowPaths) to allow one'

/** The one refusal for a path outside the allow-list: identical whether the path exists or not. */
function pathRefusal(key: string): ResourceError {
  return new ResourceError(`${key}: ${ADMIN} may only use files under an allowed path; ${PATH_HINT}`)
}

/** The refusal of a `..` segment (or NUL) in a path of an admin-defined provider. */
export function dotDotRefusal(key: string): ResourceError {
  return new ResourceError(`${key}: ${ADMIN} may not use '..' in a path; give the path under an allowed directory directly (--allow-path DIR)`)
}

/** A path an admin-defined provider may use, and the allowed entry that covers it. */
export interface ConfinedPath {
  /** The path with every existing component resolved (realpath) and the rest appended. */
  readonly path: string
  /** Realpath of the allowed directory (or file) that covers it. */
  readonly root: string
  readonly rootIsDirectory: boolean
}

/**
 * Checks a path-valued key of an admin-defined provider: no `..` segment, inside an allowed entry
 * by its text (no file system access before that, so nothing is learned about other paths), and
 * still inside after resolving symbolic links. Local definitions pass unchanged (`undefined`).
 * @throws ResourceError naming `key` and the start flag.
 */
export function confinePath(ctx: ResourceContext, key: string, value: string, base = process.cwd()): ConfinedPath | undefined {
  if (ctx.origin === 'local') return undefined
  if (value.includes('\0') || value.split(/[\\/]/).includes('..')) throw dotDotRefusal(key)
  const wanted = resolve(base, value)
  const entry = ctx.policy.paths.find((p) => within(wanted, p.given, p.directory) || within(wanted, p.real, p.directory))
  if (entry === undefined) throw pathRefusal(key)
  const real = realpathPrefix(wanted, key)
  if (!within(real, entry.real, entry.directory)) {
    throw new ResourceError(`${key}: the path leads outside the allowed path through a symbolic link; ${PATH_HINT}`)
  }
  return Object.freeze({ path: real, root: entry.real, rootIsDirectory: entry.directory })
}

/** `path` equals `root` (file entry) or lies beneath it (directory entry). */
export function within(path: string, root: string, directory: boolean): boolean {
  if (!directory) return path === root
  return path === root || path.startsWith(root.endsWith(sep) ? root : `${root}${sep}`)
}

/** realpath of the longest existing prefix of `path`, with the missing rest appended. */
function realpathPrefix(path: string, key: string): string {
  const missing: string[] = []
  let current = path
  for (;;) {
    try {
      return join(realpathSync(current), ...missing.reverse())
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      const parent = dirname(current)
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === current) {
        // Only reached for a path inside an allowed entry: saying why is no leak.
        throw new ResourceError(`${key}: the path cannot be resolved (${code ?? 'error'})`)
      }
      missing.push(basename(current))
      current = parent
    }
  }
}

/**
 * Checks a program an admin-defined provider would run: its realpath must be one of the allowed
 * programs. A bare name is looked up on PATH. Returns the realpath to run, so a later change of
 * PATH or of a link does not change what runs. Local definitions: `value` unchanged.
 * @throws ResourceError naming `key`; the same message whether the program exists or not.
 */
export function confineProgram(ctx: ResourceContext, key: string, value: string): string {
  if (ctx.origin === 'local') return value
  const what = value.includes('/') ? 'it' : `'${value.slice(0, 64)}'`
  const refusal = new ResourceError(`${key}: ${ADMIN} may only run a program allowed at start; start sms-otp serve with --allow-program FILE (library: resources.allowPrograms) to allow ${what}`)
  if (ctx.policy.programs.size === 0) throw refusal
  const candidates = value.includes('/') ? [resolve(value)] : (process.env.PATH ?? '').split(delimiter).filter((d) => isAbsolute(d)).map((d) => join(d, value))
  for (const candidate of candidates) {
    let real: string
    try {
      real = realpathSync(candidate)
    } catch {
      continue
    }
    if (ctx.policy.programs.has(real)) return real
    if (!value.includes('/')) break // the first program PATH finds is the one that would run
  }
  throw refusal
}

/**
 * Judges a destination from its text at config load (see `net/destinations.ts`): a literal address in
 * any spelling a resolver accepts (`2130706433` is 127.0.0.1), or a name that is refused whatever
 * it resolves to. Other names are judged again on every address they resolve to, at connect time.
 * @throws ResourceError naming `key`, the address and the start flag that would allow it.
 */
export function checkDestination(ctx: ResourceContext, key: string, host: string): void {
  const reason = textRefusal(ctx, host)
  if (reason !== undefined) throw new ResourceError(`${key}: ${reason}`)
}
