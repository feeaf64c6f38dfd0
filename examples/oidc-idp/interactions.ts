/**
 * The provider's login interaction, in two steps:
 *
 *   1. user + directory password (`otp.users.checkPassword`, users.json); right → a new session
 *      id, the first factor remembered for this interaction only, and the SMS sent through
 *      `SmsOtpStrategy` in external mode (bob, who has no token, is enrolled for his `mobile`);
 *   2. the SMS code through the same strategy; right → a new session id again, and only now is
 *      the interaction finished with the accountId (amr `pwd` + `sms`).
 *
 * The pending challenge lives in this router's express-session (the strategy's session home),
 * not in oidc-provider: the provider learns about the login only once both factors are done.
 */
import { randomBytes } from 'node:crypto'
import express, { type NextFunction, type Request, type Response } from 'express'
import session from 'express-session'
import passport from 'passport'
import { errors } from 'oidc-provider'
import type Provider from 'oidc-provider'
import { isOtpError, type SmsOtp } from 'sms-otp'
import { SmsOtpStrategy, type SmsOtpFailure } from 'sms-otp/passport'
import { REALM } from './engine.js'
import { otpPage, passwordPage } from './pages.js'
import { page, securityHeaders, sessionOf, verifyCsrf } from '../shared/web.js'

/** This router's session keys (the strategy adds `smsOtp`). */
interface IdpSession {
  /** The first factor, done for one interaction: never a login by itself. */
  firstFactor?: { readonly uid: string; readonly login: string; maskedPhone?: string }
}

/** What one run of the strategy ended in. */
type SmsStep = { readonly ok: true } | { readonly ok: false; readonly info: SmsOtpFailure | undefined }

export function interactionRoutes(provider: Provider, otp: SmsOtp): express.Router {
  // An authenticator of its own: the strategy is this router's business, not a global passport's.
  const authenticator = new passport.Passport()
  const strategy = new SmsOtpStrategy({ otp, firstFactor: 'external', realm: REALM })
  authenticator.use(strategy)
  /** Runs the strategy on `req`: without `otp` in the body it sends the SMS, with it it checks the code. */
  const smsStep = (req: Request, res: Response, login: string): Promise<SmsStep> => {
    req.user = { username: login }
    return new Promise((ok, fail) => {
      authenticator.authenticate('sms-otp', { session: false }, (err: unknown, user: unknown, info: unknown) => {
        if (err) return fail(err instanceof Error ? err : new Error(String(err)))
        ok(user ? { ok: true } : { ok: false, info: info as SmsOtpFailure | undefined })
      })(req, res, fail)
    })
  }

  const router = express.Router()
  const form = express.urlencoded({ extended: false })
  router.use(securityHeaders, session({
    name: 'oidc-idp.sid',
    secret: process.env.SESSION_SECRET ?? randomBytes(32).toString('base64url'),
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure: 'auto' },
  }))

  router.get('/:uid', async (req, res) => {
    const { uid, prompt } = await provider.interactionDetails(req, res)
    if (prompt.name !== 'login') throw new Error(`unexpected prompt ${prompt.name}`)
    const s = sessionOf<IdpSession>(req)
    const error = typeof req.query.error === 'string' ? req.query.error : undefined
    const challenge = s.firstFactor?.uid === uid ? strategy.challenge(req) : undefined
    if (s.firstFactor !== undefined && challenge !== undefined) {
      return void res.type('html').send(otpPage(req, res, uid, challenge.maskedPhone ?? s.firstFactor.maskedPhone, challenge.resendInSeconds, error === 'otp'))
    }
    res.type('html').send(passwordPage(req, res, uid, error))
  })

  router.post('/:uid/password', form, verifyCsrf, async (req, res) => {
    const { uid, prompt } = await provider.interactionDetails(req, res)
    if (prompt.name !== 'login') throw new Error(`unexpected prompt ${prompt.name}`)
    const body = req.body as Record<string, unknown>
    const login = typeof body.username === 'string' ? body.username : ''
    const password = typeof body.password === 'string' ? body.password : ''
    const user = (await otp.users.checkPassword(login, password, REALM)) ? await otp.users.find(login, REALM) : undefined
    if (user === undefined) return res.redirect(303, `${here(uid)}?error=password`)
    // The password moved this browser up a step: a session id seen before is worthless now.
    await regenerate(req)
    sessionOf<IdpSession>(req).firstFactor = { uid, login: user.login }
    await sendCode(req, res, uid, user.login)
  })

  router.post('/:uid/resend', form, verifyCsrf, async (req, res) => {
    const { uid } = await provider.interactionDetails(req, res)
    const first = sessionOf<IdpSession>(req).firstFactor
    if (first?.uid !== uid) return res.redirect(303, here(uid))
    // Inside the cooldown the engine sends nothing and answers with the open challenge.
    await sendCode(req, res, uid, first.login)
  })

  router.post('/:uid/otp', form, verifyCsrf, async (req, res) => {
    const { uid } = await provider.interactionDetails(req, res)
    const s = sessionOf<IdpSession>(req)
    const first = s.firstFactor
    if (first?.uid !== uid) return res.redirect(303, here(uid))
    const step = await smsStep(req, res, first.login)
    if (!step.ok) {
      // Attempts used up (the strategy dropped the challenge): back to the password.
      if (strategy.challenge(req) === undefined) {
        delete s.firstFactor
        return res.redirect(303, `${here(uid)}?error=restart`)
      }
      return res.redirect(303, `${here(uid)}?error=otp`)
    }
    // Both factors: a fresh session id (nothing of this interaction is kept), then the login.
    await regenerate(req)
    await provider.interactionFinished(req, res, { login: { accountId: first.login, amr: ['pwd', 'sms'] } }, { mergeWithLastSubmission: false })
  })

  router.get('/:uid/abort', async (req, res) => {
    delete sessionOf<IdpSession>(req).firstFactor
    await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false })
  })

  /** Step 1's end, and resend: trigger the SMS and show the code page. */
  async function sendCode(req: Request, res: Response, uid: string, login: string): Promise<void> {
    const s = sessionOf<IdpSession>(req)
    const step = await smsStep(req, res, login)
    const challenge = step.ok ? undefined : step.info?.challenge
    if (challenge === undefined || s.firstFactor === undefined) {
      // The password was right but no SMS token answers (none, locked, no number to enrol).
      delete s.firstFactor
      return res.redirect(303, `${here(uid)}?error=no-token`)
    }
    if (challenge.maskedPhone !== undefined) s.firstFactor.maskedPhone = challenge.maskedPhone
    res.redirect(303, here(uid))
  }

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err)
    if (err instanceof errors.SessionNotFound) {
      return void res.status(400).type('html').send(page(res, 'Sign-in expired', '<p>This sign-in has expired. Go back to the application and start again.</p>'))
    }
    const status = isOtpError(err) && err.status >= 400 && err.status < 600 ? err.status : 500
    console.error(`oidc-idp: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`)
    res.status(status).type('html').send(page(res, 'Something went wrong', '<p>Please try again in a moment.</p>'))
  })
  return router
}

function here(uid: string): string {
  return `/interaction/${encodeURIComponent(uid)}`
}

function regenerate(req: Request): Promise<void> {
  return new Promise((ok, fail) => req.session.regenerate((err) => (err ? fail(err instanceof Error ? err : new Error(String(err))) : ok())))
}
