/**
 * Auto-enrolment on first login (LinOTP §1.10, DESIGN.md flow 3): a user who owns no token and
 * passes the first factor gets an SMS token for the directory's `mobile` (or the phone the host
 * supplies, e.g. an OIDC `phone_number` claim) and is challenged at once.
 *
 * Decisions against LinOTP:
 * - The first factor is the directory password on `/validate/check` (LinOTP), or the host's own
 *   first factor on the library's `trigger()` (there the new token gets a random PIN nobody knows:
 *   the token must never be usable with the OTP alone on `/validate/check`).
 * - A wrong password answers like any wrong password (no "failed to authenticate against
 *   userstore" text): the caller has not proven who they are. Failures after the password was
 *   right (no number, invalid number, send failure) answer with their error, as LinOTP does.
 * - The serial is derived from realm and login, so two first logins at once (two processes even)
 *   create one token: the second insert fails and that request challenges the token that won.
 * - If no SMS could be sent the token is removed again: no half token is left behind.
 */
import { createHash, randomBytes } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Core } from '../core.js'
import { describeError, type OtpErrorCode } from '../errors.js'
import { maskPhone, validatePhone } from '../phone/index.js'
import type { PolicyQuery } from '../policy/index.js'
import type { TokenRecord } from '../stores/types.js'
import { buildToken } from '../tokens/enroll.js'
import type { AuditFacts, CheckResult } from './types.js'

/** The request facts auto-enrolment needs. */
export interface EnrollRequest {
  readonly login: string
  readonly realm: string | null
  /** The directory password the user typed (`/validate/check`); undefined when the host did the first factor. */
  readonly password: string | undefined
  /** A phone the host vouches for (OIDC `phone_number`), used when the directory has no `mobile`. */
  readonly phone: string | undefined
}

/** What {@link autoEnroll} decided: not applicable, refused, or a new (or concurrently made) token. */
export type EnrollOutcome =
  | { readonly kind: 'not-applicable' }
  | { readonly kind: 'refused'; readonly result: CheckResult }
  | { readonly kind: 'enrolled'; readonly token: TokenRecord; readonly created: boolean }

/** Longest description LinOTP writes for an auto-enrolled token. */
const DESCRIPTION_MAX = 80

/** Does an `autoenrollment` policy let this user get an SMS token? */
export function autoEnrollmentApplies(core: Core, query: PolicyQuery): boolean {
  const types = core.settings.policies.string({ ...query, scope: 'enrollment' }, 'autoenrollment')
  if (types === undefined) return false
  // Only SMS tokens exist in this product: `email` alone enrols nothing, `email sms` falls back to sms.
  return types.split(' ').some((t) => t === 'sms' || t === '*')
}

/**
 * Enrols an SMS token for `req` when the policy applies and the first factor holds. Throws only
 * for infrastructure failures (directory, store), which `check` answers as internal errors.
 */
export async function autoEnroll(core: Core, req: EnrollRequest, query: PolicyQuery, audit: AuditFacts, refuse: (reason: string) => CheckResult): Promise<EnrollOutcome> {
  if (!autoEnrollmentApplies(core, query)) return { kind: 'not-applicable' }
  const realm = req.realm ?? undefined
  if (req.password !== undefined) {
    // A user without a token has no failcounter: the guesses are counted here instead.
    const guesses = guessesOf(core)
    const key = `${req.realm ?? ''}\0${req.login}`
    const blocked = (guesses.get(key) ?? 0) >= core.settings.config.int('DefaultMaxFailCount')
    // Unknown logins cost a password check too (the realms check a dummy): no enumeration. A
    // blocked login pays the same check, so its answer takes the time of any other.
    const right = await core.users.checkPassword(req.login, req.password, realm)
    if (blocked) return { kind: 'refused', result: refuse('autoenrollment: too many wrong passwords for this login; try again later') }
    if (!right) {
      guesses.set(key, (guesses.get(key) ?? 0) + 1)
      return { kind: 'refused', result: refuse('autoenrollment: wrong password or unknown user') }
    }
    guesses.delete(key)
  }
  const user = await core.users.find(req.login, realm)
  if (user === undefined && req.phone === undefined) return { kind: 'refused', result: refuse('autoenrollment: the user is in no resolver and no phone was supplied') }
  // A directory that ignores case (LDAP) finds `BOB` as `bob`: a token for `BOB` would be a second
  // token of bob's beside a disabled or locked one. Only the directory's spelling is enrolled.
  if (user !== undefined && user.login !== req.login) return { kind: 'refused', result: refuse('autoenrollment: the login is not spelled as in the directory') }
  const number = user?.attributes.mobile || req.phone || user?.attributes.phone_number
  const who = `${req.login}@${req.realm ?? ''}`
  if (!number) return { kind: 'refused', result: visible(refuse, 'ERR_OTP_INVALID_PHONE', `auto_enrollment for user ${who} failed: missing mobile number!`) }
  let phone: string
  try {
    phone = validatePhone(number)
  } catch (err) {
    return { kind: 'refused', result: visible(refuse, 'ERR_OTP_INVALID_PHONE', `auto_enrollment for user ${who} failed: ${describeError(err)}`) }
  }
  const config = core.settings.config
  const token = buildToken(
    {
      serial: autoSerial(req.login, req.realm),
      phone,
      // LinOTP: the PIN is the password just used. Without one (host first factor): a random PIN.
      pin: req.password ?? randomBytes(24).toString('base64url'),
      description: `auto enrolled for ${who}`.slice(0, DESCRIPTION_MAX),
    },
    { user: req.login, realm: req.realm },
    { otplen: config.int('DefaultOtpLen'), maxfail: config.int('DefaultMaxFailCount'), countWindow: config.int('DefaultCountWindow') },
    core.secrets,
    core.clock.now(),
  )
  try {
    await core.store.tokens.create(token)
  } catch (err) {
    // Another request enrolled this user a moment ago: challenge the token that won.
    const existing = await core.store.tokens.get(token.serial)
    if (existing && existing.user === req.login && existing.realm === req.realm) return { kind: 'enrolled', token: existing, created: false }
    throw err
  }
  core.logger.info({ serial: token.serial, user: req.login, realm: req.realm, phone: maskPhone(phone), resolver: user?.resolver }, 'token auto-enrolled')
  audit.serial = token.serial
  return { kind: 'enrolled', token, created: true }
}

/**
 * Wrong first-factor passwords per (realm, login) of users without a token, for this process:
 * bounded (LRU) and forgotten after 15 minutes. After `DefaultMaxFailCount` of them the login
 * cannot enrol (answered like a wrong password) until the window passes.
 */
const GUESS_WINDOW_MS = 15 * 60_000
const guessTables = new WeakMap<Core['store'], LRUCache<string, number>>()
function guessesOf(core: Core): LRUCache<string, number> {
  let t = guessTables.get(core.store)
  if (!t) guessTables.set(core.store, (t = new LRUCache<string, number>({ max: 100_000, ttl: GUESS_WINDOW_MS, updateAgeOnGet: false })))
  return t
}

/** Removes a token auto-enrolled by this request whose first SMS could not be sent. */
export async function undoEnrolment(core: Core, token: TokenRecord): Promise<void> {
  await core.store.challenges.removeForToken(token.serial)
  await core.store.tokens.remove(token.serial)
  core.logger.warn({ serial: token.serial }, 'auto-enrolled token removed: no SMS could be sent')
}

/** Serials of auto-enrolled tokens start with it; `/admin/init` refuses it. */
export const AUTO_SERIAL_PREFIX = 'SMSAE'

/** `SMSAE` + 16 hex digits of SHA-256(realm, login): one auto-enrolled token per user. */
export function autoSerial(login: string, realm: string | null): string {
  return `${AUTO_SERIAL_PREFIX}${createHash('sha256').update(`${realm ?? ''}\0${login}`).digest('hex').slice(0, 16).toUpperCase()}`
}

/** A refusal the caller may see: the user proved the first factor, the problem is the setup. */
function visible(refuse: (reason: string) => CheckResult, code: OtpErrorCode, message: string): CheckResult {
  const r = refuse(message)
  return { ...r, detail: { ...r.detail, error: message }, error: { code, message } }
}
