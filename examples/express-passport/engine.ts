/**
 * The sms-otp engine of the example: SQLite and the key file under the data directory, users from
 * users.json, an outbox "SMS gateway" (a file), auto-enrolment for users without a token, and
 * alice's token created on the first start.
 *
 * The imports are relative so the example runs against this checkout's sources; in your app they
 * are `from 'sms-otp'`.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import { createSmsOtp, createSqliteStore, fileResolver, loadMasterKey, Secrets, type SmsOtp } from 'sms-otp'

/** The one realm of the example (LinOTP realms group users; resolvers say who exists). */
export const REALM = 'example'

/** The demo users' phones: alice has a token, bob gets one on his first login (auto-enrolment). */
export const ALICE = { login: 'alice', phone: '+4915112345678' } as const

/**
 * Opens the engine over `dataDir` and configures it. Every step is idempotent: a restart finds
 * the same key, the same database, and alice's token in place.
 */
export async function openEngine(dataDir: string, usersFile: string): Promise<SmsOtp> {
  // 0700: the key file and the database live here (sms-otp refuses a key file others can read).
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const otp = await createSmsOtp({
    store: createSqliteStore({ path: join(dataDir, 'sms-otp.db') }),
    // A missing key file is created with a fresh random key; back it up with the database.
    secrets: new Secrets(await loadMasterKey(join(dataDir, 'sms-otp.key'))),
    users: { realms: { [REALM]: [fileResolver({ name: 'example-users', path: usersFile })] }, defaultRealm: REALM },
    logger: pino({ name: 'sms-otp', level: process.env.LOG_LEVEL ?? 'info' }),
  })
  await otp.realms.set(REALM, true)
  // The outbox stands in for an SMS gateway: each SMS becomes a `<phone>:<otp>` line. In
  // production this is an HttpSMSProvider, SMPPSMSProvider, … (docs/providers.md).
  await otp.providers.set({
    name: 'outbox',
    className: 'FileSMSProvider',
    config: JSON.stringify({ file: 'sms-outbox.log', here: dataDir, append: true }),
    timeout: 120,
  }, true)
  // A user without a token who passes the first factor gets an SMS token for the `mobile` of
  // their directory entry and is challenged at once (bob).
  await otp.policies.set({ name: 'autoenroll', scope: 'enrollment', action: 'autoenrollment=sms', user: '*', realm: '*' })
  if ((await otp.tokens.show({ user: ALICE.login, realm: REALM })).length === 0) {
    await otp.tokens.init({ user: ALICE.login, realm: REALM, phone: ALICE.phone, description: 'example token' })
  }
  return otp
}
