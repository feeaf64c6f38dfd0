/**
 * An Express app whose SMS second factor lives in the sms-otp sidecar, reached over HTTP with
 * LinOTP's API: the same two calls a RADIUS server or an SSO front-end makes.
 *
 *   npx tsx examples/sidecar-client/server.ts                 # app on :3000, sidecar on :3001
 *   SIDECAR_URL=http://127.0.0.1:5001 npx tsx examples/sidecar-client/server.ts   # your sidecar
 *
 * 1. `/validate/check` user + password → the sidecar checks the password (policy otppin=password,
 *    users.json), sends the SMS and answers a transaction id;
 * 2. `/validate/check` user + transaction id + OTP → true or false.
 * The app only remembers the user and the transaction id, in its session (never the password).
 * Sign in as alice / alice-password or bob / bob-password (enrolled on his first login); the SMS
 * lands in `$DATA_DIR/sms-outbox.log` (default ./data/sidecar-client) of the in-process sidecar.
 *
 * The pages and the CSRF middleware are the express-passport example's (../express-passport).
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import express, { type NextFunction, type Request, type Response } from 'express'
import session from 'express-session'
import { pino } from 'pino'
import { csrfToken, verifyCsrf } from '../express-passport/csrf.js'
import { COUNTDOWN_JS, STYLE_CSS, errorPage, loginPage, profilePage, sendPage } from '../express-passport/views.js'
import { SidecarUnavailable, validateClient } from './linotp-client.js'
import { serveExample } from '../shared/serve.js'
import { startSidecar } from './sidecar.js'
import { otpPage } from './views.js'

const port = Number(process.env.PORT ?? 3000)
const dataDir = process.env.DATA_DIR ?? './data/sidecar-client'
const log = pino({ name: 'sidecar-client', level: process.env.LOG_LEVEL ?? 'info' })
const sidecar = process.env.SIDECAR_URL ? undefined : await startSidecar(dataDir, port + 1, join(import.meta.dirname, 'users.json'))
const sidecarUrl = process.env.SIDECAR_URL ?? sidecar?.url ?? ''
const linotp = validateClient(sidecarUrl)

/** This app's session: who passed which step. Ids only; the password is never kept. */
interface State {
  pending?: { user: string; transactionId: string; attempts: number }
  user?: string
  notice?: 'wrong'
}
const state = (req: Request): State => req.session as unknown as State
/** Wrong codes per SMS before the user must start over (the sidecar's failcounter is the real bound). */
const MAX_ATTEMPTS = 3
/** Longest user name, password or code this app sends on (the sidecar has its own limits). */
const MAX_FIELD = 256

/** A new session id, keeping nothing: called after each factor, against session fixation. */
const regenerate = (req: Request): Promise<void> => new Promise((ok, fail) => req.session.regenerate((err: unknown) => (err ? fail(err instanceof Error ? err : new Error(String(err))) : ok())))
/** Plain, short, printable strings only; anything else (arrays, objects, 1 MB) is a bad request. */
function field(req: Request, name: string): string | undefined {
  const v = (req.body as Record<string, unknown>)[name]
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  return typeof v === 'string' && v !== '' && v.length <= MAX_FIELD && !/[\u0000-\u001f\u007f]/.test(v) ? v : undefined
}

const app = express()
app.disable('x-powered-by')
app.use(session({
  name: 'sid',
  secret: process.env.SESSION_SECRET ?? randomBytes(32).toString('hex'),
  // WARNING: MemoryStore is for examples only; use a real session store in production.
  resave: false,
  saveUninitialized: false,
  cookie: { httpOnly: true, sameSite: 'lax', secure: false, maxAge: 30 * 60_000 },
}))
const form = express.urlencoded({ extended: false, limit: '8kb', parameterLimit: 10 })
const csrf = verifyCsrf((_req, res) => sendPage(res, 'Forbidden', errorPage('The form expired or did not come from this site. Please try again.')))
const badRequest = (res: Response): void => sendPage(res.status(400), 'Bad request', errorPage('The request was not understood.'))

app.get('/style.css', (_req, res) => void res.type('css').send(STYLE_CSS))
app.get('/countdown.js', (_req, res) => void res.type('js').send(COUNTDOWN_JS))
app.get('/', (req, res) => res.redirect(303, state(req).user ? '/profile' : '/login'))
app.get('/login', (req, res) => sendPage(res, 'Sign in', loginPage(csrfToken(req))))

app.post('/login', form, csrf, async (req, res) => {
  const user = field(req, 'username')
  const password = field(req, 'password')
  if (user === undefined || password === undefined) return badRequest(res)
  const answer = await linotp.password(user, password)
  if (answer.kind === 'rejected') return sendPage(res.status(401), 'Sign in', loginPage(csrfToken(req), 'Wrong user name or password.'))
  await regenerate(req)
  if (answer.kind === 'ok') {
    state(req).user = user // password and code typed together (LinOTP's pass = password + OTP)
    return res.redirect(303, '/profile')
  }
  state(req).pending = { user, transactionId: answer.transactionId, attempts: 0 }
  res.redirect(303, '/otp')
})

app.get('/otp', (req, res) => {
  const s = state(req)
  if (!s.pending) return res.redirect(303, s.user ? '/profile' : '/login')
  const wrong = s.notice === 'wrong'
  delete s.notice
  sendPage(res, 'Enter the SMS code', otpPage(csrfToken(req), wrong ? 'That code is wrong or has expired.' : undefined))
})

app.post('/otp', form, csrf, async (req, res) => {
  const s = state(req)
  if (!s.pending) return res.redirect(303, '/login')
  const code = field(req, 'otp')
  if (code === undefined) return badRequest(res)
  const { user, transactionId } = s.pending
  const answer = await linotp.otp(user, transactionId, code)
  if (answer.kind !== 'ok') {
    const attempts = s.pending.attempts + 1
    if (attempts >= MAX_ATTEMPTS) {
      delete s.pending
      return sendPage(res.status(401), 'Sign in', loginPage(csrfToken(req), 'Too many wrong codes. Please sign in again.'))
    }
    s.pending = { ...s.pending, attempts }
    s.notice = 'wrong'
    return res.redirect(303, '/otp')
  }
  await regenerate(req)
  state(req).user = user
  res.redirect(303, '/profile')
})

app.get('/profile', (req, res) => {
  const s = state(req)
  // The password alone is not enough: a session with only a pending SMS goes back to the code page.
  if (s.user === undefined) return res.redirect(303, s.pending ? '/otp' : '/login')
  sendPage(res, 'Profile', profilePage(csrfToken(req), s.user, undefined))
})

app.post('/logout', form, csrf, async (req, res) => {
  await regenerate(req)
  res.redirect(303, '/login')
})

app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
  const e = err as { type?: unknown; status?: unknown }
  if (typeof e.type === 'string' && typeof e.status === 'number' && e.status >= 400 && e.status < 500) return badRequest(res)
  const down = err instanceof SidecarUnavailable
  log.error({ message: err instanceof Error ? err.message : String(err) }, 'request failed')
  sendPage(res.status(down ? 503 : 500), 'Sorry', errorPage(down ? 'Sign-in is unavailable right now. Please try again in a minute.' : 'Something went wrong.'))
})

await serveExample(app, port, {
  ready: () => log.info(`sidecar-client example on http://127.0.0.1:${port}, sidecar ${sidecarUrl}${sidecar ? ` (SMS codes go to ${join(dataDir, 'sms-outbox.log')})` : ''}`),
  close: () => Promise.all([linotp.close(), sidecar?.close()]),
})
