/**
 * The front-end's OpenID Connect client on openid-client 6: discovery, the authorization request
 * (code flow with PKCE S256, state and nonce, all single-use and kept in the session), and the
 * callback (code exchange, ID token checks, UserInfo for the claims a code-flow ID token leaves out).
 */
import * as client from 'openid-client'

/** What the callback learned about the user. */
export interface OidcUser {
  readonly sub: string
  readonly name: string
  /**
   * The `phone_number` claim, only when the provider marks it verified: it becomes the user's
   * second factor on first login, so an unverified number someone typed is not taken.
   */
  readonly phone?: string
}

/** One authorization request in flight (the session keeps it until the callback). */
export interface LoginRequest {
  readonly verifier: string
  readonly state: string
  readonly nonce: string
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

/**
 * Discovers the provider. `http:` is allowed for loopback issuers only (the demo provider); any
 * other issuer must be `https:`.
 */
export async function discover(issuer: URL, clientId: string, clientSecret: string): Promise<client.Configuration> {
  const loopbackHttp = issuer.protocol === 'http:' && LOOPBACK.has(issuer.hostname)
  if (issuer.protocol !== 'https:' && !loopbackHttp) throw new Error(`OIDC_ISSUER must be an https URL (http only on loopback): ${issuer.href}`)
  return client.discovery(issuer, clientId, undefined, client.ClientSecretBasic(clientSecret), loopbackHttp ? { execute: [client.allowInsecureRequests] } : undefined)
}

/** A fresh authorization request: the URL to send the browser to and what the callback checks. */
export async function startLogin(config: client.Configuration, redirectUri: string): Promise<{ url: URL; request: LoginRequest }> {
  const request = { verifier: client.randomPKCECodeVerifier(), state: client.randomState(), nonce: client.randomNonce() }
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile phone',
    code_challenge: await client.calculatePKCECodeChallenge(request.verifier),
    code_challenge_method: 'S256',
    state: request.state,
    nonce: request.nonce,
  })
  return { url, request }
}

/**
 * Completes the login at the redirect URI: checks state, exchanges the code with the PKCE
 * verifier, validates the ID token (issuer, audience, signature, nonce) and reads UserInfo.
 * @throws openid-client's errors for anything that does not check out
 */
export async function finishLogin(config: client.Configuration, currentUrl: URL, request: LoginRequest): Promise<OidcUser> {
  const tokens = await client.authorizationCodeGrant(config, currentUrl, {
    pkceCodeVerifier: request.verifier,
    expectedState: request.state,
    expectedNonce: request.nonce,
  })
  const idToken = tokens.claims()
  if (idToken === undefined) throw new Error('the provider returned no ID token')
  // In the code flow scope claims (name, phone_number) are UserInfo's (OIDC Core 5.4); the ID
  // token's `sub` must match, which fetchUserInfo checks.
  const info = config.serverMetadata().userinfo_endpoint === undefined ? {} : await client.fetchUserInfo(config, tokens.access_token, idToken.sub)
  const claims: Record<string, unknown> = { ...idToken, ...info }
  const name = typeof claims.name === 'string' ? claims.name : typeof claims.preferred_username === 'string' ? claims.preferred_username : idToken.sub
  const phone = typeof claims.phone_number === 'string' && claims.phone_number_verified === true ? claims.phone_number : undefined
  return { sub: idToken.sub, name, ...(phone === undefined ? {} : { phone }) }
}
