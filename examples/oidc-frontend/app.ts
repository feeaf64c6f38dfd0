/**
 * The front-end's Express app. The first factor is the OpenID provider (openid-client); the second
 * is the SMS OTP through `requireSecondFactor()`, which guards `/profile`.
 *
 * Why the gate and not the Passport strategy's external mode: this app has no Passport (the OIDC
 * callback is a plain route), and what it needs is a guard on routes, "this session has done the
 * SMS step for this user", with the URL to return to and a new session id afterwards. The gate is
 * exactly that; the strategy is a login step that would need Passport, `req.logIn` and our own
 * guard around it.
 */
import { randomBytes } from 'node:crypto'
import express, { type NextFunction, type Request, type Response } from 'express'
import session from 'express-session'
import type { Configuration } from 'openid-client'
import { isOtpError, type SmsOtp } from 'sms-otp'
import { requireSecondFactor } from 'sms-otp/middleware'
import { REALM } from './engine.js'
import { finishLogin, startLogin, type LoginRequest, type OidcUser } from './oidc.js'
import { logoutForm, otpPage } from './pages.js'
import { esc, page, securityHeaders, sessionOf, verifyCsrf } from '../shared/web.js'

/** This app's session keys (the gate adds `smsOtp`, `smsOtpVerified`, `smsOtpReturnTo`). */
interface AppSession {
  oidc?: OidcUser
  oidcLogin?: LoginRequest
  smsOtpVerified?: unknown
}

export interface FrontendOptions {
  readonly otp: SmsOtp
  readonly oidc: Configuration
  /** This app's own origin, `http://127.0.0.1:<PORT>`. */
  readonly origin: string
}

export function createFrontend({ otp, oidc, origin }: FrontendOptions): express.Express {
  const app = express()
  const redirectUri = `${origin}/callback`
  const form = express.urlencoded({ extended: false })
  app.use(securityHeaders)
  app.use(session({
    name: 'oidc-frontend.sid',
    secret: process.env.SESSION_SECRET ?? randomBytes(32).toString('base64url'),
    resave: false,
    saveUninitialized: false,
    // 'lax': the provider's redirect back to /callback is a top-level GET and keeps the cookie.
    cookie: { httpOnly: true, sameSite: 'lax', secure: 'auto', maxAge: 8 * 3600_000 },
  }))

  const gate = requireSecondFactor(otp, {
    otpPath: '/otp',
    successPath: '/profile',
    realm: REALM,
    // The verified phone_number claim is what a user without a token is auto-enrolled with.
    getUser: (req) => {
      const user = sessionOf<AppSession>(req).oidc
      return user && { user: user.sub, ...(user.phone === undefined ? {} : { phone: user.phone }) }
    },
  })
  /** The OIDC login comes first: without it, off to the provider. */
  const firstFactor = (req: Request, res: Response, next: NextFunction): void => {
    if (sessionOf<AppSession>(req).oidc === undefined) return res.redirect(303, '/login')
    next()
  }

  app.get('/', (req, res) => {
    const s = sessionOf<AppSession>(req)
    const body = s.oidc === undefined
      ? '<p>Not signed in.</p><p><a href="/login">Sign in with the OpenID provider</a></p>'
      : `<p>Signed in at the provider as <strong>${esc(s.oidc.name)}</strong>.</p><p><a href="/profile">Profile</a></p>${logoutForm(req)}`
    res.type('html').send(page(res, 'SSO front-end', body))
  })

  app.get('/login', async (req, res) => {
    const { url, request } = await startLogin(oidc, redirectUri)
    sessionOf<AppSession>(req).oidcLogin = request
    res.redirect(303, url.href)
  })

  app.get('/callback', async (req, res) => {
    const s = sessionOf<AppSession>(req)
    const request = s.oidcLogin
    delete s.oidcLogin // single use, whatever happens next
    if (request === undefined) return void res.status(400).type('html').send(page(res, 'Sign-in failed', '<p>No sign-in was started here. <a href="/login">Start again</a>.</p>'))
    let user: OidcUser
    try {
      user = await finishLogin(oidc, new URL(req.originalUrl, origin), request)
    } catch (err) {
      console.warn(`oidc-frontend: sign-in refused: ${err instanceof Error ? err.message : String(err)}`)
      return void res.status(400).type('html').send(page(res, 'Sign-in failed', '<p>The provider\'s answer did not check out. <a href="/login">Start again</a>.</p>'))
    }
    // A new session id for the signed-in user: an id planted before the login is worthless.
    await new Promise<void>((ok, fail) => req.session.regenerate((err) => (err ? fail(err as Error) : ok())))
    sessionOf<AppSession>(req).oidc = user
    res.redirect(303, '/profile')
  })

  app.get('/profile', firstFactor, gate, (req, res) => {
    const user = sessionOf<AppSession>(req).oidc as OidcUser
    res.type('html').send(page(res, 'Profile', `<p>Signed in as <strong id="user">${esc(user.name)}</strong> (<code id="sub">${esc(user.sub)}</code>) with both factors: the OpenID provider and an SMS code.</p>
<p><a href="/">Home</a></p>${logoutForm(req)}`))
  })

  app.get('/otp', firstFactor, (req, res) => {
    // No SMS step open for this user (a bookmark, an expired one): the guard opens one.
    const challenge = gate.challenge(req)
    if (!challenge) return res.redirect(303, '/profile')
    res.type('html').send(otpPage(req, res, challenge.maskedPhone, challenge.resendInSeconds, req.query.error !== undefined))
  })
  app.post('/otp', form, verifyCsrf, gate.verify)
  app.post('/otp/resend', form, verifyCsrf, gate.resend)

  app.post('/logout', form, verifyCsrf, (req, res, next) => {
    req.session.destroy((err) => {
      if (err) return next(err)
      res.clearCookie('oidc-frontend.sid')
      res.redirect(303, '/')
    })
  })

  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err)
    if (isOtpError(err, 'ERR_OTP_TOKEN_NOT_FOUND')) {
      return void res.status(403).type('html').send(page(res, 'No second factor', '<p>There is no phone for the SMS code: your provider sent no verified <code>phone_number</code>. Ask the administrator to enrol one.</p>'))
    }
    const status = isOtpError(err) ? err.status : 500
    console.error(`oidc-frontend: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`)
    res.status(status >= 400 && status < 600 ? status : 500).type('html').send(page(res, 'Something went wrong', '<p>Please try again in a moment.</p>'))
  })
  return app
}
