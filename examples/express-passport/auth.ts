/**
 * Passport for the example: passport-local checks the password against users.json (through the
 * engine's user directory), then `SmsOtpStrategy` in external mode does the SMS step for the user
 * passport-local signed in. The session's user records which steps are done: `secondFactor` is
 * false after the password and true only after the SMS code.
 *
 * Why the strategy and not `requireSecondFactor()`: this is a Passport app, and the strategy hands
 * the OTP page what it shows (the masked phone, the seconds until a resend); the gate answers HTML
 * requests with a bare redirect and carries no masked phone.
 */
import type { Request, Response } from 'express'
import passport from 'passport'
import { Strategy as LocalStrategy } from 'passport-local'
import type { SmsOtp } from 'sms-otp'
import { SmsOtpStrategy, type SmsOtpFailure } from 'sms-otp/passport'
import { REALM } from './engine.js'

/** What passport keeps in the session. */
export interface Login {
  readonly username: string
  /** True only after the SMS code: the one thing protected pages check. */
  readonly secondFactor: boolean
}

/** The signed-in user (first factor at least), if any. */
export function loginOf(req: Request): Login | undefined {
  return req.user as Login | undefined
}

export function setupPassport(otp: SmsOtp): void {
  passport.use('local', new LocalStrategy((username, password, done) => {
    // passport-local hands over whatever the form held; only plain strings are credentials.
    if (typeof username !== 'string' || typeof password !== 'string') return done(null, false)
    otp.users.checkPassword(username, password, REALM).then(
      (ok) => done(null, ok ? ({ username, secondFactor: false } satisfies Login) : false),
      (err: unknown) => done(err),
    )
  }))
  // External mode: the first factor is passport-local's; this strategy triggers the SMS for
  // req.user (a request without `otp`) and checks the code (a request with `otp`).
  passport.use('sms-otp', new SmsOtpStrategy({ otp, firstFactor: 'external', realm: REALM, userOf: (user) => (user as Login).username }))
  passport.serializeUser((user, done) => done(null, user))
  passport.deserializeUser((stored: unknown, done) => {
    const s = stored as Partial<Login> | null
    done(null, s && typeof s.username === 'string' ? { username: s.username, secondFactor: s.secondFactor === true } : false)
  })
}

/** One passport step's outcome, for async route handlers. */
export interface Outcome {
  readonly user: Express.User | false | null | undefined
  readonly info: (SmsOtpFailure & { readonly message?: string }) | undefined
  readonly status: number | undefined
}

/** Runs a strategy with a callback (nothing is written to `res`); infrastructure errors reject. */
export function authenticate(name: 'local' | 'sms-otp', req: Request, res: Response): Promise<Outcome> {
  return new Promise((ok, fail) => {
    passport.authenticate(name, (err: unknown, user?: Express.User | false | null, info?: unknown, status?: unknown) => {
      if (err) return fail(err instanceof Error ? err : new Error(String(err)))
      ok({ user, info: info as Outcome['info'], status: typeof status === 'number' ? status : undefined })
    })(req, res, (err?: unknown) => (err ? fail(err instanceof Error ? err : new Error(String(err))) : ok({ user: undefined, info: undefined, status: undefined })))
  })
}

/** `req.logIn`: passport 0.7 regenerates the session (new id) before storing the user. */
export function logIn(req: Request, user: Login): Promise<void> {
  return new Promise((ok, fail) => req.logIn(user, (err: unknown) => (err ? fail(err instanceof Error ? err : new Error(String(err))) : ok())))
}

/** `req.logout`: removes the user and regenerates the session. */
export function logOut(req: Request): Promise<void> {
  return new Promise((ok, fail) => req.logout((err: unknown) => (err ? fail(err instanceof Error ? err : new Error(String(err))) : ok())))
}
