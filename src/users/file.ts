/**
 * The file resolver: users in a JSON file or in passwd-style lines, with bcrypt or sha512-crypt
 * password hashes (plaintext is refused). The file is read on first use and read again when its
 * modification time or size changes, so an operator can edit it without a restart.
 */
import { stat } from 'node:fs/promises'
import { extname } from 'node:path'
import { z } from 'zod'
import { ConfigError, invalidOption } from '../errors.js'
import { jsonSyntax } from '../providers/parse-json.js'
import { readRegularFile } from '../providers/read-file.js'
import { dummyHashLike, hashKind, verifyHash } from './crypt.js'
import { resolverName } from './function.js'
import { DirectoryError, MAX_LOGIN, MAX_PASSWORD, type User, type UserResolver } from './types.js'

/** Options of {@link fileResolver}. */
export interface FileResolverOptions {
  /** Resolver name (letters, digits, `_.-`, up to 64). */
  readonly name: string
  /** Path of the users file. */
  readonly path: string
  /**
   * `json`: `[{ "login": "alice", "password": "$2b$…", "mobile": "+49…", "email": "…" }]` (any other
   * string property becomes an attribute). `passwd`: one user a line,
   * `login:hash[:mobile[:email[:name]]]`, `#` comments and blank lines ignored.
   * @default `json` for a `.json` file, else `passwd`
   */
  readonly format?: 'json' | 'passwd'
}

const schema = z.object({ name: resolverName, path: z.string().min(1), format: z.enum(['json', 'passwd']).optional() }).strict()

interface Entry { readonly login: string; readonly hash: string; readonly attributes: Readonly<Record<string, string>> }
interface Loaded { readonly key: string; readonly users: ReadonlyMap<string, Entry>; readonly dummy: string }

/** Largest users file read (a million users of about 64 bytes). */
const MAX_USERS_FILE_BYTES = 64 * 1024 * 1024

/** Columns of a passwd-style line after login and hash. */
const PASSWD_COLUMNS = ['mobile', 'email', 'name'] as const
const LOGIN = /^[^\s:]{1,256}$/

function parseEntry(where: string, login: unknown, hash: unknown, attributes: Record<string, string>): Entry {
  if (typeof login !== 'string' || !LOGIN.test(login)) throw new ConfigError(`${where}: 'login' must be 1 to 256 characters without spaces or ':'`)
  if (typeof hash !== 'string' || hashKind(hash) === undefined) {
    throw new ConfigError(`${where}: the password of '${login}' is not a bcrypt ($2b$) or sha512-crypt ($6$) hash; plaintext passwords are refused`)
  }
  return { login, hash, attributes: Object.freeze(attributes) }
}

/** Parses a users file; errors name the file and the line (passwd) or entry (JSON). */
export function parseUsersFile(text: string, format: 'json' | 'passwd', path: string): Entry[] {
  const entries: Entry[] = []
  if (format === 'passwd') {
    text.split(/\r?\n/).forEach((line, i) => {
      if (line.trim() === '' || line.trimStart().startsWith('#')) return
      const where = `users file ${path} line ${i + 1}`
      const cols = line.split(':')
      if (cols.length < 2 || cols.length > 2 + PASSWD_COLUMNS.length) {
        throw new ConfigError(`${where}: expected login:hash[:mobile[:email[:name]]], got ${cols.length} column(s)`)
      }
      const attributes: Record<string, string> = {}
      PASSWD_COLUMNS.forEach((col, k) => {
        const v = cols[k + 2]
        if (v !== undefined && v !== '') attributes[col] = v
      })
      entries.push(parseEntry(where, cols[0], cols[1], attributes))
    })
    return entries
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    // Not the parser's text: V8 quotes the text around the error, which may be a hash or a number.
    const { where, kind } = jsonSyntax(text, err)
    throw new ConfigError(`users file ${path}${where}: not valid JSON: ${kind}`)
  }
  if (!Array.isArray(data)) throw new ConfigError(`users file ${path}: expected a JSON array of users`)
  data.forEach((item: unknown, i) => {
    const where = `users file ${path} entry ${i + 1}`
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new ConfigError(`${where}: expected an object`)
    const { login, password, ...rest } = item as Record<string, unknown>
    const attributes: Record<string, string> = {}
    for (const [k, v] of Object.entries(rest)) {
      if (typeof v !== 'string') throw new ConfigError(`${where}: attribute '${k}' must be a string`)
      attributes[k] = v
    }
    entries.push(parseEntry(where, login, password, attributes))
  })
  return entries
}

/**
 * A resolver over a users file.
 * @example
 * // users.json: [{ "login": "alice", "password": "$2b$10$…", "mobile": "+4915112345678" }]
 * const staff = fileResolver({ name: 'staff', path: '/etc/sms-otp/users.json' })
 * // users.passwd: alice:$6$rounds=5000$salt$…:+4915112345678:alice@example.org:Alice
 */
export function fileResolver(options: FileResolverOptions): UserResolver {
  const parsed = schema.safeParse(options)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw invalidOption(`fileResolver.${issue?.path.join('.') || 'options'}`, issue?.message ?? 'invalid')
  }
  const { name, path } = parsed.data
  const format = parsed.data.format ?? (extname(path).toLowerCase() === '.json' ? 'json' : 'passwd')
  let loaded: Promise<Loaded> | undefined

  async function load(): Promise<Loaded> {
    let key: string
    try {
      const s = await stat(path)
      // A FIFO or device would block every login of the realm: regular files only.
      if (!s.isFile()) throw new Error(`'${path}' is not a regular file`)
      key = `${s.mtimeMs}:${s.size}`
    } catch (err) {
      throw new DirectoryError(`resolver '${name}': cannot read users file ${path}`, err)
    }
    const current = loaded === undefined ? undefined : await loaded.catch(() => undefined)
    if (current?.key === key) return current
    loaded = (async () => {
      let text: string
      try {
        // Opened without blocking and judged on the descriptor: a path swapped for a FIFO after
        // the stat above is refused too.
        text = readRegularFile(path, 'fileName', { maxBytes: MAX_USERS_FILE_BYTES })
      } catch (err) {
        throw new DirectoryError(`resolver '${name}': cannot read users file ${path}`, err)
      }
      const users = new Map<string, Entry>()
      for (const e of parseUsersFile(text, format, path)) {
        if (users.has(e.login)) throw new ConfigError(`users file ${path}: login '${e.login}' appears twice`)
        users.set(e.login, e)
      }
      const first = users.values().next().value
      return { key, users, dummy: await dummyHashLike(first?.hash ?? '') }
    })()
    return loaded
  }

  return Object.freeze({
    name,
    async find(login: string, realm: string): Promise<User | undefined> {
      const e = (await load()).users.get(login)
      return e && Object.freeze({ login: e.login, realm, resolver: name, attributes: e.attributes })
    },
    async checkPassword(login: string, password: string): Promise<boolean> {
      const { users, dummy } = await load()
      const e = login.length > MAX_LOGIN ? undefined : users.get(login)
      // Unknown logins are checked against a dummy of the same kind and cost: same work, same time.
      const ok = await verifyHash(password.length > MAX_PASSWORD ? '' : password, e?.hash ?? dummy)
      return ok && e !== undefined && password !== ''
    },
  })
}
