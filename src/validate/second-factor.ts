/**
 * The library's second step for hosts that checked the first factor themselves: `trigger` sends
 * the SMS without a PIN, `verify` checks the OTP of an open transaction. Both are the validate
 * path of `check` with the PIN step taken out, so lockout, single use, failcounter reset,
 * `autosms`, multi-token challenges and the audit behave exactly as on `/validate/check`.
 */
import type { Core } from '../core.js'
import type { TokenRecord } from '../stores/types.js'
import { check, type TransactionLookup } from './check.js'
import type { CheckResult } from './types.js'
import { resolveUser } from './user.js'

/** Parameters of {@link trigger}. */
export interface TriggerRequest {
  readonly user: string
  readonly realm?: string | undefined
  /** End user's address, for client-subnet policies. */
  readonly client?: string | undefined
  /** SMS text template (`<otp>` is added when missing); capped by `SMSRequestTextMaxParts`, ignored under `enforce_smstext`. */
  readonly data?: string | undefined
  /**
   * For auto-enrolment (policy `autoenrollment`) of a user without a token whose directory entry
   * has no `mobile`: a number the host vouches for, such as a verified OIDC `phone_number` claim.
   * Pass only a number the user cannot choose freely at login, or the second factor goes where
   * the attacker wants it.
   */
  readonly phone?: string | undefined
}

/** Parameters of {@link verify}. */
export interface VerifyRequest {
  readonly user: string
  readonly realm?: string | undefined
  readonly transactionId: string
  /** The OTP alone (no PIN). */
  readonly otp: string
  readonly client?: string | undefined
}

/**
 * Sends an SMS to every active, unlocked token of the user (one challenge id answers them all).
 * Answers like `check` with a PIN: value false and the challenge.
 */
export function trigger(core: Core, req: TriggerRequest): Promise<CheckResult> {
  return check(core, { user: req.user, realm: req.realm, client: req.client, data: req.data }, { triggerWithoutPin: true, enrollPhone: req.phone })
}

/** Checks the OTP for an open transaction of this user; tokens of other users never answer it. */
export async function verify(core: Core, req: VerifyRequest): Promise<CheckResult> {
  const who = resolveUser(core.settings, req.user, req.realm)
  const tokens = async (transaction: TransactionLookup): Promise<TokenRecord[]> => {
    const challenges = await transaction()
    const found = await Promise.all([...new Set(challenges.map((c) => c.serial))].map((serial) => core.store.tokens.get(serial)))
    return found.filter((t): t is TokenRecord => t !== undefined && t.user === who.login && t.realm === who.realm)
  }
  return check(core, { user: req.user, realm: req.realm, pass: req.otp, transactionId: req.transactionId, client: req.client }, { tokens, otpOnly: true })
}
