/**
 * An identity platform with an SMS second factor: an OpenID provider (oidc-provider) whose login
 * asks for the directory password and then an SMS code (sms-otp's `SmsOtpStrategy`), so every
 * client of it gets the second factor; and a tiny relying party that proves the round trip.
 *
 *   npx tsx examples/oidc-idp/server.ts
 *     relying party      http://127.0.0.1:3000/          (PORT)
 *     OpenID provider    http://127.0.0.1:3001/          (PORT+1, the issuer)
 *
 * Environment: `PORT` (3000), `DATA_DIR` (./data/oidc-idp; SQLite store, key file, SMS outbox
 * `sms-outbox.log`). Users: users.json (alice / alice-password with a token; bob / bob-password,
 * enrolled for his directory `mobile` on first login).
 */
import { randomBytes } from 'node:crypto'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as client from 'openid-client'
import { openEngine } from './engine.js'
import { startIdp } from './provider.js'
import { createRp } from './rp.js'
import { serveExample } from '../shared/serve.js'

const here = dirname(fileURLToPath(import.meta.url))
const port = Number(process.env.PORT ?? 3000)
const dataDir = resolve(process.env.DATA_DIR ?? './data/oidc-idp')
const origin = `http://127.0.0.1:${port}`

const otp = await openEngine(dataDir, join(here, 'users.json'))

// The relying party is a confidential client of the provider; its secret lives for this run.
const rpClient = { client_id: 'demo-rp', client_secret: randomBytes(32).toString('base64url'), redirect_uris: [`${origin}/callback`] }
const idp = await startIdp({ otp, port: port + 1, clients: [rpClient] })

// Plain http is acceptable here only because both ends are on loopback.
const oidc = await client.discovery(new URL(idp.issuer), rpClient.client_id, undefined, client.ClientSecretBasic(rpClient.client_secret), {
  execute: [client.allowInsecureRequests],
})
await serveExample(createRp({ oidc, origin }), port, {
  ready: () => console.log(`oidc-idp: relying party ${origin}, OpenID provider ${idp.issuer} (alice / alice-password, bob / bob-password); SMS outbox ${join(dataDir, 'sms-outbox.log')}`),
  close: async () => {
    await idp.close()
    await otp.close()
  },
})
