/**
 * What the two OpenID providers of the examples share (the demo provider of oidc-frontend and the
 * identity platform of oidc-idp): the base configuration of a first-party oidc-provider on
 * loopback and the account a directory user becomes.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import type { Account, ClientMetadata, Configuration, KoaContextWithOIDC } from 'oidc-provider'
import type { User } from 'sms-otp'

/** Scopes the examples' own clients get without a consent page. */
const FIRST_PARTY_SCOPES = new Set(['openid', 'profile', 'email', 'phone'])

/**
 * The provider configuration both examples start from: fresh signing keys each start (the demos
 * keep no state across restarts), code flow with PKCE S256 only, no dev interactions, cookies
 * that work over plain http on loopback, and first-party grants.
 */
export function baseConfiguration(kid: string, clients: readonly ClientMetadata[], findUser: (sub: string) => Promise<User | undefined>): Configuration {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return {
    clients: clients.map((c) => ({ grant_types: ['authorization_code'], response_types: ['code'], ...c })),
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' }] },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      // 'lax' for the long-lived session cookie too: SameSite=None needs Secure, which plain http has not.
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    claims: { acr: null, sid: null, auth_time: null, iss: null, openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email'], phone: ['phone_number', 'phone_number_verified'] },
    features: { devInteractions: { enabled: false } },
    pkce: { methods: ['S256'], required: () => true },
    findAccount: async (_ctx, sub) => {
      const user = await findUser(sub)
      return user && accountOf(user)
    },
    loadExistingGrant: firstPartyGrant,
  }
}

/** A directory user as an OpenID account; the directory's `mobile` is a verified `phone_number`. */
export function accountOf(user: User): Account {
  const a = user.attributes
  return {
    accountId: user.login,
    claims: () => ({
      sub: user.login,
      preferred_username: user.login,
      ...(a.name === undefined ? {} : { name: a.name }),
      ...(a.email === undefined ? {} : { email: a.email }),
      ...(a.mobile === undefined ? {} : { phone_number: a.mobile, phone_number_verified: true }),
    }),
  }
}

/**
 * The clients are the demo's own: the scopes they ask for are granted without a consent page
 * (oidc-provider's documented way: `loadExistingGrant` makes and saves the grant).
 */
async function firstPartyGrant(ctx: KoaContextWithOIDC) {
  const { client, account, session, result } = ctx.oidc
  if (client === undefined || account === undefined) return undefined
  const grantId = result?.consent?.grantId ?? session?.grantIdFor(client.clientId)
  const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined
  const grant = existing ?? new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: account.accountId })
  grant.addOIDCScope([...ctx.oidc.requestParamScopes].filter((s) => FIRST_PARTY_SCOPES.has(s)).join(' '))
  await grant.save()
  return grant
}
