/**
 * The function resolver: the host application supplies its users through two functions. Use it
 * when users live in the app's own database, or come from an OIDC provider's claims.
 */
import { z } from 'zod'
import { OtpError, invalidOption } from '../errors.js'
import { DirectoryError, MAX_LOGIN, MAX_PASSWORD, type User, type UserAttributes, type UserResolver } from './types.js'

/** What the host's `find` answers for a known login. */
export interface FoundUser {
  /** The login as the app spells it. @default the login asked for */
  readonly login?: string
  /** @default {} */
  readonly attributes?: UserAttributes
}

/** Options of {@link functionResolver}. */
export interface FunctionResolverOptions {
  /** Resolver name (letters, digits, `_.-`, up to 64). */
  readonly name: string
  /** Looks a login up; `undefined` when unknown. Throw when the user store cannot answer. */
  readonly find: (login: string, realm: string) => Promise<FoundUser | undefined>
  /**
   * Checks a password. Never called with an empty password. The host is responsible for making
   * unknown logins cost like known ones (compare against a dummy hash).
   * @default none: every password check answers false (users authenticate elsewhere, e.g. OIDC)
   */
  readonly checkPassword?: (login: string, password: string) => Promise<boolean>
}

export const resolverName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (1 to 64)')

const schema = z.object({
  name: resolverName,
  find: z.function(),
  checkPassword: z.function().optional(),
}).strict()

/** Wraps a host failure so that "cannot ask" is never mistaken for "no such user". */
function wrap(name: string, err: unknown): OtpError {
  return err instanceof OtpError ? err : new DirectoryError(`resolver '${name}': the host's user lookup failed`, err)
}

/**
 * A resolver backed by host functions.
 * @example
 * const app = functionResolver({
 *   name: 'app',
 *   find: async (login) => { const u = await db.user(login); return u && { attributes: { mobile: u.phone } } },
 *   checkPassword: (login, password) => db.checkPassword(login, password),
 * })
 */
export function functionResolver(options: FunctionResolverOptions): UserResolver {
  const parsed = schema.safeParse(options)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw invalidOption(`functionResolver.${issue?.path.join('.') || 'options'}`, issue?.message ?? 'invalid')
  }
  const { name, find, checkPassword } = options
  return Object.freeze({
    name,
    async find(login: string, realm: string): Promise<User | undefined> {
      if (login === '' || login.length > MAX_LOGIN) return undefined
      let found: FoundUser | undefined
      try {
        found = await find(login, realm)
      } catch (err) {
        throw wrap(name, err)
      }
      if (found === undefined || found === null) return undefined
      return Object.freeze({ login: found.login ?? login, realm, resolver: name, attributes: Object.freeze({ ...found.attributes }) })
    },
    async checkPassword(login: string, password: string): Promise<boolean> {
      // An empty password is never a credential (an LDAP bind with one is anonymous and succeeds).
      if (checkPassword === undefined || password === '' || password.length > MAX_PASSWORD || login.length > MAX_LOGIN) return false
      try {
        return (await checkPassword(login, password)) === true
      } catch (err) {
        throw wrap(name, err)
      }
    },
  })
}
