/**
 * The engine's live user directory (`otp.users`, `core.users`): the realms and resolvers given in
 * code, plus the resolver definitions and realm records kept in the settings store. The settings
 * call {@link Directory.update} after every change, so a request sees a new realm or resolver at
 * once, without a restart. A resolver whose definition did not change is kept (with its LDAP
 * connection); a replaced or deleted one is closed.
 */
import { describeError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { ResourceContext } from '../providers/resources.js'
import { buildResolver } from './build.js'
import type { ResolverDefinition, ResolverOrigin } from './definitions.js'
import { createRealms, realmsOf, type RealmsOptions, type Users } from './realms.js'
import { DirectoryError, type User, type UserResolver } from './types.js'

/** A stored resolver definition and who made it. */
export interface StoredResolver {
  readonly definition: ResolverDefinition
  readonly origin: ResolverOrigin
  /** Why the stored record cannot be used (its secrets do not decrypt): the resolver then fails when asked. */
  readonly error?: string
}

/** A stored realm: its default flag and the names of its resolvers, in the order they are asked. */
export interface DirectoryRealm {
  readonly name: string
  readonly default: boolean
  readonly resolvers: readonly string[]
}

interface Built {
  readonly key: string
  readonly resolver: UserResolver
}

/** A resolver that could not be built: every use is a directory failure that says why. */
function unusable(name: string, err: unknown): UserResolver {
  const fail = (): never => {
    throw new DirectoryError(`resolver '${name}' is not usable: ${err instanceof Error ? err.message : String(err)}`, err)
  }
  return Object.freeze({ name, find: async () => fail(), checkPassword: async () => fail() })
}

export class Directory implements Users {
  readonly #code: Users
  readonly #codeRealms: ReadonlyMap<string, readonly UserResolver[]>
  readonly #codeResolvers: ReadonlyMap<string, UserResolver>
  readonly #codeDefault: string | undefined
  readonly #logger: Logger
  #built = new Map<string, Built>()
  #snapshot: Users
  #queue: Promise<unknown> = Promise.resolve()

  /** @throws TypeError `ERR_OTP_INVALID_OPTION` for bad code realms (as {@link createRealms}). */
  constructor(options: RealmsOptions | undefined, logger: Logger) {
    this.#code = createRealms(options ?? { realms: {} })
    const realms = new Map<string, readonly UserResolver[]>()
    const resolvers = new Map<string, UserResolver>()
    for (const [name, list] of Object.entries(options?.realms ?? {})) {
      realms.set(name.toLowerCase(), list)
      for (const r of list) if (!resolvers.has(r.name)) resolvers.set(r.name, r)
    }
    this.#codeRealms = realms
    this.#codeResolvers = resolvers
    this.#codeDefault = this.#code.defaultRealm
    this.#logger = logger
    this.#snapshot = this.#code
  }

  get realms(): readonly string[] {
    return this.#snapshot.realms
  }
  get defaultRealm(): string | undefined {
    return this.#snapshot.defaultRealm
  }
  find(login: string, realm?: string): Promise<User | undefined> {
    return this.#snapshot.find(login, realm)
  }
  checkPassword(login: string, password: string, realm?: string): Promise<boolean> {
    return this.#snapshot.checkPassword(login, password, realm)
  }

  /** Names of the resolvers given in code (origin `local`, not changeable through the API). */
  get codeResolvers(): readonly string[] {
    return [...this.#codeResolvers.keys()]
  }
  /** The code realm's resolver names, or undefined when `realm` is not a code realm. */
  codeRealm(realm: string): readonly string[] | undefined {
    return this.#codeRealms.get(realm.toLowerCase())?.map((r) => r.name)
  }
  get codeRealms(): readonly string[] {
    return [...this.#codeRealms.keys()]
  }
  /** The default realm given in code (or the only code realm). */
  get codeDefaultRealm(): string | undefined {
    return this.#codeDefault
  }

  /**
   * Rebuilds the realms from stored definitions and realm records (serialised: one update at a
   * time). A definition that cannot be built (e.g. the allow-lists changed since it was set) is
   * logged and answers `ERR_OTP_DIRECTORY` when used; the other resolvers keep working.
   */
  update(stored: readonly StoredResolver[], realms: readonly DirectoryRealm[], context: (origin: ResolverOrigin) => ResourceContext): Promise<void> {
    const run = this.#queue.then(() => this.#apply(stored, realms, context))
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #apply(stored: readonly StoredResolver[], realms: readonly DirectoryRealm[], context: (origin: ResolverOrigin) => ResourceContext): Promise<void> {
    const next = new Map<string, Built>()
    for (const { definition, origin, error } of stored) {
      const name = definition.name
      if (this.#codeResolvers.has(name)) {
        this.#logger.warn({ resolver: name }, 'a stored resolver definition has the name of a resolver given in code: the code one is used')
        continue
      }
      const key = JSON.stringify([origin, definition.type, definition.params, error])
      const old = this.#built.get(name)
      if (old?.key === key) {
        next.set(name, old)
        continue
      }
      let resolver: UserResolver
      try {
        if (error !== undefined) throw new Error(error)
        resolver = await buildResolver(definition, context(origin))
      } catch (err) {
        this.#logger.warn({ resolver: name, err: describeError(err) }, 'resolver definition cannot be used')
        resolver = unusable(name, err)
      }
      next.set(name, { key, resolver })
    }
    const dropped = [...this.#built.values()].filter((b) => next.get(b.resolver.name) !== b).map((b) => b.resolver)

    const table = new Map<string, UserResolver[]>()
    for (const [name, list] of this.#codeRealms) table.set(name, [...list])
    for (const realm of realms) {
      const list = table.get(realm.name) ?? []
      for (const name of realm.resolvers) {
        const resolver = this.#codeResolvers.get(name) ?? next.get(name)?.resolver
        if (resolver === undefined) this.#logger.warn({ realm: realm.name, resolver: name }, 'a realm names a resolver that does not exist (any more): skipped')
        else if (!list.includes(resolver)) list.push(resolver)
      }
      table.set(realm.name, list)
    }
    const defaultRealm = realms.find((r) => r.default)?.name ?? this.#codeDefault
    this.#built = next
    this.#snapshot = realmsOf(table, defaultRealm)
    await Promise.allSettled(dropped.map((r) => r.close?.()))
  }

  /** Closes every resolver: the stored ones and those given in code. */
  async close(): Promise<void> {
    await this.#queue
    const built = [...this.#built.values()].map((b) => b.resolver)
    this.#built = new Map()
    await Promise.allSettled([...built.map((r) => r.close?.()), this.#code.close()])
  }
}
