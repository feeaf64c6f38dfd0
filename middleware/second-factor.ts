/**
 * `requireSecondFactor()`: the SMS second factor for Express 5 apps that already have a first
 * factor (`req.user`, or the host's `getUser(req)`), on the session home. It runs the same pending
 * state machine as the Passport strategy (src/login/pending.ts), so the two faces cannot drift:
 * the guard opens a pending challenge (one SMS, reused while valid), `verify` answers it and marks
 * the session, `resend` asks for a new SMS after the cooldown. Express is imported as types only.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { OtpError, invalidOption } from '../src/errors.js'
import { deviceEpoch, deviceOwner } from '../src/login/devices.js'
import { afterWrong, begin, judge, secondsUntilResend, sessionHome, type Pending, type PendingHome } from '../src/login/pending.js'
import type { SmsOtp } from '../src/sms-otp.js'
import { readFields, type SecondFactorUser } from '../strategies/options.js'
import { resolveGateOptions, safeReturnPath, type GateOptions, type ResolvedGate } from './second-factor-options.js'

export type { GateOptions } from './second-factor-options.js'

/** What the guard and `resend` answer a JSON client (inside `{ challenge }`). */
export interface GateChallenge {
  readonly transactionId: string
  /** The engine's prompt (`SMS_CHALLENGE_PROMPT`). */
  readonly message: string
  /** Seconds until `resend` sends a new SMS. */
  readonly resendInSeconds: number
  /** Where the SMS went, masked (`+49151****5678`); absent when several tokens were challenged. */
  readonly maskedPhone?: string
}

/** The guard, with the two POST handlers the OTP page posts to. */
export interface SecondFactorGate extends RequestHandler {
  /** POST: `otp` (+ optional `transactionId`). Right → session marked and regenerated. */
  readonly verify: RequestHandler
  /** POST: a new SMS for the open challenge once the cooldown is over. */
  readonly resend: RequestHandler
  /**
   * The open challenge of this session's user, for drawing the OTP page (masked phone, seconds
   * until resend) after a reload; undefined when there is none. Reads only: sends nothing.
   * @example app.get('/otp', (req, res) => res.render('otp', { challenge: gate.challenge(req) }))
   */
  readonly challenge: (req: Request) => GateChallenge | undefined
}

/** Session keys besides the pending record. `device`: let in by a remembered device of that generation. */
interface Marker { readonly user: string; readonly realm: string | null; readonly device?: string }
type Sess = Record<string, unknown> & { regenerate?: (cb: (err?: unknown) => void) => void; save?: (cb: (err?: unknown) => void) => void }

const WRONG = 'Invalid credentials'

/**
 * Builds the gate.
 * @throws TypeError `ERR_OTP_INVALID_OPTION` naming the bad option
 * @example
 * const gate = requireSecondFactor(otp, { otpPath: '/otp' })
 * app.post('/otp', express.urlencoded({ extended: false }), gate.verify)
 * app.post('/otp/resend', gate.resend)
 * app.get('/profile', gate, (req, res) => res.send('hello'))
 */
export function requireSecondFactor(otp: SmsOtp, options: GateOptions): SecondFactorGate {
  const o = resolveGateOptions(otp, options)
  const home = sessionHome(o.sessionKey)

  const guard = async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const session = sessionOf(req)
    // Mounted app-wide, the gate must let the OTP page and its POSTs (verify, resend) through.
    if (isOtpPath(o, req.originalUrl)) return next()
    const who = userOf(o, req)
    if (!who) {
      res.status(401).json({ message: 'First factor required' })
      return
    }
    const now = otp.core.clock.now()
    if (isVerifiedFor(session[o.markerKey], who)) {
      if (!(await markerRevoked(o, session[o.markerKey] as Marker, who))) return next()
      // Let in by a remembered device that an admin has revoked since: the SMS again.
      delete session[o.markerKey]
    }
    if (await rememberedDevice(o, req, who, now)) return next()
    const pending = home.peek({ session })
    const challenge = pending !== undefined && sameUser(pending, who) && judge(pending, now, undefined, o.maxAttempts) === 'ok'
      ? reuse(o, pending, now)
      : await open(o, home, session, who, req, pending)
    if (challenge instanceof Error) return next(challenge)
    if (wantsJson(req)) {
      res.status(401).json({ challenge })
      return
    }
    // Only a same-origin path is remembered: the redirect after `verify` cannot leave the app.
    const back = safeReturnPath(req.originalUrl)
    if (back !== undefined && req.method === 'GET') session[o.returnKey] = back
    res.redirect(303, o.otpPath)
  }

  const verify = async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const session = sessionOf(req)
    if (req.body === undefined) {
      return next(new OtpError('ERR_OTP_INVALID_PARAMETER', 'requireSecondFactor: req.body is undefined; mount express.urlencoded() or express.json() before gate.verify', { status: 500 }))
    }
    const fields = readFields(req.body, [o.fields.otp, o.fields.transactionId, ...(o.remember ? [o.remember.field] : [])])
    if (!fields) {
      // An array, an object, 1 MB, control characters: a bad request, and nothing changes.
      res.status(400).json({ message: 'Bad request' })
      return
    }
    const otpValue = fields[o.fields.otp]
    const who = userOf(o, req)
    // Taken before the engine is asked: a concurrent second answer finds nothing.
    const pending = home.take({ session })
    if (otpValue === undefined || !who || !pending || !sameUser(pending, who)) {
      // Nothing was asked of the engine: a pending record that is not this user's stays dropped.
      return refuse(o, req, res)
    }
    const now = otp.core.clock.now()
    const verdict = judge(pending, now, fields[o.fields.transactionId], o.maxAttempts)
    const putBack = (p: Pending | undefined) => {
      if (p) home.put({ session }, p)
    }
    if (verdict === 'expired' || verdict === 'exhausted') return refuse(o, req, res)
    if (verdict === 'mismatch') {
      putBack(afterWrong(pending, o.maxAttempts))
      return refuse(o, req, res)
    }
    const result = await otp.verify({ user: pending.user, realm: pending.realm ?? undefined, transactionId: pending.transactionId, otp: otpValue, client: o.client(req) })
    if (result.internalError) {
      // Not the user's mistake: the challenge stays answerable once the store is back.
      putBack(pending)
      return next(unavailable('ERR_OTP_STORE', 'the OTP could not be checked (store failure; the audit has the reason)'))
    }
    if (!result.value) {
      putBack(afterWrong(pending, o.maxAttempts))
      return refuse(o, req, res)
    }
    const back = typeof session[o.returnKey] === 'string' ? safeReturnPath(session[o.returnKey] as string) : undefined
    // A new session id after the second factor: an id planted or seen before login is worthless.
    await regenerate(req, o)
    const fresh = sessionOf(req)
    fresh[o.markerKey] = { user: pending.user, realm: pending.realm } satisfies Marker
    await saveSession(fresh)
    if (o.remember && /^(1|on|true|yes)$/i.test(fields[o.remember.field] ?? '')) {
      const owner = deviceOwner(otp.core.settings, pending.user, pending.realm ?? undefined)
      const epoch = await deviceEpoch(otp.core.store.settings, owner)
      res.cookie(o.remember.cookieName, o.remember.signer.issue(owner.user, owner.realm, now, o.remember.ms, epoch), {
        httpOnly: true, sameSite: 'lax', secure: o.remember.secure, maxAge: o.remember.ms, path: '/',
      })
    }
    if (wantsJson(req)) {
      res.json({ ok: true })
      return
    }
    res.redirect(303, back ?? o.successPath)
  }

  const resend = async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const session = sessionOf(req)
    const who = userOf(o, req)
    const pending = home.peek({ session })
    const now = otp.core.clock.now()
    if (!who || !pending || !sameUser(pending, who) || pending.expiresAt <= now) return refuse(o, req, res)
    // Inside the cooldown nothing is asked of the engine: the same challenge with the time left.
    const challenge = secondsUntilResend(pending, now) > 0 ? reuse(o, pending, now) : await open(o, home, session, who, req, pending)
    if (challenge instanceof Error) return next(challenge)
    if (wantsJson(req)) {
      res.json({ challenge })
      return
    }
    res.redirect(303, o.otpPath)
  }

  const wrap = (fn: (req: Request, res: Response, next: NextFunction) => Promise<void>): RequestHandler => (req, res, next) => {
    // A missing session middleware (sessionOf throws) and every other throw goes to `next`.
    fn(req, res, next).catch((err: unknown) => next(err instanceof Error ? err : new Error(String(err))))
  }
  const challenge = (req: Request): GateChallenge | undefined => {
    const session = sessionOf(req)
    const who = userOf(o, req)
    const pending = home.peek({ session })
    const now = otp.core.clock.now()
    if (!who || !pending || !sameUser(pending, who) || judge(pending, now, undefined, o.maxAttempts) !== 'ok') return undefined
    return reuse(o, pending, now)
  }
  return Object.assign(wrap(guard), { verify: wrap(verify), resend: wrap(resend), challenge })
}

/** The request's session; a missing session middleware is the app's setup mistake, said at once. */
function sessionOf(req: Request): Sess {
  const s = (req as unknown as { session?: unknown }).session
  if (typeof s !== 'object' || s === null) {
    throw invalidOption('session', 'requireSecondFactor needs a session middleware (express-session) mounted before it: req.session is undefined')
  }
  return s as Sess
}

function userOf(o: ResolvedGate, req: Request): SecondFactorUser | undefined {
  const mapped = o.getUser(req)
  if (mapped === undefined || mapped === '') return undefined
  return typeof mapped === 'string' ? { user: mapped, realm: o.realm } : { user: mapped.user, realm: mapped.realm ?? o.realm, phone: mapped.phone }
}

function sameUser(p: { user: string; realm: string | null }, who: SecondFactorUser): boolean {
  return p.user === who.user && p.realm === (who.realm ?? null)
}

/** A marker from a remembered device whose generation was revoked since. */
async function markerRevoked(o: ResolvedGate, marker: Marker, who: SecondFactorUser): Promise<boolean> {
  if (typeof marker.device !== 'string') return false
  return marker.device !== (await deviceEpoch(o.otp.core.store.settings, deviceOwner(o.otp.core.settings, who.user, who.realm)))
}

/**
 * A valid remembered-device cookie for this very user, in the current revocation generation, while
 * the user still has an active, unlocked token: the session is marked (with a new id, as after an
 * OTP) and no SMS is sent. A cookie of another user, expired, revoked or forged, or of a user whose
 * tokens were removed, disabled or locked, counts for nothing (and is left alone: the OTP step
 * follows, which for such a user fails as it should).
 */
async function rememberedDevice(o: ResolvedGate, req: Request, who: SecondFactorUser, now: number): Promise<boolean> {
  if (!o.remember) return false
  const claim = o.remember.signer.read(cookieOf(req, o.remember.cookieName), now, o.remember.ms)
  if (!claim) return false
  const core = o.otp.core
  const owner = deviceOwner(core.settings, who.user, who.realm)
  if (claim.user !== owner.user || claim.realm !== owner.realm || claim.epoch !== (await deviceEpoch(core.store.settings, owner))) return false
  const tokens = await core.store.tokens.list({ user: owner.user })
  if (!tokens.some((t) => t.realm === owner.realm && t.active && t.failcount < t.maxfail)) return false
  await regenerate(req, o)
  const fresh = sessionOf(req)
  fresh[o.markerKey] = { user: who.user, realm: who.realm ?? null, device: claim.epoch } satisfies Marker
  await saveSession(fresh)
  return true
}

/** One cookie's value from the Cookie header (no cookie-parser needed); the first one wins. */
function cookieOf(req: Request, name: string): string | undefined {
  const header = req.headers.cookie
  if (typeof header !== 'string' || header.length > 8192) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** The marker counts only for the user it was earned by. */
function isVerifiedFor(v: unknown, who: SecondFactorUser): boolean {
  if (typeof v !== 'object' || v === null) return false
  const m = v as Record<string, unknown>
  return typeof m.user === 'string' && (typeof m.realm === 'string' || m.realm === null) && sameUser(m as unknown as Marker, who)
}

/**
 * The OTP page or a plain path below it (`/otp/resend`). Below it only letters, digits, `-` and
 * `_` segments count: `/otp/../secret` (or `%2e%2e`, a backslash) would otherwise pass the gate and reach
 * a path-resolving handler behind it (express.static) as `/secret`.
 */
function isOtpPath(o: ResolvedGate, url: string): boolean {
  const path = url.split('?')[0] ?? ''
  if (path === o.otpPathname) return true
  const prefix = o.otpPathname.endsWith('/') ? o.otpPathname : `${o.otpPathname}/`
  return path.startsWith(prefix) && /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*\/?$/.test(path.slice(prefix.length))
}

function wantsJson(req: Request): boolean {
  return req.accepts(['html', 'json']) === 'json'
}

function reuse(o: ResolvedGate, pending: Pending, now: number): GateChallenge {
  return challengeOf(o.otp.core.settings.config.string('SMS_CHALLENGE_PROMPT'), pending, now, pending.maskedPhone)
}

function challengeOf(message: string, pending: Pending, now: number, maskedPhone: string | undefined): GateChallenge {
  return { transactionId: pending.transactionId, message, ...(maskedPhone === undefined ? {} : { maskedPhone }), resendInSeconds: secondsUntilResend(pending, now) }
}

/** Asks the engine for an SMS and stores the pending record (the engine's blocking time applies). */
async function open(o: ResolvedGate, home: PendingHome, session: Sess, who: SecondFactorUser, req: Request, prev: Pending | undefined): Promise<GateChallenge | Error> {
  const result = await o.otp.trigger({ user: who.user, realm: who.realm, client: o.client(req), phone: who.phone })
  if (result.internalError) {
    const code = result.error?.code === 'ERR_OTP_DIRECTORY' || result.error?.code === 'ERR_OTP_STORE' ? result.error.code : 'ERR_OTP_PROVIDER_UNAVAILABLE'
    return unavailable(code, 'no SMS could be sent (provider, directory or store failure; the audit has the reason)')
  }
  // Auto-enrolment found no usable number: the user passed the first factor, so they may know.
  if (result.error) return new OtpError(result.error.code, `requireSecondFactor: ${result.error.message}`, { status: 403 })
  const sms = result.sms
  // No token for this user: the gate cannot be passed; the app decides what to show.
  if (!sms) return new OtpError('ERR_OTP_TOKEN_NOT_FOUND', 'requireSecondFactor: no SMS token answers for this user', { status: 403 })
  const now = o.otp.core.clock.now()
  const pending = begin(prev, { user: who.user, realm: who.realm ?? null, transactionId: sms.transactionId, now, ttlMs: o.ttlMs, resendMs: sms.resendInSeconds * 1000, maskedPhone: sms.maskedPhone })
  home.put({ session }, pending)
  return challengeOf(sms.message, pending, now, sms.maskedPhone)
}

/** A wrong or unusable answer: the same words whatever was wrong. */
function refuse(o: ResolvedGate, req: Request, res: Response): void {
  if (wantsJson(req)) {
    res.status(401).json({ message: WRONG })
    return
  }
  res.redirect(303, `${o.otpPath}${o.otpPath.includes('?') ? '&' : '?'}error=1`)
}

/** `req.session.regenerate`, carrying the app's login data (passport's `passport` and the rest) over. */
async function regenerate(req: Request, o: ResolvedGate): Promise<void> {
  const old = sessionOf(req)
  if (typeof old.regenerate !== 'function') throw invalidOption('session', 'req.session.regenerate is missing: use express-session')
  const keep: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(old)) {
    if (k !== 'cookie' && k !== o.sessionKey && k !== o.returnKey && k !== o.markerKey && typeof v !== 'function') keep[k] = v
  }
  await new Promise<void>((ok, fail) => old.regenerate?.((err) => (err ? fail(err instanceof Error ? err : new Error(String(err))) : ok())))
  Object.assign(sessionOf(req), keep)
}

async function saveSession(s: Sess): Promise<void> {
  if (typeof s.save !== 'function') return
  await new Promise<void>((ok, fail) => s.save?.((err) => (err ? fail(err instanceof Error ? err : new Error(String(err))) : ok())))
}

function unavailable(code: 'ERR_OTP_STORE' | 'ERR_OTP_PROVIDER_UNAVAILABLE' | 'ERR_OTP_DIRECTORY', message: string): OtpError {
  return new OtpError(code, `requireSecondFactor: ${message}`, { status: 503 })
}
