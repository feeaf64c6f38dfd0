/**
 * The demo OpenID provider the front-end logs in at when no `OIDC_ISSUER` is configured, so the
 * example runs alone. oidc-provider 8 in this process on its own port, with a password login page
 * of its own (no second factor: that is the front-end's job). Accounts come from users.json:
 * the password is checked with the same file resolver the library offers, and the `mobile`
 * attribute becomes the `phone_number` claim (verified: the demo vouches for it).
 */
import { randomBytes } from 'node:crypto'
import express, { type NextFunction, type Request, type Response } from 'express'
import session from 'express-session'
import Provider, { errors, type ClientMetadata } from 'oidc-provider'
import { fileResolver } from 'sms-otp'
import { baseConfiguration } from '../shared/oidc-provider.js'
import { listenOnLoopback } from '../shared/serve.js'
import { csrfInput, esc, page, securityHeaders, verifyCsrf } from '../shared/web.js'

export interface DemoProviderOptions {
  /** Loopback port of the provider; the issuer is `http://127.0.0.1:<port>`. */
  readonly port: number
  /** users.json (fileResolver JSON: login, bcrypt password, mobile, name, email). */
  readonly usersFile: string
  /** The one client: the front-end. */
  readonly client: ClientMetadata & { readonly client_id: string; readonly client_secret: string; readonly redirect_uris: string[] }
}

export interface DemoProvider {
  readonly issuer: string
  close(): Promise<void>
}


export async function startDemoProvider(o: DemoProviderOptions): Promise<DemoProvider> {
  const issuer = `http://127.0.0.1:${o.port}`
  const users = fileResolver({ name: 'demo-idp', path: o.usersFile })
  const configuration = baseConfiguration('demo-idp-1', [o.client], (sub) => users.find(sub, 'demo'))
  const provider = new Provider(issuer, configuration)

  const app = express()
  const form = express.urlencoded({ extended: false })
  // The login page's session exists for its CSRF token only; the provider keeps its own cookies.
  app.use('/interaction', securityHeaders, session({
    name: 'demo-idp.sid',
    secret: randomBytes(32).toString('base64url'),
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax' },
  }))

  app.get('/interaction/:uid', async (req, res) => {
    const { uid, prompt } = await provider.interactionDetails(req, res)
    if (prompt.name !== 'login') throw new Error(`unexpected prompt ${prompt.name}`)
    res.type('html').send(loginPage(req, res, uid, req.query.error !== undefined))
  })

  app.post('/interaction/:uid/login', form, verifyCsrf, async (req, res) => {
    const { uid, prompt } = await provider.interactionDetails(req, res)
    if (prompt.name !== 'login') throw new Error(`unexpected prompt ${prompt.name}`)
    const body = req.body as Record<string, unknown>
    const login = typeof body.username === 'string' ? body.username : ''
    const password = typeof body.password === 'string' ? body.password : ''
    const user = (await users.checkPassword(login, password)) ? await users.find(login, 'demo') : undefined
    if (user === undefined) {
      res.redirect(303, `/interaction/${encodeURIComponent(uid)}?error=1`)
      return
    }
    await provider.interactionFinished(req, res, { login: { accountId: user.login, amr: ['pwd'] } }, { mergeWithLastSubmission: false })
  })

  app.get('/interaction/:uid/abort', async (req, res) => {
    await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false })
  })

  app.use('/interaction', (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    // An expired or foreign interaction: say so instead of a stack trace.
    if (err instanceof errors.SessionNotFound) {
      res.status(400).type('html').send(page(res, 'Sign-in expired', '<p>This sign-in has expired. Go back to the application and start again.</p>'))
      return
    }
    next(err)
  })
  app.use(provider.callback())

  return { issuer, ...(await listenOnLoopback(app, o.port)) }
}

function loginPage(req: Request, res: Response, uid: string, failed: boolean): string {
  return page(res, 'Demo OpenID provider: sign in', `
<p class="muted">Demo accounts: alice / alice-password, bob / bob-password.</p>
${failed ? '<p class="error" role="alert">Wrong user name or password.</p>' : ''}
<form method="post" action="/interaction/${esc(encodeURIComponent(uid))}/login">
  ${csrfInput(req)}
  <label>User <input name="username" autocomplete="username" required autofocus></label><br>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label><br>
  <button type="submit">Sign in</button>
</form>
<p><a href="/interaction/${esc(encodeURIComponent(uid))}/abort">Cancel</a></p>`)
}
