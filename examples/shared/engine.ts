/**
 * The sms-otp engine every example opens: SQLite store and key file under the data directory,
 * an outbox "SMS gateway" (`$DATA_DIR/sms-outbox.log`, one `<phone>:<otp>` line per SMS), realm
 * `example` (with users.json as its directory when given), auto-enrolment on, and alice's token.
 * Every step is idempotent: a restart on the same data directory finds the same key, database and
 * token, and changes nothing.
 */
import { randomBytes } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import { createSmsOtp, createSqliteStore, fileResolver, loadMasterKey, Secrets, type SmsOtp } from 'sms-otp'

/** The one realm of the examples (LinOTP realms group users; resolvers say who exists). */
export const REALM = 'example'

/** alice owns a token from the start; bob gets one on his first login (auto-enrolment). */
export const ALICE = { user: 'alice', phone: '+4915112345678' } as const

export interface ExampleEngineOptions {
  /** Where the database, the key file and the outbox live. */
  readonly dataDir: string
  /** Logger name. */
  readonly name: string
  /** users.json (bcrypt hashes, `mobile`): the realm's directory. Without it there is none (the OpenID provider is the directory). */
  readonly usersFile?: string
  /** Further authentication-scope actions for everyone, e.g. `otppin=password` for the sidecar. */
  readonly authentication?: string
}

export async function openExampleEngine(o: ExampleEngineOptions): Promise<SmsOtp> {
  // 0700: the key file and the database are secrets (sms-otp refuses a key file others can read).
  await mkdir(o.dataDir, { recursive: true, mode: 0o700 })
  const otp = await createSmsOtp({
    store: createSqliteStore({ path: join(o.dataDir, 'sms-otp.db') }),
    // A missing key file is created with a fresh random key; back it up with the database.
    secrets: new Secrets(await loadMasterKey(join(o.dataDir, 'sms-otp.key'))),
    ...(o.usersFile === undefined ? {} : { users: { realms: { [REALM]: [fileResolver({ name: 'example-users', path: o.usersFile })] }, defaultRealm: REALM } }),
    logger: pino({ name: o.name, level: process.env.LOG_LEVEL ?? 'info' }),
  })
  await otp.realms.set(REALM, true)
  // The outbox stands in for an SMS gateway. In production this is an HttpSMSProvider,
  // SMPPSMSProvider, … (docs/providers.md).
  await otp.providers.set({
    name: 'outbox',
    className: 'FileSMSProvider',
    config: JSON.stringify({ file: 'sms-outbox.log', here: o.dataDir, append: true }),
    timeout: 120,
  }, true)
  if (o.authentication !== undefined) {
    await otp.policies.set({ name: 'example-authentication', scope: 'authentication', action: o.authentication, user: '*', realm: '*' })
  }
  // A user without a token who passes the first factor gets an SMS token for the directory's
  // `mobile` (or the phone the host vouches for) and is challenged at once (bob).
  await otp.policies.set({ name: 'autoenroll', scope: 'enrollment', action: 'autoenrollment=sms', user: '*', realm: '*' })
  if ((await otp.tokens.show({ user: ALICE.user, realm: REALM })).length === 0) {
    // The PIN is never used by the examples' login pages; a random one keeps the token from ever
    // being usable with the OTP alone on a validate endpoint.
    await otp.tokens.init({ ...ALICE, realm: REALM, pin: randomBytes(24).toString('base64url'), description: 'example token' })
  }
  return otp
}
