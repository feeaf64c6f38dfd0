/**
 * The sidecar this example talks to, started in the same process for convenience: the sms-otp
 * engine behind LinOTP's HTTP API (`createSidecar`), on its own loopback port. In production it
 * is its own service (`sms-otp serve --config …`) and the app only knows its URL (SIDECAR_URL).
 *
 * Configured for a password-based first factor: policy `otppin=password` makes the "PIN" of
 * `/validate/check` the user's directory password (users.json), and policy `autoenrollment=sms`
 * gives a user without a token (bob) one for the `mobile` of his directory entry on first login.
 *
 * The engine is the examples' shared one (../shared/engine.ts) with `otppin=password` added.
 */
import type { Server } from 'node:http'
import { pino } from 'pino'
import { createSidecar } from 'sms-otp/sidecar'
import { openExampleEngine } from '../shared/engine.js'

export interface RunningSidecar {
  readonly url: string
  close(): Promise<void>
}

/** Opens the engine over `dataDir`, configures it (idempotently) and serves `/validate/*` on `port`. */
export async function startSidecar(dataDir: string, port: number, usersFile: string): Promise<RunningSidecar> {
  const otp = await openExampleEngine({ dataDir, usersFile, name: 'sidecar', authentication: 'otppin=password' })
  // Only the validate API (no admin token configured, so /admin and /system answer 404), and
  // never a password in a GET query string (it would end up in access logs).
  const app = createSidecar({ otp, logger: pino({ name: 'sidecar', level: process.env.LOG_LEVEL ?? 'info' }), api: 'validate', noGet: true })
  const server: Server = await new Promise((ok, fail) => {
    const s = app.listen(port, '127.0.0.1', () => ok(s))
    s.once('error', fail)
  })
  const janitor = setInterval(() => void otp.purgeExpired().catch(() => undefined), 60_000)
  janitor.unref()
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      clearInterval(janitor)
      await new Promise<void>((ok) => {
        server.close(() => ok())
        server.closeAllConnections()
      })
      await otp.close()
    },
  }
}
