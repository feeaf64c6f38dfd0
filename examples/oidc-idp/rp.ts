/**
 * A tiny relying party of the identity provider, to prove the round trip: it knows nothing of SMS.
 * `/profile` needs a login; the login is openid-client 6 (code + PKCE S256, state, nonce) and
 * shows `sub`, `name` and `amr` from the ID token.
 */
import { randomBytes } from 'node:crypto'
import express, { type Request } from 'express'
import session from 'express-session'
import * as client from 'openid-client'
import { csrfInput, esc, page, securityHeaders, sessionOf, verifyCsrf } from '../shared/web.js'

interface RpSession {
  login?: { readonly verifier: string; readonly state: string; readonly nonce: string }
  user?: { readonly sub: string; readonly name: string; readonly amr: readonly string[] }
}

export interface RpOptions {
  /** Discovered configuration of the provider (client id and secret included). */
  readonly oidc: client.Configuration
  /** The RP's own origin, `http://127.0.0.1:<PORT>`. */
  readonly origin: string
}

export function createRp({ oidc, origin }: RpOptions): express.Express {
  const app = express()
  const redirectUri = `${origin}/callback`
  app.use(securityHeaders, session({
    name: 'oidc-idp-rp.sid',
    secret: process.env.SESSION_SECRET ?? randomBytes(32).toString('base64url'),
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure: 'auto' },
  }))

  app.get('/', (req, res) => {
    const user = sessionOf<RpSession>(req).user
    res.type('html').send(page(res, 'Relying party', user === undefined
      ? '<p>Not signed in.</p><p><a href="/profile">Profile</a> (signs in at the identity provider)</p>'
      : `<p>Signed in as ${esc(user.name)}.</p><p><a href="/profile">Profile</a></p>${logoutForm(req)}`))
  })

  app.get('/profile', (req, res) => {
    const user = sessionOf<RpSession>(req).user
    if (user === undefined) return res.redirect(303, '/login')
    res.type('html').send(page(res, 'Profile', `<dl>
<dt>sub</dt><dd id="sub">${esc(user.sub)}</dd>
<dt>name</dt><dd id="name">${esc(user.name)}</dd>
<dt>amr</dt><dd id="amr">${esc(user.amr.join(' '))}</dd>
</dl>${logoutForm(req)}`))
  })

  app.get('/login', async (req, res) => {
    const login = { verifier: client.randomPKCECodeVerifier(), state: client.randomState(), nonce: client.randomNonce() }
    sessionOf<RpSession>(req).login = login
    const url = client.buildAuthorizationUrl(oidc, {
      redirect_uri: redirectUri,
      scope: 'openid profile',
      code_challenge: await client.calculatePKCECodeChallenge(login.verifier),
      code_challenge_method: 'S256',
      state: login.state,
      nonce: login.nonce,
    })
    res.redirect(303, url.href)
  })

  app.get('/callback', async (req, res) => {
    const s = sessionOf<RpSession>(req)
    const login = s.login
    delete s.login // single use, whatever happens next
    if (login === undefined) return void res.status(400).type('html').send(page(res, 'Sign-in failed', '<p>No sign-in was started here. <a href="/login">Start again</a>.</p>'))
    let claims: client.IDToken | undefined
    try {
      const tokens = await client.authorizationCodeGrant(oidc, new URL(req.originalUrl, origin), {
        pkceCodeVerifier: login.verifier,
        expectedState: login.state,
        expectedNonce: login.nonce,
      })
      claims = tokens.claims()
    } catch (err) {
      console.warn(`oidc-idp rp: sign-in refused: ${err instanceof Error ? err.message : String(err)}`)
    }
    if (claims === undefined) return void res.status(400).type('html').send(page(res, 'Sign-in failed', '<p>The provider\'s answer did not check out. <a href="/login">Start again</a>.</p>'))
    // A new session id for the signed-in user.
    await new Promise<void>((ok, fail) => req.session.regenerate((err) => (err ? fail(err as Error) : ok())))
    sessionOf<RpSession>(req).user = {
      sub: claims.sub,
      name: typeof claims.name === 'string' ? claims.name : claims.sub,
      amr: Array.isArray(claims.amr) ? claims.amr.filter((m): m is string => typeof m === 'string') : [],
    }
    res.redirect(303, '/profile')
  })

  app.post('/logout', express.urlencoded({ extended: false }), verifyCsrf, (req, res, next) => {
    req.session.destroy((err) => {
      if (err) return next(err)
      res.clearCookie('oidc-idp-rp.sid')
      res.redirect(303, '/')
    })
  })
  return app
}

function logoutForm(req: Request): string {
  return `<form method="post" action="/logout">${csrfInput(req)}<button type="submit">Sign out</button></form>`
}
