/**
 * The sidecar this example talks to, started in the same process for convenience: the sms-otp
 * engine behind LinOTP's HTTP API (`createSidecar`), on its own loopback port. In production it
 * is its own service (`sms-otp serve --config …`) and the app only knows its URL (SIDECAR_URL).
 *
 * Configured for a password-based first factor: policy `otppin=password` makes the "PIN" of
 * `/validate/check` the user's directory password (users.json), and policy `autoenrollment=sms`
 * gives a user without a token (bob) one for the `mobile` of his directory entry on first login.
 *
 * The imports are relative so the example runs against this checkout's sources; in your code they
 * are `from 'sms-otp'` and `from 'sms-otp/sidecar'`.
 */
import { mkdir } from 'node:fs/promises'
import type { Server } from 'node:http'
import { join } from 'node:path'
import { pino } from 'pino'
import { createSmsOtp, createSqliteStore, fileResolver, loadMasterKey, Secrets } from 'sms-otp'
import { createSidecar } from 'sms-otp/sidecar'

const REALM = 'example'

export interface RunningSidecar {
  readonly url: string
  close(): Promise<void>
}

/** Opens the engine over `dataDir`, configures it (idempotently) and serves `/validate/*` on `port`. */
export async function startSidecar(dataDir: string, port: number, usersFile: string): Promise<RunningSidecar> {
  const logger = pino({ name: 'sidecar', level: process.env.LOG_LEVEL ?? 'info' })
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const otp = await createSmsOtp({
    store: createSqliteStore({ path: join(dataDir, 'sms-otp.db') }),
    secrets: new Secrets(await loadMasterKey(join(dataDir, 'sms-otp.key'))),
    // Realms and resolvers in code: the sidecar's config file may not name resolvers yet.
    users: { realms: { [REALM]: [fileResolver({ name: 'example-users', path: usersFile })] }, defaultRealm: REALM },
    logger,
  })
  await otp.realms.set(REALM, true)
  await otp.providers.set({
    name: 'outbox',
    className: 'FileSMSProvider',
    config: JSON.stringify({ file: 'sms-outbox.log', here: dataDir, append: true }),
    timeout: 120,
  }, true)
  await otp.policies.set({ name: 'password-is-pin', scope: 'authentication', action: 'otppin=password', user: '*', realm: '*' })
  await otp.policies.set({ name: 'autoenroll', scope: 'enrollment', action: 'autoenrollment=sms', user: '*', realm: '*' })
  if ((await otp.tokens.show({ user: 'alice', realm: REALM })).length === 0) {
    await otp.tokens.init({ user: 'alice', realm: REALM, phone: '+4915112345678', description: 'example token' })
  }
  // Only the validate API (no admin token configured, so /admin and /system answer 404), and
  // never a password in a GET query string (it would end up in access logs).
  const app = createSidecar({ otp, logger, api: 'validate', noGet: true })
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
