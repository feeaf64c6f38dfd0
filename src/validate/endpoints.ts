/**
 * The sibling endpoints of `/validate/check` (LinOTP §2.3–2.6), as framework-free functions that
 * return what the HTTP layer puts into LinOTP's envelope.
 */
import type { Core } from '../core.js'
import { describeError } from '../errors.js'
import type { ChallengeRecord, TokenRecord } from '../stores/types.js'
import { check } from './check.js'
import { isDecoy, spendDecoy } from './decoy.js'
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

/**
 * `/validate/check_t`: PIN+OTP or the OTP alone against a transaction id, through the one verify
 * path. Policies are those of the tokens' owner (a transaction belongs to one user's tokens).
 */
export async function checkT(core: Core, pass: string, transactionId: string, client?: string): Promise<CheckTResult> {
  const audit: AuditFacts = { user: '', realm: '', serial: '', action: 'rejected', reason: '' }
  const failed = (reason: string, detail: Record<string, unknown>): CheckTResult => ({ value: { value: false, failcount: 0 }, detail, audit: { ...audit, reason } })
  let tokens: TokenRecord[]
  let challenges: ChallengeRecord[]
  try {
    challenges = await core.store.challenges.findOpen(transactionId, core.clock.now())
    // LinOTP's failure text names the id; the audit does not (transaction ids stay out of info logs).
    if (challenges.length === 0) return failed('no open challenge for this transaction id', { value: false, failure: `No challenge for transaction '${transactionId}' found` })
    const found = await Promise.all([...new Set(challenges.map((c) => c.serial))].map((serial) => core.store.tokens.get(serial)))
    tokens = found.filter((t): t is TokenRecord => t !== undefined)
  } catch (err) {
    return failed(describeError(err), { value: false })
  }
  const owner = tokens[0]
  const result = await check(core, { user: owner?.user ?? undefined, realm: owner?.realm ?? undefined, pass, transactionId, client }, { tokens, found: challenges })
  const value = { value: result.value, failcount: result.evaluated?.failcount ?? 0 }
  return { value, detail: { ...value, token_type: 'sms', ...(result.evaluated ? { serial: result.evaluated.serial } : {}) }, audit: result.audit }
}

/** Result of `/validate/check_s`: `status` false signals an internal error (LinOTP). */
export type CheckSResult = CheckResult & { readonly status: boolean }

/**
 * `/validate/check_s`: by serial (or the user's only token); policies see a pseudo-user with an
 * empty login in the token's realm. With `trigger_sms` and a `challenge`, a missing `pass` triggers.
 *
 * Whether a serial or user exists never shows in the answer: no usable token (none, or a user with
 * several) is answered like a known token that was not triggered (no `pass`) or got a wrong one
 * (after the same work). LinOTP answers `status: false` there, which a guesser can tell apart.
 */
export async function checkS(core: Core, req: CheckRequest): Promise<CheckSResult> {
  const audit: AuditFacts = { user: req.user ?? '', realm: '', serial: req.serial ?? '', action: 'rejected', reason: '' }
  const missingPass = (reason: string, serial = audit.serial): CheckSResult => ({ status: false, value: false, audit: { ...audit, serial, reason } })
  try {
    // Without a pass, only trigger_sms with a challenge can act: anything else is refused alike.
    if (req.pass === undefined && req.challenge === undefined) return missingPass('Missing parameter: pass')
    const candidates = req.serial !== undefined ? await tokenBySerial(core, req.serial) : req.user === undefined ? [] : await ownedTokens(core, req)
    const token = candidates.length === 1 ? candidates[0] : undefined
    if (token === undefined) {
      const reason = candidates.length > 1 ? 'More than one token found!' : 'No token found!'
      if (req.pass === undefined) return missingPass(reason)
      const id = req.transactionId
      await spendDecoy(core, req.pass, id === undefined ? undefined : () => core.store.challenges.findOpen(id, core.clock.now()), 'token_pin')
      return { status: true, value: false, audit: { ...audit, reason } }
    }
    const realm = token.realm ?? core.settings.defaultRealm
    const query = { scope: 'authentication' as const, now: new Date(core.clock.now()), user: '', ...(realm ? { realm } : {}), ...(req.client ? { client: req.client } : {}) }
    const triggerWithoutPin = req.pass === undefined && core.settings.policies.bool(query, 'trigger_sms')
    if (req.pass === undefined && !triggerWithoutPin) return missingPass('Missing parameter: pass', token.serial)
    // Policies are evaluated for the pseudo-user: pass no user, only the token's realm.
    const result = await check(core, { ...req, user: undefined, realm }, { tokens: [token], triggerWithoutPin })
    // LinOTP: check_s signals internal errors (including an SMS that could not be sent) with status false.
    return { ...result, status: result.internalError !== true }
  } catch (err) {
    return { status: false, value: false, audit: { ...audit, reason: describeError(err) } }
  }
}

async function tokenBySerial(core: Core, serial: string): Promise<TokenRecord[]> {
  const token = isDecoy(serial) ? undefined : await core.store.tokens.get(serial)
  return token ? [token] : []
}

async function ownedTokens(core: Core, req: CheckRequest): Promise<TokenRecord[]> {
  const who = resolveUser(core.settings, req.user, req.realm)
  return (await core.store.tokens.list({ user: who.login })).filter((t) => t.realm === who.realm)
}
