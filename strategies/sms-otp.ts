/**
 * The Passport face: one strategy, two steps (username + PIN → SMS challenge; OTP → success), or
 * the SMS step alone after another strategy (`firstFactor: 'external'`). Passport and Express are
 * imported as types only, so loading `sms-otp/passport` never loads a framework.
 *
 * Outcomes follow Passport's contract: user mistakes end in `fail(info, status)` and never say
 * which factor was wrong; infrastructure failures (store down, no provider reachable, no session
 * middleware) end in `error(err)`.
 */
import type * as express from 'express'
import type passport from 'passport'
import { OtpError, type OtpErrorCode } from '../src/errors.js'
import { afterWrong, begin, judge, secondsUntilResend, type PendingCarrier } from '../src/login/pending.js'
import type { CheckResult } from '../src/validate/types.js'
import { readFields, resolveOptions, type Resolved, type SecondFactorUser, type SmsOtpStrategyOptions } from './options.js'

/** What `fail` carries after the SMS was sent: enough for an OTP page or a JSON client. */
export interface SmsOtpChallenge {
  readonly transactionId: string
  /** The engine's prompt (`SMS_CHALLENGE_PROMPT`, "sms submitted"). */
  readonly message: string
  /** The phone the SMS went to, masked (`+49151****5678`); absent for several tokens. */
  readonly maskedPhone?: string
  /** Seconds until a new SMS may be asked for. */
  readonly resendInSeconds: number
  /** True when this login enrolled the user's SMS token (policy `autoenrollment`). */
  readonly enrolled?: boolean
  /** Handle home only: send it back with the OTP (field `handle`). */
  readonly handle?: string
}

/** The `info` of a failed step. */
export interface SmsOtpFailure {
  readonly message: string
  /** Set when the user may learn why: e.g. `ERR_OTP_INVALID_PHONE` (auto-enrolment found no usable number). */
  readonly code?: OtpErrorCode
  readonly challenge?: SmsOtpChallenge
}

type Created = passport.StrategyCreated<SmsOtpStrategy, SmsOtpStrategy & passport.StrategyCreatedStatic>

const WRONG = 'Invalid credentials'

/**
 * The SMS second factor as a Passport strategy.
 * @example
 * passport.use(new SmsOtpStrategy({ otp }))
 * app.post('/login', express.urlencoded({ extended: false }), (req, res, next) =>
 *   passport.authenticate('sms-otp', (err, user, info, status) => {
 *     if (err) return next(err)
 *     if (!user) return res.status(status ?? 401).json(info) // info.challenge after a correct PIN
 *     req.logIn(user, (e) => (e ? next(e) : res.json({ ok: true })))
 *   })(req, res, next))
 */
export class SmsOtpStrategy implements passport.Strategy {
  readonly name: string
  /** @internal */
  readonly _o: Resolved

  /** @throws TypeError `ERR_OTP_INVALID_OPTION` naming the bad option */
  constructor(options: SmsOtpStrategyOptions) {
    this._o = resolveOptions(options)
    this.name = this._o.name
  }

  /**
   * The challenge this browser (its session, or `handle`) is answering, for drawing the OTP page
   * again after a reload: transaction id, masked phone, seconds until resend. Undefined when none
   * is open, it expired, or its attempts are used up. Reads only: sends nothing, consumes nothing.
   * @example app.get('/otp', (req, res) => res.render('otp', { challenge: strategy.challenge(req) }))
   */
  challenge(req: express.Request, handle?: string): SmsOtpChallenge | undefined {
    const o = this._o
    const pending = o.home.peek({ session: (req as unknown as { session?: Record<string, unknown> }).session, handle })
    const now = o.otp.core.clock.now()
    if (!pending || judge(pending, now, undefined, o.maxAttempts) !== 'ok') return undefined
    return {
      transactionId: pending.transactionId,
      message: o.otp.core.settings.config.string('SMS_CHALLENGE_PROMPT'),
      ...(pending.maskedPhone === undefined ? {} : { maskedPhone: pending.maskedPhone }),
      resendInSeconds: secondsUntilResend(pending, now),
      ...(handle === undefined ? {} : { handle }),
    }
  }

  authenticate(this: Created, req: express.Request): void {
    void this._run(req).catch((err: unknown) => this.error(err instanceof Error ? err : new Error(String(err))))
  }

  /** @internal */
  async _run(this: Created, req: express.Request): Promise<void> {
    const o = this._o
    if (req.body === undefined) {
      return this.error(new OtpError('ERR_OTP_INVALID_PARAMETER', 'sms-otp strategy: req.body is undefined; mount express.urlencoded() or express.json() before passport.authenticate()', { status: 500 }))
    }
    const f = o.fields
    const fields = readFields(req.body, [f.username, f.password, f.otp, f.transactionId, f.handle, f.resend])
    if (!fields) return this.fail({ message: 'Bad request' }, 400)
    const handle = fields[f.handle]
    const carrier: PendingCarrier = { session: (req as unknown as { session?: Record<string, unknown> }).session, handle }
    // A missing session is a setup mistake: said at once, before any SMS goes out.
    o.home.peek(carrier)
    const otpValue = fields[f.otp]
    if (otpValue !== undefined) return this._answer(req, carrier, otpValue, fields[f.transactionId])
    if (o.firstFactor === 'external') {
      const who = this._external(req)
      if (!who) return this.fail({ message: 'First factor required' }, 401)
      return this._challenge(carrier, who, await o.otp.trigger({ user: who.user, realm: who.realm, client: o.client(req), phone: who.phone }))
    }
    if (fields[f.resend] !== undefined) {
      // Resend: the PIN was proven for the challenge this browser holds; inside the blocking time
      // the engine answers that challenge again without sending (the cooldown), after it a new one.
      const pending = o.home.peek(carrier)
      if (!pending || pending.expiresAt <= o.otp.core.clock.now()) return this.fail({ message: WRONG }, 401)
      const who = { user: pending.user, realm: pending.realm ?? undefined }
      return this._challenge(carrier, who, await o.otp.trigger({ user: who.user, realm: who.realm, client: o.client(req) }))
    }
    const username = fields[f.username]
    const password = fields[f.password]
    if (username === undefined || password === undefined) return this.fail({ message: 'Missing credentials' }, 400)
    const who = { user: username, realm: o.realm }
    const result = await o.otp.check({ user: username, realm: o.realm, pass: password, client: o.client(req) })
    if (result.value) {
      // PIN and OTP in one field (LinOTP's pass): authenticated without an SMS step.
      o.home.take(carrier)
      return this.success(await o.toUser(who))
    }
    return this._challenge(carrier, who, result)
  }

  /** @internal A trigger's answer: remember the challenge and show it, or fail / error. */
  _challenge(this: Created, carrier: PendingCarrier, who: SecondFactorUser, result: CheckResult): void {
    const o = this._o
    if (result.internalError) {
      const code = result.error?.code === 'ERR_OTP_DIRECTORY' || result.error?.code === 'ERR_OTP_STORE' ? result.error.code : 'ERR_OTP_PROVIDER_UNAVAILABLE'
      return this.error(unavailable(code, 'no SMS could be sent (provider, directory or store failure; the audit has the reason)'))
    }
    // The first factor held but no token can be made (auto-enrolment without a usable number).
    if (result.error) return this.fail({ message: result.error.message, code: result.error.code } satisfies SmsOtpFailure, 403)
    const sms = result.sms
    if (!sms) return this.fail({ message: WRONG }, 401)
    const now = o.otp.core.clock.now()
    const prev = o.home.take(carrier)
    const pending = begin(prev, { user: who.user, realm: who.realm ?? null, transactionId: sms.transactionId, now, ttlMs: o.ttlMs, resendMs: sms.resendInSeconds * 1000, maskedPhone: sms.maskedPhone })
    const handle = o.home.put(carrier, pending, prev !== undefined ? carrier.handle : undefined)
    if (o.otpUrl !== undefined) return this.redirect(o.otpUrl, 303)
    const challenge: SmsOtpChallenge = {
      transactionId: sms.transactionId,
      message: sms.message,
      ...(sms.maskedPhone === undefined ? {} : { maskedPhone: sms.maskedPhone }),
      resendInSeconds: secondsUntilResend(pending, now),
      ...(sms.enrolled === undefined ? {} : { enrolled: true }),
      ...(handle === undefined ? {} : { handle }),
    }
    return this.fail({ message: sms.message, challenge } satisfies SmsOtpFailure, 401)
  }

  /** @internal The OTP step: only the challenge this browser (session or handle) is answering. */
  async _answer(this: Created, req: express.Request, carrier: PendingCarrier, otpValue: string, transactionId: string | undefined): Promise<void> {
    const o = this._o
    // Taken before the engine is asked: a concurrent second answer finds nothing.
    const pending = o.home.take(carrier)
    if (!pending) return this.fail({ message: WRONG }, 401)
    const external = o.firstFactor === 'external' ? this._external(req) : undefined
    if (o.firstFactor === 'external' && (!external || external.user !== pending.user || (external.realm ?? null) !== pending.realm)) {
      return this.fail({ message: WRONG }, 401)
    }
    const now = o.otp.core.clock.now()
    const verdict = judge(pending, now, transactionId, o.maxAttempts)
    if (verdict === 'expired' || verdict === 'exhausted') return this.fail({ message: WRONG }, 401)
    const putBack = (p: typeof pending | undefined) => {
      if (p) o.home.put(carrier, p, carrier.handle)
    }
    if (verdict === 'mismatch') {
      putBack(afterWrong(pending, o.maxAttempts))
      return this.fail({ message: WRONG }, 401)
    }
    const result = await o.otp.verify({ user: pending.user, realm: pending.realm ?? undefined, transactionId: pending.transactionId, otp: otpValue, client: o.client(req) })
    if (result.internalError) {
      // Not the user's mistake: the challenge stays answerable once the store is back.
      putBack(pending)
      return this.error(unavailable('ERR_OTP_STORE', 'the OTP could not be checked (store failure; the audit has the reason)'))
    }
    if (!result.value) {
      putBack(afterWrong(pending, o.maxAttempts))
      return this.fail({ message: WRONG }, 401)
    }
    // The pending record is gone already (taken above): consumed before success.
    const who = { user: pending.user, realm: pending.realm ?? undefined }
    return this.success(o.firstFactor === 'external' ? (req.user as Express.User) : await o.toUser(who))
  }

  /** @internal The engine user behind `req.user` (external mode). */
  _external(this: Created, req: express.Request): SecondFactorUser | undefined {
    if (req.user === undefined || req.user === null) return undefined
    const mapped = this._o.userOf(req.user)
    if (mapped === undefined || mapped === '') return undefined
    return typeof mapped === 'string' ? { user: mapped, realm: this._o.realm } : { user: mapped.user, realm: mapped.realm ?? this._o.realm, phone: mapped.phone }
  }
}

function unavailable(code: OtpErrorCode, message: string): OtpError {
  return new OtpError(code, `sms-otp strategy: ${message}`, { status: 503 })
}
