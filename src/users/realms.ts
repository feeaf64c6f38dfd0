/**
 * Realms: each maps to an ordered list of resolvers; the first resolver that knows a login wins.
 * Realm names are case-insensitive (LinOTP stores them in lower case).
 */
import { invalidOption } from '../errors.js'
import type { User, UserResolver } from './types.js'

/** Options of {@link createRealms}: realm name → resolvers in the order they are asked. */
export interface RealmsOptions {
  readonly realms: Readonly<Record<string, readonly UserResolver[]>>
  /** The realm used when none is given. @default the only realm, when there is exactly one */
  readonly defaultRealm?: string
}

/** The user directory of an engine (`otp.users`). */
export interface Users {
  /** Realm names, lower case. */
  readonly realms: readonly string[]
  readonly defaultRealm: string | undefined
  /** The user from the first resolver of `realm` that knows `login`; undefined if none does. */
  find(login: string, realm?: string): Promise<User | undefined>
  /**
   * True when the resolver that knows `login` accepts `password`. An unknown login is checked
   * against the realm's first resolver anyway (it answers false at the cost of a real check).
   */
  checkPassword(login: string, password: string, realm?: string): Promise<boolean>
  /** Closes every resolver that holds connections. */
  close(): Promise<void>
}

/**
 * @example
 * const users = createRealms({ realms: { corp: [ldap, fallbackFile] }, defaultRealm: 'corp' })
 * const alice = await users.find('alice') // { login, realm: 'corp', resolver: 'corp-ldap', attributes: { mobile } }
 */
export function createRealms(options: RealmsOptions): Users {
  if (typeof options !== 'object' || options === null || typeof options.realms !== 'object' || options.realms === null) {
    throw invalidOption('users.realms', 'expected an object of realm name → resolvers')
  }
  const table = new Map<string, readonly UserResolver[]>()
  const names = new Set<string>()
  for (const [realm, resolvers] of Object.entries(options.realms)) {
    const key = realm.toLowerCase()
    if (!/^[a-z0-9_.-]{1,64}$/.test(key)) throw invalidOption(`users.realms.${realm}`, 'realm names are letters, digits, _ . - (1 to 64)')
    if (table.has(key)) throw invalidOption(`users.realms.${realm}`, 'defined twice (realm names are case-insensitive)')
    if (!Array.isArray(resolvers) || resolvers.length === 0) throw invalidOption(`users.realms.${realm}`, 'expected a non-empty array of resolvers')
    for (const r of resolvers as readonly UserResolver[]) {
      if (typeof r?.find !== 'function' || typeof r.checkPassword !== 'function' || typeof r.name !== 'string') {
        throw invalidOption(`users.realms.${realm}`, 'every entry must be a resolver (name, find, checkPassword)')
      }
      names.add(r.name)
    }
    table.set(key, Object.freeze([...resolvers]))
  }
  const defaultRealm = options.defaultRealm?.toLowerCase() ?? (table.size === 1 ? [...table.keys()][0] : undefined)
  if (defaultRealm !== undefined && !table.has(defaultRealm)) throw invalidOption('users.defaultRealm', `no realm '${options.defaultRealm}'`)
  return realmsOf(table, defaultRealm)
}

/**
 * The directory over a checked table (lower-case realm names; a realm may have no resolvers yet:
 * it then knows nobody). `close` closes every resolver of the table.
 */
export function realmsOf(table: ReadonlyMap<string, readonly UserResolver[]>, defaultRealm: string | undefined): Users {
  const resolvers = new Set([...table.values()].flat())

  const realmOf = (realm: string | undefined): [string, readonly UserResolver[]] | undefined => {
    const key = (realm ?? defaultRealm)?.toLowerCase()
    const list = key === undefined ? undefined : table.get(key)
    return key === undefined || list === undefined ? undefined : [key, list]
  }

  async function locate(login: string, realm: string | undefined): Promise<[UserResolver, User] | undefined> {
    const r = realmOf(realm)
    if (!r) return undefined
    for (const resolver of r[1]) {
      const user = await resolver.find(login, r[0])
      if (user) return [resolver, user]
    }
    return undefined
  }

  return Object.freeze({
    realms: Object.freeze([...table.keys()]),
    defaultRealm,
    find: async (login: string, realm?: string) => (await locate(login, realm))?.[1],
    async checkPassword(login: string, password: string, realm?: string): Promise<boolean> {
      const found = await locate(login, realm)
      if (found) return found[0].checkPassword(found[1].login, password)
      const firstResolver = realmOf(realm)?.[1][0]
      if (firstResolver) await firstResolver.checkPassword(login, password)
      return false
    },
    async close(): Promise<void> {
      await Promise.all([...resolvers].map((r) => r.close?.()))
    },
  })
}
