/**
 * The sibling endpoints of `/validate/check` (LinOTP §2.3–2.6), as framework-free functions that
 * return what the HTTP layer puts into LinOTP's envelope.
 */
import type { Core } from '../core.js'
import { describeError } from '../errors.js'
import type { TokenRecord } from '../stores/types.js'
import { pinMatches, splitPass } from '../tokens/pin.js'
import { acceptOtp } from '../tokens/verify.js'
import { autoSms, check } from './check.js'
import type { AuditFacts, CheckRequest, CheckResult } from './types.js'
import { resolveUser } from './user.js'

/** `/validate/simplecheck`: `:-)` or `:-( [<transactionid> <message>]`. */
export async function simplecheck(core: Core, req: CheckRequest): Promise<{ text: string; audit: AuditFacts; value: boolean }> {
  const result = await check(core, req)
  if (result.value) return { text: ':-)', audit: result.audit, value: true }
  const c = result.challenge
  return { text: c ? `:-( ${c.transactionid} ${c.message}` : ':-(', audit: result.audit, value: false }
}

/**
 * `/validate/smspin`: true when a challenge was sent or is still open (blocked resend). Decision 5:
 * the challenge goes into `detail`, mirrored into `id`. Unlike LinOTP, a custom
 * `SMS_CHALLENGE_PROMPT` does not turn the answer false (LinOTP compares the prompt text).
 */
export async function smspin(core: Core, req: CheckRequest): Promise<CheckResult & { id?: Record<string, unknown> }> {
  const result = await check(core, { ...req, transactionId: undefined })
  if (result.challenge && !result.value) {
    const detail = { ...result.challenge }
    return { value: true, detail, id: detail, challenge: result.challenge, audit: result.audit }
  }
  // A PIN+OTP that authenticated is not what smspin is for: report false, like LinOTP.
  return { value: false, audit: { ...result.audit, reason: result.value ? 'smspin got a valid otp, no sms sent' : result.audit.reason } }
}

/** Result of `/validate/check_t`. */
export interface CheckTResult {
  readonly value: { value: boolean; failcount: number }
  readonly detail: Record<string, unknown>
  readonly audit: AuditFacts
}

/** `/validate/check_t`: OTP against a transaction id; each token checked with its owner. */
export async function checkT(core: Core, pass: string, transactionId: string, client?: string): Promise<CheckTResult> {
  const audit: AuditFacts = { user: '', realm: '', serial: '', action: 'rejected', reason: '' }
  const challenges = await core.store.challenges.findOpen(transactionId, core.clock.now())
  if (challenges.length === 0) {
    const failure = `No challenge for transaction '${transactionId}' found`
    return { value: { value: false, failcount: 0 }, detail: { value: false, failure }, audit: { ...audit, reason: failure } }
  }
  const serials = [...new Set(challenges.map((c) => c.serial))]
  let last: { token: TokenRecord; failcount: number } | undefined
  for (const serial of serials) {
    const token = await core.store.tokens.get(serial)
    if (!token || !token.active) continue
    const who = { ...audit, user: token.user ?? '', realm: token.realm ?? '', serial }
    const reserved = await core.store.tokens.reserveAttempt(serial) // counted before comparing
    if (reserved === undefined) {
      last = { token, failcount: token.failcount }
      Object.assign(audit, who, { reason: 'Failcounter exceeded' })
      continue
    }
    const query = { scope: 'authentication' as const, now: new Date(core.clock.now()), user: token.user ?? '', ...(token.realm ? { realm: token.realm } : {}), ...(client ? { client } : {}) }
    const mode = core.settings.policies.otppin(query)
    const split = splitPass(pass, token, mode, core.settings.config.bool('PrependPin'))
    const otp = pinMatches(split.pin, token, mode, core.secrets) ? split.otp : pass
    const outcome = await acceptOtp(core, token, otp, challenges.filter((c) => c.serial === serial))
    if (outcome.ok) {
      await core.store.tokens.resetFailcount([serial])
      // Decision 7 / §1.9: check_t is an OTP verification like check; the follow-up goes out once.
      await autoSms(core, {}, query, token)
      const value = { value: true, failcount: 0 }
      return { value, detail: { ...value, token_type: 'sms', serial }, audit: { ...who, action: 'authenticated', reason: '' } }
    }
    last = { token, failcount: reserved }
    Object.assign(audit, who, { reason: outcome.reason })
  }
  const value = { value: false, failcount: last?.failcount ?? 0 }
  return { value, detail: { ...value, token_type: 'sms', ...(last ? { serial: last.token.serial } : {}) }, audit }
}

/** Result of `/validate/check_s`: `status` false signals an internal error (LinOTP). */
export type CheckSResult = CheckResult & { readonly status: boolean }

/**
 * `/validate/check_s`: by serial (or the user's only token); policies see a pseudo-user with an
 * empty login in the token's realm. With `trigger_sms` and a `challenge`, a missing `pass` triggers.
 */
export async function checkS(core: Core, req: CheckRequest): Promise<CheckSResult> {
  const audit: AuditFacts = { user: req.user ?? '', realm: '', serial: req.serial ?? '', action: 'rejected', reason: '' }
  try {
    let token: TokenRecord | undefined
    if (req.serial !== undefined) {
      token = await core.store.tokens.get(req.serial)
      if (!token) return { status: false, value: false, audit: { ...audit, reason: 'No token found!' } }
    } else {
      const owned = req.user === undefined ? [] : await ownedTokens(core, req)
      if (owned.length !== 1) {
        return { status: false, value: false, audit: { ...audit, reason: owned.length === 0 ? 'No token found!' : 'More than one token found!' } }
      }
      token = owned[0] as TokenRecord
    }
    const realm = token.realm ?? core.settings.defaultRealm
    const query = { scope: 'authentication' as const, now: new Date(core.clock.now()), user: '', ...(realm ? { realm } : {}), ...(req.client ? { client: req.client } : {}) }
    const triggerWithoutPin = req.pass === undefined && req.challenge !== undefined && core.settings.policies.bool(query, 'trigger_sms')
    if (req.pass === undefined && !triggerWithoutPin) {
      return { status: false, value: false, audit: { ...audit, serial: token.serial, reason: 'Missing parameter: pass' } }
    }
    // Policies are evaluated for the pseudo-user: pass no user, only the token's realm.
    const result = await check(core, { ...req, user: undefined, realm }, { tokens: [token], triggerWithoutPin })
    // LinOTP: check_s signals internal errors (including an SMS that could not be sent) with status false.
    return { ...result, status: result.internalError !== true }
  } catch (err) {
    return { status: false, value: false, audit: { ...audit, reason: describeError(err) } }
  }
}

async function ownedTokens(core: Core, req: CheckRequest): Promise<TokenRecord[]> {
  const who = resolveUser(core.settings, req.user, req.realm)
  return (await core.store.tokens.list({ user: who.login })).filter((t) => t.realm === who.realm)
}
