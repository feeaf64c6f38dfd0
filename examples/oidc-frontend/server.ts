/**
 * An SSO front-end with an SMS second factor: sign in at an OpenID provider (openid-client,
 * authorization code + PKCE), then an SMS code (sms-otp's `requireSecondFactor()`) before
 * `/profile`. A user without an SMS token is enrolled on first login with the provider's verified
 * `phone_number` claim.
 *
 *   npx tsx examples/oidc-frontend/server.ts          # http://127.0.0.1:3000, demo provider on :3001
 *
 * Environment: `PORT` (3000), `DATA_DIR` (./data/oidc-frontend; SQLite store, key file, SMS outbox
 * `sms-outbox.log`), `OIDC_ISSUER` + `OIDC_CLIENT_ID` + `OIDC_CLIENT_SECRET` to use a real
 * provider (register `http://127.0.0.1:<PORT>/callback` there) instead of the demo one on PORT+1.
 */
import { randomBytes } from 'node:crypto'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createFrontend } from './app.js'
import { startDemoProvider, type DemoProvider } from './demo-provider.js'
import { openEngine } from './engine.js'
import { discover } from './oidc.js'
import { serveExample } from '../shared/serve.js'

const here = dirname(fileURLToPath(import.meta.url))
const port = Number(process.env.PORT ?? 3000)
const dataDir = resolve(process.env.DATA_DIR ?? './data/oidc-frontend')
const origin = `http://127.0.0.1:${port}`

const otp = await openEngine(dataDir)

let demo: DemoProvider | undefined
let issuer: string
let clientId: string
let clientSecret: string
if (process.env.OIDC_ISSUER) {
  issuer = process.env.OIDC_ISSUER
  clientId = required('OIDC_CLIENT_ID')
  clientSecret = required('OIDC_CLIENT_SECRET')
} else {
  clientId = 'oidc-frontend'
  clientSecret = randomBytes(32).toString('base64url')
  demo = await startDemoProvider({
    port: port + 1,
    usersFile: join(here, 'users.json'),
    client: { client_id: clientId, client_secret: clientSecret, redirect_uris: [`${origin}/callback`] },
  })
  issuer = demo.issuer
}

const oidc = await discover(new URL(issuer), clientId, clientSecret)
await serveExample(createFrontend({ otp, oidc, origin }), port, {
  ready: () => console.log(`oidc-frontend: ${origin} (OpenID provider ${issuer}${demo ? ', demo: alice / alice-password, bob / bob-password' : ''}); SMS outbox ${join(dataDir, 'sms-outbox.log')}`),
  close: async () => {
    await demo?.close()
    await otp.close()
  },
})

function required(name: string): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is required with OIDC_ISSUER`)
  return value
}
