/**
 * The user resolver contract. A resolver knows users of one directory (the host app, a file, an
 * LDAP server); realms ({@link Realms}) ask their resolvers in order. Auto-enrolment,
 * `otppin=password`, the `resolver:` policy user forms and `sms_dynamic_mobile_number` all go
 * through this contract, never through a web framework.
 */
import { OtpError } from '../errors.js'

/** Directory attributes sms-otp uses; resolvers may add more (strings only). */
export interface UserAttributes {
  /** Mobile number as the directory holds it (validate it before sending). */
  readonly mobile?: string
  readonly email?: string
  /** The OIDC `phone_number` claim, when a host supplies one. */
  readonly phone_number?: string
  readonly [name: string]: string | undefined
}

/** A user as a resolver found it. */
export interface User {
  /** The login as the directory spells it (may differ in case from what was typed). */
  readonly login: string
  /** The realm it was looked up in. */
  readonly realm: string
  /** Name of the resolver that knows it (for `resolver:` policy forms and audit). */
  readonly resolver: string
  readonly attributes: UserAttributes
}

/**
 * What every resolver implements.
 *
 * - `find` answers `undefined` for a login it does not know, and throws an {@link OtpError}
 *   `ERR_OTP_DIRECTORY` (503) when it cannot tell (directory down, service bind refused, file
 *   unreadable): "no such user" and "cannot ask" are never confused.
 * - `checkPassword` answers `false` for a wrong password, an empty password and an unknown login,
 *   and costs about the same for all three (unknown logins are checked against a dummy).
 *   Infrastructure failures throw `ERR_OTP_DIRECTORY` as above.
 *
 * @example
 * const resolver: UserResolver = {
 *   name: 'app',
 *   find: async (login, realm) => login === 'alice' ? { login, realm, resolver: 'app', attributes: { mobile: '+4915112345678' } } : undefined,
 *   checkPassword: async (login, password) => login === 'alice' && password === 'alice-password',
 * }
 */
export interface UserResolver {
  /** Unique name, used by `resolver:` policy forms and in audit. */
  readonly name: string
  find(login: string, realm: string): Promise<User | undefined>
  checkPassword(login: string, password: string): Promise<boolean>
  /** Releases connections or watchers. Optional. */
  close?(): Promise<void>
}

/** The directory cannot answer (down, refused the service credentials, unreadable). HTTP 503. */
export class DirectoryError extends OtpError {
  constructor(message: string, cause?: unknown) {
    super('ERR_OTP_DIRECTORY', message, { cause, status: 503 })
    this.name = 'DirectoryError'
  }
}

/** Longest login and password a resolver accepts; longer input is "no such user" / false. */
export const MAX_LOGIN = 256
export const MAX_PASSWORD = 1024
