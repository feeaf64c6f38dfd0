/**
 * The LDAP resolver (ldapts): finds users with one long-lived service connection (bound once,
 * rebuilt after a failure) and checks a password by binding as the user's DN on a short-lived
 * connection of its own, so the service connection never changes identity.
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { Client, InvalidCredentialsError, SizeLimitExceededError, type Entry } from 'ldapts'
import type { ConnectionOptions } from 'node:tls'
import { z } from 'zod'
import { invalidOption } from '../errors.js'
import { resolverName } from './function.js'
import { escapeFilterValue } from './ldap-filter.js'
import { DirectoryError, MAX_LOGIN, MAX_PASSWORD, type User, type UserResolver } from './types.js'

/** Options of {@link ldapResolver}. */
export interface LdapResolverOptions {
  /** Resolver name (letters, digits, `_.-`, up to 64). */
  readonly name: string
  /** `ldap://host:389` or `ldaps://host:636`. */
  readonly url: string
  /** The service account that searches (never the user being checked). */
  readonly bindDn: string
  readonly bindPassword: string
  /** @example 'ou=people,dc=example,dc=org' */
  readonly searchBase: string
  /**
   * RFC 4515 filter; every `{login}` is replaced by the login, escaped (`*`, `(`, `)`, `\`, NUL).
   * @default '(&(objectClass=inetOrgPerson)(uid={login}))'
   */
  readonly searchFilter?: string
  /** @default 'sub' */
  readonly scope?: 'sub' | 'one'
  /** The attribute holding the login (its spelling becomes `User.login`). @default 'uid' */
  readonly loginAttribute?: string
  /** User attribute → LDAP attribute. @default { mobile: 'mobile', email: 'mail', phone_number: 'telephoneNumber' } */
  readonly attributes?: Readonly<Record<string, string>>
  /** Upgrade `ldap://` with StartTLS before any bind. @default false */
  readonly startTls?: boolean
  /** PEM file of the CA that signed the server certificate (read on first use). @default the system CAs */
  readonly caFile?: string
  /** Host name to verify the certificate against. @default the URL's host */
  readonly servername?: string
  /** Deadline of one LDAP operation and of connecting, in ms. @default 5000 */
  readonly timeoutMs?: number
}

const schema = z.object({
  name: resolverName,
  url: z.string().regex(/^ldaps?:\/\/[^/?#\s]+\/?$/i, 'ldap://host[:port] or ldaps://host[:port]'),
  bindDn: z.string().min(1),
  bindPassword: z.string().min(1, 'an empty password would be an anonymous bind'),
  searchBase: z.string().min(1),
  searchFilter: z.string().regex(/^\(.*\{login\}.*\)$/s, 'a parenthesized filter containing {login}').optional(),
  scope: z.enum(['sub', 'one']).optional(),
  loginAttribute: z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/).optional(),
  attributes: z.record(z.string().min(1), z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/)).optional(),
  startTls: z.boolean().optional(),
  caFile: z.string().min(1).optional(),
  servername: z.string().min(1).optional(),
  timeoutMs: z.number().int().min(100).max(120_000).optional(),
}).strict()

function first(entry: Entry, attribute: string): string | undefined {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase())
  const v = key === undefined ? undefined : entry[key]
  const one = Array.isArray(v) ? v[0] : v
  return typeof one === 'string' ? one : one instanceof Buffer ? one.toString('utf8') : undefined
}

/**
 * A resolver over an LDAP directory.
 * @example
 * const corp = ldapResolver({
 *   name: 'corp', url: 'ldaps://ldap.example.org', caFile: '/etc/ssl/corp-ca.pem',
 *   bindDn: 'cn=sms-otp,ou=services,dc=example,dc=org', bindPassword: process.env.LDAP_PASSWORD!,
 *   searchBase: 'ou=people,dc=example,dc=org', attributes: { mobile: 'mobile', email: 'mail' },
 * })
 */
export function ldapResolver(options: LdapResolverOptions): UserResolver & { close(): Promise<void> } {
  const parsed = schema.safeParse(options)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw invalidOption(`ldapResolver.${issue?.path.join('.') || 'options'}`, issue?.message ?? 'invalid')
  }
  const o = parsed.data
  const filter = o.searchFilter ?? '(&(objectClass=inetOrgPerson)(uid={login}))'
  const loginAttribute = o.loginAttribute ?? 'uid'
  const mapping = o.attributes ?? { mobile: 'mobile', email: 'mail', phone_number: 'telephoneNumber' }
  const timeout = o.timeoutMs ?? 5000
  const label = `LDAP resolver '${o.name}'`
  const secure = /^ldaps:/i.test(o.url)
  let tls: Promise<ConnectionOptions> | undefined
  let service: Promise<Client> | undefined

  const tlsOptions = (): Promise<ConnectionOptions> => (tls ??= (async () => {
    const host = new URL(o.url).hostname.replace(/^\[|\]$/g, '')
    const ca = o.caFile === undefined ? undefined : await readFile(o.caFile, 'utf8').catch((err: unknown) => {
      tls = undefined
      throw new DirectoryError(`${label}: cannot read caFile ${o.caFile}`, err)
    })
    // SNI takes a host name only (RFC 6066); the certificate is still checked against an IP.
    const servername = o.servername ?? (isIP(host) ? undefined : host)
    return { ...(servername === undefined ? {} : { servername }), ...(ca === undefined ? {} : { ca }) }
  })())

  const failure = (what: string, err: unknown) => err instanceof DirectoryError ? err : new DirectoryError(`${label}: ${what}`, err)
  const close = (c: Client) => c.unbind().catch(() => undefined)

  /** A connected (and, with StartTLS, upgraded) client; nothing bound yet. */
  async function connect(): Promise<Client> {
    const tlsOpts = await tlsOptions()
    // ldapts speaks TLS from the first byte whenever tlsOptions is set: only for ldaps:// URLs.
    const client = new Client({ url: o.url, timeout, connectTimeout: timeout, strictDN: false, ...(secure ? { tlsOptions: tlsOpts } : {}) })
    if (o.startTls) {
      await client.startTLS({ ...tlsOpts }).catch(async (err: unknown) => {
        await close(client)
        throw err
      })
    }
    return client
  }


  /** The shared service client, bound; built once and again after a failure. */
  function serviceClient(): Promise<Client> {
    service ??= (async () => {
      let client: Client | undefined
      try {
        client = await connect()
        await client.bind(o.bindDn, o.bindPassword)
        return client
      } catch (err) {
        service = undefined
        if (client) void close(client)
        throw err instanceof InvalidCredentialsError
          ? new DirectoryError(`${label}: the service bind was refused (check bindDn and bindPassword)`, err)
          : failure(`cannot reach or bind to ${o.url}`, err)
      }
    })()
    return service
  }

  async function search(login: string): Promise<Entry | undefined> {
    const query = {
      scope: o.scope ?? 'sub',
      // A function replacement: `$&`, `$'` and friends in a login are text, not patterns.
      filter: filter.replaceAll('{login}', () => escapeFilterValue(login)),
      attributes: [loginAttribute, ...Object.values(mapping)],
      sizeLimit: 2,
      timeLimit: Math.ceil(timeout / 1000),
    }
    for (let attempt = 0; ; attempt++) {
      const pending = serviceClient()
      const client = await pending
      try {
        if (!client.isBound) throw new Error('the service connection was lost')
        const { searchEntries } = await client.search(o.searchBase, query)
        if (searchEntries.length > 1) throw new DirectoryError(`${label}: the search filter matches more than one entry for a login`)
        return searchEntries[0]
      } catch (err) {
        if (err instanceof SizeLimitExceededError) throw new DirectoryError(`${label}: the search filter matches more than one entry for a login`, err)
        if (err instanceof DirectoryError) throw err
        // Drop the connection; one fresh attempt covers a server that closed an idle connection.
        if (service === pending) service = undefined
        void close(client)
        if (attempt >= 1) throw failure(`search failed on ${o.url}`, err)
      }
    }
  }

  /** Binds as `dn` on a fresh connection: true on success, false on invalid credentials. */
  async function bindAs(dn: string, password: string): Promise<boolean> {
    let client: Client | undefined
    try {
      client = await connect()
      await client.bind(dn, password)
      return true
    } catch (err) {
      if (err instanceof InvalidCredentialsError) return false
      throw failure(`cannot check a password on ${o.url}`, err)
    } finally {
      if (client) await close(client)
    }
  }

  return Object.freeze({
    name: o.name,
    async find(login: string, realm: string): Promise<User | undefined> {
      if (login === '' || login.length > MAX_LOGIN) return undefined
      const entry = await search(login)
      if (entry === undefined) return undefined
      const attributes: Record<string, string> = {}
      for (const [ours, theirs] of Object.entries(mapping)) {
        const v = first(entry, theirs)
        if (v !== undefined) attributes[ours] = v
      }
      return Object.freeze({ login: first(entry, loginAttribute) ?? login, realm, resolver: o.name, attributes: Object.freeze(attributes) })
    },
    async checkPassword(login: string, password: string): Promise<boolean> {
      // Never bind with an empty password: LDAP treats it as an anonymous bind, which succeeds.
      if (password === '' || password.length > MAX_PASSWORD || login === '' || login.length > MAX_LOGIN) return false
      const entry = await search(login)
      // An unknown login still costs a bind (to a DN that does not exist), like a known one.
      const dn = entry?.dn ?? `uid=${randomBytes(12).toString('hex')},${o.searchBase}`
      const ok = await bindAs(dn, password)
      return ok && entry !== undefined
    },
    async close(): Promise<void> {
      const s = service
      service = undefined
      if (s) await s.then(close, () => undefined)
    },
  })
}
