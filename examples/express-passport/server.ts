/**
 * Express 5 + Passport 0.7 with an SMS second factor.
 *
 *   npx tsx examples/express-passport/server.ts      # http://127.0.0.1:3000
 *
 * Sign in as alice / alice-password (she has an SMS token) or bob / bob-password (he gets one on
 * his first login, for the mobile number in users.json). The "SMS" is a line in
 * `$DATA_DIR/sms-outbox.log` (default ./data/express-passport): `tail -f` it for the code.
 *
 * Flow: password (passport-local) → half signed in, SMS sent → code (SmsOtpStrategy) → signed in,
 * with a new session id at each step. /profile needs both factors.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import express, { type NextFunction, type Request, type Response } from 'express'
import session from 'express-session'
import passport from 'passport'
import { pino } from 'pino'
import { isOtpError } from 'sms-otp'
import { authenticate, logIn, loginOf, logOut, setupPassport } from './auth.js'
import { csrfToken, verifyCsrf } from './csrf.js'
import { openEngine } from './engine.js'
import { serveExample } from '../shared/serve.js'
import { COUNTDOWN_JS, STYLE_CSS, errorPage, loginPage, otpPage, profilePage, sendPage } from './views.js'

const port = Number(process.env.PORT ?? 3000)
const dataDir = process.env.DATA_DIR ?? './data/express-passport'
const log = pino({ name: 'express-passport', level: process.env.LOG_LEVEL ?? 'info' })
const otp = await openEngine(dataDir, join(import.meta.dirname, 'users.json'))
setupPassport(otp)

/** What the OTP page shows between requests (ids and times only, never the code). */
interface Flow {
  otpPage?: { maskedPhone: string | undefined; resendAt: number; transactionId: string }
  notice?: 'wrong' | 'empty' | 'resent' | 'wait' | 'enrolled'
}
const flow = (req: Request): Flow => req.session as unknown as Flow

const app = express()
app.disable('x-powered-by')
app.use(session({
  name: 'sid',
  // A random secret per start is fine for the MemoryStore, which forgets every session on restart.
  secret: process.env.SESSION_SECRET ?? randomBytes(32).toString('hex'),
  // WARNING: MemoryStore is for examples only (it leaks and serves one process). Use a real store
  // (connect-redis, connect-pg-simple, …) in production.
  resave: false,
  saveUninitialized: false,
  // `secure: true` as soon as the app is served over HTTPS (it is plain HTTP on loopback here).
  cookie: { httpOnly: true, sameSite: 'lax', secure: false, maxAge: 30 * 60_000 },
}))
app.use(passport.session())
// Small bodies only: a form here has four short fields. Oversized or odd bodies are refused (400).
const form = express.urlencoded({ extended: false, limit: '8kb', parameterLimit: 10 })
const csrf = verifyCsrf((_req, res) => sendPage(res, 'Forbidden', errorPage('The form expired or did not come from this site. Please try again.')))
const badRequest = (res: Response): void => sendPage(res.status(400), 'Bad request', errorPage('The request was not understood.'))

app.get('/style.css', (_req, res) => void res.type('css').send(STYLE_CSS))
app.get('/countdown.js', (_req, res) => void res.type('js').send(COUNTDOWN_JS))
app.get('/', (req, res) => res.redirect(303, loginOf(req)?.secondFactor ? '/profile' : '/login'))

app.get('/login', (req, res) => {
  const login = loginOf(req)
  if (login) return res.redirect(303, login.secondFactor ? '/profile' : '/otp')
  sendPage(res, 'Sign in', loginPage(csrfToken(req)))
})

app.post('/login', form, csrf, async (req, res) => {
  // passport-local also reads credentials from the query string; here they stay out of URLs (and logs).
  if (Object.keys(req.query).length > 0) return badRequest(res)
  const first = await authenticate('local', req, res)
  if (!first.user) return sendPage(res.status(first.status === 400 ? 400 : 401), 'Sign in', loginPage(csrfToken(req), 'Wrong user name or password.'))
  await logIn(req, { username: (first.user as { username: string }).username, secondFactor: false })
  await sendSms(req, res, false)
})

/** Asks the strategy for an SMS for the half-signed-in user (a new one only after the cooldown). */
async function sendSms(req: Request, res: Response, resend: boolean): Promise<void> {
  const step = await authenticate('sms-otp', req, res)
  const challenge = step.info?.challenge
  if (step.status === 400) return badRequest(res)
  if (!challenge) {
    // The password was right, but no SMS can be sent: no token, and no mobile number to enrol.
    await logOut(req)
    return sendPage(res.status(403), 'Sign in', loginPage(csrfToken(req), 'This account has no phone number for the SMS code. Please ask your administrator.'))
  }
  const f = flow(req)
  if (resend) f.notice = f.otpPage?.transactionId === challenge.transactionId ? 'wait' : 'resent'
  else if (challenge.enrolled === true) f.notice = 'enrolled'
  f.otpPage = { maskedPhone: challenge.maskedPhone, resendAt: Date.now() + challenge.resendInSeconds * 1000, transactionId: challenge.transactionId }
  res.redirect(303, '/otp')
}

/** Only for a user who gave the password and not yet the code. */
function halfSignedIn(req: Request, res: Response, next: NextFunction): void {
  const login = loginOf(req)
  if (!login) return res.redirect(303, '/login')
  if (login.secondFactor) return res.redirect(303, '/profile')
  next()
}

const NOTICES = {
  wrong: ['error', 'That code is wrong or has expired. Try again, or send a new code.'],
  empty: ['error', 'Please enter the code from the SMS.'],
  resent: ['info', 'A new code is on its way.'],
  wait: ['error', 'Please wait before asking for a new code.'],
  enrolled: ['info', 'Your mobile number from the directory is now set up for sign-in codes.'],
} as const

app.get('/otp', halfSignedIn, (req, res) => {
  const f = flow(req)
  const notice = f.notice === undefined ? undefined : NOTICES[f.notice]
  delete f.notice
  const resendIn = Math.max(0, Math.ceil(((f.otpPage?.resendAt ?? 0) - Date.now()) / 1000))
  sendPage(res, 'Enter the SMS code', otpPage({
    csrf: csrfToken(req),
    maskedPhone: f.otpPage?.maskedPhone,
    resendIn,
    error: notice?.[0] === 'error' ? notice[1] : undefined,
    info: notice?.[0] === 'info' ? notice[1] : undefined,
  }))
})

app.post('/otp', form, csrf, halfSignedIn, async (req, res) => {
  const code = (req.body as Record<string, unknown>).otp
  // Without a code, external mode would send a new SMS: that is the resend button's job only.
  if (code === undefined || code === '') {
    flow(req).notice = 'empty'
    return res.redirect(303, '/otp')
  }
  const step = await authenticate('sms-otp', req, res)
  if (step.status === 400) return badRequest(res)
  if (!step.user) {
    flow(req).notice = 'wrong'
    return res.redirect(303, '/otp')
  }
  // Both factors: passport 0.7 regenerates the session (new id) and stores the full login.
  await logIn(req, { username: (loginOf(req) as { username: string }).username, secondFactor: true })
  res.redirect(303, '/profile')
})

app.post('/otp/resend', form, csrf, halfSignedIn, (req, res) => sendSms(req, res, true))

app.get('/profile', (req, res) => {
  const login = loginOf(req)
  // The password alone is not enough: a half-signed-in session is sent back to the code page.
  if (!login?.secondFactor) return res.redirect(303, login ? '/otp' : '/login')
  otp.users.find(login.username).then((user) => {
    sendPage(res, 'Profile', profilePage(csrfToken(req), login.username, user?.attributes.name))
  }, () => sendPage(res, 'Profile', profilePage(csrfToken(req), login.username, undefined)))
})

app.post('/logout', form, csrf, async (req, res) => {
  await logOut(req)
  res.redirect(303, '/login')
})

app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
  const e = err as { type?: unknown; status?: unknown }
  // body-parser's refusals (too large, too many fields, bad charset): one answer, nothing stored.
  if (typeof e.type === 'string' && typeof e.status === 'number' && e.status >= 400 && e.status < 500) return badRequest(res)
  const unavailable = isOtpError(err) && err.status === 503
  log.error({ code: isOtpError(err) ? err.code : undefined, message: err instanceof Error ? err.message : String(err) }, 'request failed')
  sendPage(res.status(unavailable ? 503 : 500), 'Sorry', errorPage(unavailable ? 'The SMS service is unavailable. Please try again in a minute.' : 'Something went wrong.'))
})

await serveExample(app, port, {
  ready: () => log.info(`express-passport example on http://127.0.0.1:${port} (SMS codes go to ${join(dataDir, 'sms-outbox.log')})`),
  close: () => otp.close(),
})
