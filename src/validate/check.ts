/**
 * LinOTP `/validate/check` semantics (§1.4, §1.8, §2.2, §5): every candidate token of the user is
 * classified as response (PIN+OTP, or anything with a transaction id), challenge request (the whole
 * `pass` is a correct PIN under the otppin mode) or invalid; responses are verified, requests
 * trigger SMS, invalid tokens count a failure. The client never learns why a check failed: the
 * reason goes to the audit.
 */
import type { Core } from '../core.js'
import { describeError, isOtpError } from '../errors.js'
import { maskPhone } from '../phone/index.js'
import type { PolicyQuery } from '../policy/index.js'
import type { ChallengeRecord, TokenRecord } from '../stores/types.js'
import { pinMatches, splitPass, type PinMode } from '../tokens/pin.js'
import { triggerSms, type TriggerOutcome } from '../tokens/trigger.js'
import { acceptOtp, openChallenges } from '../tokens/verify.js'
import { subTransactionId, newTransactionId } from '../challenges/ids.js'
import { autoEnroll, undoEnrolment } from './autoenroll.js'
import { isDecoy, spendDecoy } from './decoy.js'
import type { AuditFacts, CheckRequest, CheckResult } from './types.js'
import { resolveUser } from './user.js'

/** Options the sibling endpoints and the library's second step use to bend `check`. */
export interface CheckOptions {
  /**
   * Candidate tokens chosen by the caller (check_s, check_t), or a lookup run inside the check so
   * a store failure is answered and audited like any other (verify: it receives the request's
   * transaction lookup, which runs once per request); otherwise the user's tokens.
   */
  readonly tokens?: readonly TokenRecord[] | ((transaction: TransactionLookup) => Promise<readonly TokenRecord[]>)
  /** The open challenges of `req.transactionId`, when the caller has looked them up already (check_t). */
  readonly found?: readonly ChallengeRecord[]
  /**
   * A missing `pass` triggers without a PIN check (check_s with `trigger_sms`, or the library's
   * `trigger()` after the host checked the first factor).
   */
  readonly triggerWithoutPin?: boolean
  /** `pass` is the OTP alone, never PIN+OTP (the library's `verify()`): the otppin mode is not read. */
  readonly otpOnly?: boolean
  /**
   * A phone the host vouches for (an OIDC `phone_number` claim), for auto-enrolment when the
   * directory has no `mobile`. Never taken from the wire: whoever knows a password could
   * otherwise route the second factor to their own phone.
   */
  readonly enrollPhone?: string | undefined
}

type Verdict =
  | { kind: 'success'; token: TokenRecord; pinLength: number }
  | { kind: 'trigger'; token: TokenRecord; reserved: boolean }
  | { kind: 'invalid'; token: TokenRecord; reason: string; failcount: number }
  | { kind: 'locked'; token: TokenRecord }

/**
 * Runs LinOTP's check for one request: the one verify path (reserve → compare → accept → reset →
 * autosms) that every face and endpoint uses. Never throws for runtime outcomes.
 */
export async function check(core: Core, req: CheckRequest, options: CheckOptions = {}): Promise<CheckResult> {
  const who = resolveUser(core.settings, req.user, req.realm)
  let query = policyQuery(core, who, req)
  const audit: AuditFacts = { user: who.login, realm: who.realm ?? '', serial: '', action: 'rejected', reason: '' }
  const fail = (reason: string): CheckResult => ({ value: false, audit: { ...audit, reason }, ...failDetail(core, query, reason) })
  const transaction = transactionLookup(core, req.transactionId, options.found)
  try {
    query = await withDirectory(core, query, who)
    const tokens = typeof options.tokens === 'function' ? await options.tokens(transaction) : (options.tokens ?? (await candidateTokens(core, who.login, who.realm, req.serial)))
    audit.serial = tokens.map((t) => t.serial).join(',')
    if (req.pass === undefined && !options.triggerWithoutPin) return fail("Missing parameter: 'pass'")
    const mode: PinMode = options.otpOnly ? 'only_otp' : core.settings.policies.otppin(query)
    const pinOk = pinChecker(core, mode, who)

    const verdicts: Verdict[] = []
    for (const token of tokens) {
      if (!token.active) continue
      if (req.pass === undefined) {
        // Nothing is compared, so nothing is counted; a locked token still sends nothing.
        verdicts.push(token.failcount >= token.maxfail ? { kind: 'locked', token } : { kind: 'trigger', token, reserved: false })
        continue
      }
      // The attempt is counted before anything is compared, atomically: however many requests
      // run at once (pipelined, several processes), a token grants at most maxfail comparisons.
      // A locked token is not counted again (LinOTP does): it stays locked until an admin reset
      // either way, and a burst of requests that finds it briefly at maxfail must not wedge it.
      const failcount = await core.store.tokens.reserveAttempt(token.serial)
      if (failcount === undefined) {
        verdicts.push({ kind: 'locked', token })
        continue
      }
      try {
        verdicts.push(await classify(core, token, req, mode, failcount, pinOk, transaction))
      } catch (err) {
        // Nothing was judged (the directory or the store failed): an outage must not use up
        // the user's attempts. Then answered as an internal error below.
        await core.store.tokens.releaseAttempt(token.serial).catch(() => undefined)
        throw err
      }
    }
    // No token was compared (unknown user, no token, none active, all locked): do the work a
    // wrong PIN costs anyway, so the answer's timing does not tell which case this was.
    if (req.pass !== undefined && !verdicts.some((v) => v.kind !== 'locked')) {
      await spendDecoy(core, req.pass, req.transactionId === undefined ? undefined : transaction, mode)
      // Under otppin=password a wrong password costs the directory's checks: so does no token.
      if (mode === 'password') await decoyPasswordChecks(core, req, pinOk)
    }
    if (tokens.length === 0 && options.tokens === undefined && req.serial === undefined && req.transactionId === undefined && who.login !== '') {
      const enrolled = await autoEnroll(core, { login: who.login, realm: who.realm, password: req.pass, phone: options.enrollPhone }, query, audit, fail)
      if (enrolled.kind === 'refused') return enrolled.result
      if (enrolled.kind === 'enrolled') {
        const result = await triggerAll(core, req, query, [enrolled.token], audit).catch(async (err: unknown) => {
          // The store failed after the token was made: no half token either.
          if (enrolled.created) await undoEnrolment(core, enrolled.token).catch(() => undefined)
          throw err
        })
        if (result.internalError && enrolled.created) await undoEnrolment(core, enrolled.token)
        if (!result.sms) return result
        return { ...result, sms: { ...result.sms, enrolled: enrolled.token.serial }, audit: { ...result.audit, action: `token auto-enrolled, ${result.audit.action}` } }
      }
    }
    if (tokens.length === 0) return fail(who.login === '' && options.tokens === undefined ? 'no user given' : 'user has no token')
    if (verdicts.length === 0) return fail('no active token')
    return await conclude(core, req, query, verdicts, audit)
  } catch (err) {
    const message = describeError(err)
    return { ...fail(message), internalError: true, error: { code: isOtpError(err) ? err.code : 'ERR_OTP_STORE', message } }
  }
}

/** Is `pin` the right PIN for `token`? Under `otppin=password`, the user's directory password. */
type PinCheck = (pin: string, token: TokenRecord | undefined) => Promise<boolean>

/**
 * The PIN check of one request. `password` asks the user's directory (once per candidate string:
 * `classify` tries the PIN part and the whole pass, for each token); a directory failure throws
 * `ERR_OTP_DIRECTORY`, which `check` answers as an internal error, never as a wrong PIN.
 */
function pinChecker(core: Core, mode: PinMode, who: { login: string; realm: string | null }): PinCheck {
  if (mode !== 'password') return async (pin, token) => token !== undefined && pinMatches(pin, token, mode, core.secrets)
  const asked = new Map<string, Promise<boolean>>()
  return (pin) => {
    let answer = asked.get(pin)
    if (answer === undefined) asked.set(pin, (answer = core.users.checkPassword(who.login, pin, who.realm ?? undefined)))
    return answer
  }
}

/** The directory checks a wrong password would cost (the PIN part, then the whole pass). */
async function decoyPasswordChecks(core: Core, req: CheckRequest, pinOk: PinCheck): Promise<void> {
  const pass = req.pass ?? ''
  const otplen = core.settings.config.int('DefaultOtpLen')
  const part = pass.length < otplen ? pass : core.settings.config.bool('PrependPin') ? pass.slice(0, pass.length - otplen) : pass.slice(otplen)
  await pinOk(part, undefined).catch(() => false)
  if (req.transactionId === undefined) await pinOk(pass, undefined).catch(() => false)
}

/** The open challenges of the request's transaction id, looked up at most once per request. */
export type TransactionLookup = () => Promise<readonly ChallengeRecord[]>

function transactionLookup(core: Core, transactionId: string | undefined, found: readonly ChallengeRecord[] | undefined): TransactionLookup {
  let open: Promise<readonly ChallengeRecord[]> | undefined = found && Promise.resolve(found)
  return () => (open ??= transactionId === undefined ? Promise.resolve([]) : core.store.challenges.findOpen(transactionId, core.clock.now()))
}

async function classify(core: Core, token: TokenRecord, req: CheckRequest, mode: PinMode, failcount: number, pinCheck: PinCheck, transaction: TransactionLookup): Promise<Verdict> {
  const pass = req.pass as string
  const invalid = (reason: string): Verdict => ({ kind: 'invalid', token, reason, failcount })
  const prependPin = core.settings.config.bool('PrependPin')
  const split = splitPass(pass, token, mode, prependPin)
  const pinOk = await pinCheck(split.pin, token)
  if (req.transactionId !== undefined) {
    // A response by transaction id: PIN+OTP or the OTP alone.
    const otp = pinOk ? split.otp : pass
    const outcome = await acceptOtp(core, token, otp, (await transaction()).filter((c) => c.serial === token.serial))
    return outcome.ok ? { kind: 'success', token, pinLength: pinOk ? split.pin.length : 0 } : invalid(outcome.reason)
  }
  if (pinOk && split.otp !== '') {
    const outcome = await acceptOtp(core, token, split.otp, await openChallenges(core, token))
    if (outcome.ok) return { kind: 'success', token, pinLength: split.pin.length }
    if (outcome.reason === 'otp already used (counter moved)') return invalid(outcome.reason)
  }
  if (mode === 'ignore_pin' && split.otp !== '' && (await openChallenges(core, token)).length > 0) {
    // LinOTP would treat this as a new challenge request, which (inside the blocking time) never
    // counts a failure: OTP guessing would be unlimited. While a challenge is open it is a wrong answer.
    return invalid('wrong otp')
  }
  if (await pinCheck(pass, token)) return { kind: 'trigger', token, reserved: true }
  return invalid(pinOk ? 'wrong otp' : 'wrong otp pin')
}

async function conclude(core: Core, req: CheckRequest, query: PolicyQuery, verdicts: Verdict[], audit: AuditFacts): Promise<CheckResult> {
  // A locked token was skipped, not evaluated (§5): another token's success must not unlock it.
  const involved = verdicts.filter((v) => v.kind !== 'locked').map((v) => v.token.serial)
  const successes = verdicts.filter((v) => v.kind === 'success')
  if (successes.length > 1) return rejected(core, query, audit, 'multiple token match error')
  const success = successes[0]
  if (success) {
    await core.store.tokens.resetFailcount(involved)
    await autoSms(core, req, query, success.token)
    const detail: Record<string, unknown> = {}
    if (req.authInfo) detail.auth_info = [['pin_length', success.pinLength], ['otp_length', success.token.otplen]]
    if (core.settings.policies.bool({ ...query, scope: 'authorization' }, 'detail_on_success')) {
      Object.assign(detail, { user: { username: query.user ?? '' }, realm: query.realm ?? '', is_linotp_admin: false, tokentype: 'sms', serial: success.token.serial })
    }
    return {
      value: true,
      ...(Object.keys(detail).length ? { detail } : {}),
      evaluated: { serial: success.token.serial, failcount: 0 },
      audit: { ...audit, serial: success.token.serial, action: 'authenticated', reason: '' },
    }
  }

  const toTrigger = verdicts.filter((v) => v.kind === 'trigger')
  if (toTrigger.length > 0) {
    // A correct PIN that only asks for an SMS is no failed attempt: its slot is given back (by the
    // trigger, in its own store step), and so are the slots of sibling tokens whose PIN simply did
    // not match (LinOTP does not count those when another token triggers). An OTP that was
    // compared and wrong stays counted. A trigger without a PIN took no attempt and gives none back.
    for (const v of verdicts) {
      if (v.kind === 'invalid' && v.reason === 'wrong otp pin') await core.store.tokens.releaseAttempt(v.token.serial)
    }
    const reserved = new Set(toTrigger.filter((v) => v.reserved).map((v) => v.token.serial))
    return triggerAll(core, req, query, toTrigger.map((v) => v.token), audit, reserved)
  }

  // Every invalid verdict was counted when its attempt was reserved.
  const reasons = verdicts.map((v) => `${v.token.serial}: ${v.kind === 'invalid' ? v.reason : 'Failcounter exceeded'}`)
  const last = verdicts.at(-1) as Verdict
  const evaluated = { serial: last.token.serial, failcount: last.kind === 'invalid' ? last.failcount : last.token.failcount }
  return { ...rejected(core, query, audit, reasons.join('; ')), evaluated }
}

/** Triggers every token in `tokens`; those in `reserved` hold an attempt this request must give back. */
async function triggerAll(core: Core, req: CheckRequest, query: PolicyQuery, tokens: TokenRecord[], audit: AuditFacts, reserved: ReadonlySet<string> = new Set()): Promise<CheckResult> {
  const text = req.challenge !== undefined ? { challenge: req.challenge } : { data: req.data, message: req.message }
  const outcomes: Array<[TokenRecord, TriggerOutcome]> = []
  let ids: Awaited<ReturnType<typeof multiTokenIds>> | undefined
  let reached = 0 // a trigger gives its own attempt back, even when it throws
  try {
    ids = tokens.length > 1 ? await multiTokenIds(core, tokens) : undefined
    for (const token of tokens) {
      reached++
      const ctx = { user: query.user ?? '', realm: query.realm, client: query.client, directory: query.directory, text, releaseAttempt: reserved.has(token.serial), ...(ids ? { transactionId: ids.next() } : {}) }
      outcomes.push([token, await triggerSms(core, token, ctx)])
    }
  } catch (err) {
    // The store failed: the tokens not reached yet still hold this request's attempt.
    for (const token of tokens.slice(reached)) if (reserved.has(token.serial)) await core.store.tokens.releaseAttempt(token.serial).catch(() => undefined)
    throw err
  }
  const base = ids?.base
  const ok = outcomes.filter((o): o is [TokenRecord, Exclude<TriggerOutcome, { kind: 'failed' }>] => o[1].kind !== 'failed')
  const reasons = outcomes.map(([t, o]) => `${t.serial}: ${o.kind === 'failed' ? o.reason : o.kind === 'sent' ? `sms sent via ${o.provider}` : 'challenge already submitted'}`).join('; ')
  if (ok.length === 0) return { ...rejected(core, query, audit, reasons), internalError: true, error: { code: 'ERR_OTP_PROVIDER_UNAVAILABLE', message: reasons } }
  const sent = ok.some(([, o]) => o.kind === 'sent')
  const action = sent ? 'challenge triggered' : 'challenge blocked'
  // The resend time follows the newest challenge: a new trigger sends only once all are past it.
  const blockMs = core.settings.config.int('SMSBlockingTimeout') * 1000
  const newest = Math.max(...ok.map(([, o]) => o.createdAt))
  const resendInSeconds = Math.max(0, Math.ceil((newest + blockMs - core.clock.now()) / 1000))
  const serials = ok.map(([t]) => t.serial)
  if (ok.length === 1) {
    const [token, outcome] = ok[0] as (typeof ok)[number]
    const sms = { transactionId: outcome.reply.transactionid, message: outcome.reply.message, serials, maskedPhone: maskPhone(outcome.kind === 'sent' ? outcome.phone : token.phone), resendInSeconds, sent }
    return { value: false, detail: { ...outcome.reply }, challenge: outcome.reply, sms, audit: { ...audit, serial: token.serial, action, reason: reasons } }
  }
  const challenges = Object.fromEntries(ok.map(([t, o]) => [t.serial, o.reply]))
  const first = (ok[0] as (typeof ok)[number])[1].reply
  const reply = { ...first, transactionid: base as string, state: base as string, message: 'Multiple challenges submitted.' }
  const sms = { transactionId: reply.transactionid, message: reply.message, serials, resendInSeconds, sent }
  return { value: false, detail: { transactionid: base, message: reply.message, challenges }, challenge: reply, sms, audit: { ...audit, action, reason: reasons } }
}

/**
 * Transaction ids of a multi-token trigger. When a token still has a challenge inside its blocking
 * time (it will answer "already submitted"), that challenge's base is reused, so the one top-level
 * id answers every token (`findOpen` widens a base to its `.NN` sub ids); new sub ids skip the
 * ones in use.
 */
async function multiTokenIds(core: Core, tokens: TokenRecord[]): Promise<{ base: string; next(): string }> {
  const now = core.clock.now()
  const blockMs = core.settings.config.int('SMSBlockingTimeout') * 1000
  let base: string | undefined
  for (const token of tokens) {
    const [recent] = await core.store.challenges.listOpen(token.serial, now, 1)
    if (recent && now <= recent.createdAt + blockMs) {
      base = recent.transactionId.split('.')[0] as string
      break
    }
  }
  const chosen = base ?? newTransactionId(core.settings.config.int('TransactionIdLength'))
  const used = new Set((await core.store.challenges.findOpen(chosen, now)).map((c) => c.transactionId))
  let n = 0
  return {
    base: chosen,
    next() {
      let id: string
      do id = subTransactionId(chosen, ++n)
      while (used.has(id))
      return id
    },
  }
}

/** Decision 7: the follow-up SMS is sent exactly once, after the final success. */
export async function autoSms(core: Core, req: CheckRequest, query: PolicyQuery, token: TokenRecord): Promise<void> {
  if (!core.settings.policies.bool(query, 'autosms')) return
  const fresh = await core.store.tokens.get(token.serial)
  if (!fresh) return
  try {
    const outcome = await triggerSms(core, fresh, { user: query.user ?? '', realm: query.realm, client: query.client, directory: query.directory, text: { data: req.data, message: req.message }, ignoreBlocking: true })
    if (outcome.kind === 'failed') core.logger.warn({ serial: token.serial, reason: outcome.reason }, 'autosms failed')
  } catch (err) {
    // The OTP was accepted already; a failing follow-up must not turn the answer into false.
    core.logger.warn({ serial: token.serial, reason: describeError(err) }, 'autosms failed')
  }
}

function rejected(core: Core, query: PolicyQuery, audit: AuditFacts, reason: string): CheckResult {
  return { value: false, audit: { ...audit, action: 'rejected', reason }, ...failDetail(core, query, reason) }
}

function failDetail(core: Core, query: PolicyQuery, reason: string): { detail?: Record<string, unknown> } {
  return core.settings.policies.bool({ ...query, scope: 'authorization' }, 'detail_on_fail') ? { detail: { error: reason } } : {}
}

/**
 * The user's directory entry for the `resolver:` and `#attr` policy user forms, looked up only when
 * a policy asks for it (most installations never pay for the lookup). A directory that cannot
 * answer throws: the request is an internal error rather than judged under the wrong policies.
 */
async function withDirectory(core: Core, query: PolicyQuery, who: { login: string; realm: string | null }): Promise<PolicyQuery> {
  if (!core.settings.policies.needsDirectory || who.login === '') return query
  const user = await core.users.find(who.login, who.realm ?? undefined)
  return user === undefined ? query : { ...query, directory: { resolver: user.resolver, attributes: user.attributes } }
}

/** Policy `time` conditions are evaluated on the injected clock, like every other timer. */
function policyQuery(core: Core, who: { login: string; realm: string | null }, req: CheckRequest): PolicyQuery {
  return { scope: 'authentication', now: new Date(core.clock.now()), user: who.login, ...(who.realm === null ? {} : { realm: who.realm }), ...(req.client === undefined ? {} : { client: req.client }) }
}

async function candidateTokens(core: Core, login: string, realm: string | null, serial: string | undefined): Promise<TokenRecord[]> {
  if (serial !== undefined) {
    const token = isDecoy(serial) ? undefined : await core.store.tokens.get(serial)
    return token && (login === '' || (token.user === login && token.realm === realm)) ? [token] : []
  }
  if (login === '') return []
  const tokens = await core.store.tokens.list({ user: login })
  return tokens.filter((t) => t.realm === realm)
}
