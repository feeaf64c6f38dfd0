/**
 * The OpenID provider (oidc-provider 8) of the identity platform. Its login interaction
 * (interactions.ts) asks for the directory password and then the SMS code, so every client of
 * this provider gets the second factor without doing anything. Accounts are the engine's users
 * (users.json): `sub` is the login; `name`, `email` and `phone_number` come from the directory.
 */
import express from 'express'
import Provider, { type ClientMetadata } from 'oidc-provider'
import type { SmsOtp } from 'sms-otp'
import { baseConfiguration } from '../shared/oidc-provider.js'
import { listenOnLoopback } from '../shared/serve.js'
import { REALM } from './engine.js'
import { interactionRoutes } from './interactions.js'

export interface IdpOptions {
  readonly otp: SmsOtp
  /** Loopback port; the issuer is `http://127.0.0.1:<port>`. */
  readonly port: number
  /** Registered clients. They are this platform's own: their scopes need no consent page. */
  readonly clients: ClientMetadata[]
}

export interface RunningIdp {
  readonly issuer: string
  close(): Promise<void>
}

export async function startIdp({ otp, port, clients }: IdpOptions): Promise<RunningIdp> {
  const issuer = `http://127.0.0.1:${port}`
  const base = baseConfiguration('oidc-idp-1', clients, (sub) => otp.users.find(sub, REALM))
  const provider = new Provider(issuer, {
    ...base,
    // `amr` with the openid scope: the ID token says how the user signed in (pwd + sms).
    claims: { ...base.claims, openid: ['sub', 'amr'] },
    // The demo relying party shows the name from the ID token, so scope claims go there as well.
    conformIdTokenClaims: false,
  })

  const app = express()
  // The interaction pages come first; everything else is the provider's (no body parser before
  // it: oidc-provider parses its own bodies).
  app.use('/interaction', interactionRoutes(provider, otp))
  app.use(provider.callback())
  return { issuer, ...(await listenOnLoopback(app, port)) }
}
