/**
 * An LDAP resolver whose server is named by a host name that must be judged where it resolves
 * (an admin-defined resolver: `allowHosts`, private networks, link-local). The name is resolved
 * with the guarded lookup the providers use, every address is judged, and the resolver then
 * connects to the judged address itself (the URL is rewritten to it, the certificate is still
 * checked against the name): ldapts never resolves the name again, so a DNS answer that changes
 * between check and connect (re-binding) cannot lead elsewhere. After a directory failure the
 * name is resolved and judged again on the next use (a server that moved is found).
 */
import { isIP } from 'node:net'
import { guardedLookup, type DestinationContext } from '../providers/net/destinations.js'
import { ldapResolver, type LdapResolverOptions } from './ldap.js'
import { DirectoryError, type User, type UserResolver } from './types.js'

type Ldap = ReturnType<typeof ldapResolver>

/** Resolves `host` through the guarded lookup: the first address, or the refusal as an error. */
function resolveJudged(ctx: DestinationContext, host: string): Promise<string> {
  const lookup = guardedLookup(ctx)
  return new Promise((ok, fail) => {
    lookup(host, { all: true }, (err, addresses) => {
      if (err) return fail(err)
      const first = Array.isArray(addresses) ? addresses[0]?.address : addresses
      if (first === undefined) fail(new Error(`no address for ${host}`))
      else ok(first)
    })
  })
}

/**
 * @param options `ldapResolver` options whose URL names a host (not an address).
 * @example pinnedLdapResolver({ name: 'corp', url: 'ldaps://ldap.example.org', … }, { origin: 'admin', policy })
 */
export function pinnedLdapResolver(options: LdapResolverOptions, ctx: DestinationContext): UserResolver & { close(): Promise<void> } {
  const url = new URL(options.url)
  const host = url.hostname
  if (isIP(host.replace(/^\[|\]$/g, '')) !== 0) return ldapResolver(options) // an address is judged from its text
  const secure = url.protocol.toLowerCase() === 'ldaps:'
  const port = url.port || (secure ? '636' : '389')
  let current: Ldap | undefined
  let pending: Promise<Ldap> | undefined
  let closed = false

  const inner = (): Promise<Ldap> => {
    if (current) return Promise.resolve(current)
    pending ??= (async () => {
      try {
        const address = await resolveJudged(ctx, host)
        const literal = isIP(address) === 6 ? `[${address}]` : address
        const resolver = ldapResolver({ ...options, url: `${secure ? 'ldaps' : 'ldap'}://${literal}:${port}`, servername: options.servername ?? host })
        if (closed) {
          await resolver.close()
          throw new DirectoryError(`LDAP resolver '${options.name}': closed`)
        }
        current = resolver
        return resolver
      } catch (err) {
        if (err instanceof DirectoryError) throw err
        throw new DirectoryError(`LDAP resolver '${options.name}': ${err instanceof Error ? err.message : String(err)}`, err)
      } finally {
        pending = undefined
      }
    })()
    return pending
  }

  async function run<T>(use: (r: Ldap) => Promise<T>): Promise<T> {
    const r = await inner()
    try {
      return await use(r)
    } catch (err) {
      // Judge the name again next time: the server may have moved (or the name been re-pointed).
      if (err instanceof DirectoryError && current === r) {
        current = undefined
        void r.close()
      }
      throw err
    }
  }

  return Object.freeze({
    name: options.name,
    find: (login: string, realm: string): Promise<User | undefined> => run((r) => r.find(login, realm)),
    checkPassword: (login: string, password: string): Promise<boolean> => run((r) => r.checkPassword(login, password)),
    async close(): Promise<void> {
      closed = true
      const r = current
      current = undefined
      await r?.close()
    },
  })
}
