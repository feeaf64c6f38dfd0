/**
 * Security review of the login faces and user directories (auto-enrolment, remember this device,
 * sidecar realms and resolvers). Each `threat:` test demonstrates one finding; each failed on the
 * code before its fix (docs/security.md "Review of the login faces").
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { closeSync, constants, openSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import { ManualClock } from '../src/clock.js'
import { Secrets } from '../src/crypto/secrets.js'
import { createSmsOtp } from '../src/sms-otp.js'
import { createSqliteStore } from '../src/stores/sqlite.js'
import type { Store } from '../src/stores/types.js'
import { functionResolver, ldapResolver } from '../src/users/index.js'
import { autoSerial } from '../src/validate/autoenroll.js'
import { startHarness, type Harness } from './helpers/harness.js'
import { SERVICE_DN, SERVICE_PW, SUFFIX, slapdSkip, startSlapd, type Slapd } from './helpers/slapd.js'
import { adminOk, check } from './helpers/validate-helpers.js'
import { cookieBrowser, startGateApp, type GateApp } from './helpers/gate-app.js'

let h: Harness | undefined
let app: GateApp | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
  await app?.close()
  app = undefined
})

const BOB_MOBILE = '+4915187654321'

/**
 * A directory that matches logins case-insensitively and answers the canonical spelling, as LDAP
 * does for `uid` (caseIgnoreMatch) and as most SQL user tables do.
 */
function caseInsensitiveDirectory() {
  const users = new Map([['bob', { password: 'bob-password', mobile: BOB_MOBILE }]])
  return functionResolver({
    name: 'corp',
    find: async (login) => (users.has(login.toLowerCase()) ? { login: login.toLowerCase(), attributes: { mobile: users.get(login.toLowerCase())?.mobile ?? '' } } : undefined),
    checkPassword: async (login, password) => users.get(login.toLowerCase())?.password === password,
  })
}

describe('review: auto-enrolment', () => {
  it('threat: another spelling of a directory login (BOB for bob) enrols a second token and walks around the admin-disabled one', async () => {
    h = await startHarness({ users: { realms: { example: [caseInsensitiveDirectory()] }, defaultRealm: 'example' } })
    await adminOk(h, '/system/setPolicy', { name: 'ae', scope: 'enrollment', action: 'autoenrollment=sms', realm: '*', user: '*' })
    const first = await check(h, { user: 'bob', pass: 'bob-password' })
    assert.equal(first.body.detail?.message, 'sms submitted', JSON.stringify(first.body))
    // The admin disables bob's token (lost phone, suspected compromise, leaver): bob must not get in.
    await h.otp.tokens.disable({ serial: autoSerial('bob', 'example') })
    h.clock.advance(60_000)
    const sent = (await h.sms()).length
    const blocked = await check(h, { user: 'bob', pass: 'bob-password' })
    assert.notEqual(blocked.body.detail?.message, 'sms submitted', 'the disabled token sends nothing (holds today)')
    // Same person, same password, the login typed in capitals: a fresh token with a fresh failcounter.
    const other = await check(h, { user: 'BOB', pass: 'bob-password' })
    assert.notEqual(other.body.detail?.message, 'sms submitted', `a second token was enrolled: ${JSON.stringify(other.body)}`)
    assert.equal((await h.sms()).length, sent, 'no SMS went out')
    assert.deepEqual(await h.otp.tokens.show({ user: 'BOB', realm: 'example' }), [], 'no token for the other spelling')
  })

  it('threat: a name exclusion of the autoenrollment policy (user=*, !bob) is escaped by typing BOB', async () => {
    h = await startHarness({ users: { realms: { example: [caseInsensitiveDirectory()] }, defaultRealm: 'example' } })
    await adminOk(h, '/system/setPolicy', { name: 'ae', scope: 'enrollment', action: 'autoenrollment=sms', realm: '*', user: '*, !bob' })
    const excluded = await check(h, { user: 'bob', pass: 'bob-password' })
    assert.notEqual(excluded.body.detail?.message, 'sms submitted', 'bob is excluded (holds today)')
    const escaped = await check(h, { user: 'BOB', pass: 'bob-password' })
    assert.notEqual(escaped.body.detail?.message, 'sms submitted', `bob escaped his exclusion as BOB: ${JSON.stringify(escaped.body)}`)
  })
  it('threat: a tokenless user\'s directory password can be guessed without limit (the right one answers differently: an oracle with no failcounter)', async () => {
    h = await startHarness({ users: { realms: { example: [caseInsensitiveDirectory()] }, defaultRealm: 'example' } })
    await adminOk(h, '/system/setPolicy', { name: 'ae', scope: 'enrollment', action: 'autoenrollment=sms', realm: '*', user: '*' })
    // Twice DefaultMaxFailCount (10) wrong guesses, as fast as the sidecar answers.
    for (let i = 0; i < 20; i++) {
      const wrong = await check(h, { user: 'bob', pass: `guess-${i}` })
      assert.equal(wrong.body.result.value, false)
    }
    const right = await check(h, { user: 'bob', pass: 'bob-password' })
    // Expected: after maxfail wrong first factors the login is refused like any other wrong one
    // (a per-login failcounter before any token exists, reset by an admin or after a while).
    assert.notEqual(right.body.detail?.message, 'sms submitted', 'the 21st guess was confirmed right and enrolled a token')
  })
})

const people = `ou=people,${SUFFIX}`
const LDIF = `dn: uid=dora,${people}
objectClass: inetOrgPerson
uid: dora
cn: Dora
sn: Example
mobile: +4915187654321
userPassword: dora-password
`

describe('review: auto-enrolment from a real slapd', { skip: slapdSkip }, () => {
  let slapd: Slapd
  before(async () => {
    slapd = await startSlapd({ ldif: LDIF })
  })
  after(async () => {
    await slapd?.stop()
  })
  async function ldapHarness(): Promise<Harness> {
    const corp = ldapResolver({ name: 'corp', url: slapd.url, bindDn: SERVICE_DN, bindPassword: SERVICE_PW, searchBase: people, timeoutMs: 3000 })
    const harness = await startHarness({ users: { realms: { example: [corp] } } })
    await adminOk(harness, '/system/setPolicy', { name: 'ae', scope: 'enrollment', action: 'autoenrollment=sms', realm: '*', user: '*' })
    return harness
  }

  it('threat: DORA (LDAP uid matching ignores case) gets a second token after the admin disabled dora\'s', async () => {
    h = await ldapHarness()
    assert.equal((await check(h, { user: 'dora', pass: 'dora-password' })).body.detail?.message, 'sms submitted')
    await h.otp.tokens.disable({ serial: autoSerial('dora', 'example') })
    h.clock.advance(60_000)
    const r = await check(h, { user: 'DORA', pass: 'dora-password' })
    assert.notEqual(r.body.detail?.message, 'sms submitted', `a second token was enrolled: ${JSON.stringify(r.body)}`)
  })

  it('threat: a login with a $ replacement pattern (dora$`) rewrites the search filter: an internal error instead of an unknown user', async () => {
    h = await ldapHarness()
    // String.prototype.replaceAll expands $` $' $& in a string replacement: the escaped login is not
    // what reaches the filter. Expected: the login is looked up literally (nobody), a plain wrong answer.
    const r = await h.otp.check({ user: 'dora$`', pass: 'dora-password' })
    assert.equal(r.internalError, undefined, `the filter was rewritten: ${r.error?.message ?? ''}`)
    assert.equal(r.value, false)
  })
})

describe('review: admin-defined user resolvers', () => {
  it('threat: an admin-defined users file that is a FIFO under an allowed path hangs every login of the realm (the allow-paths rule says regular files only)', async () => {
    h = await startHarness({ users: { realms: { example: [caseInsensitiveDirectory()] }, defaultRealm: 'example' } })
    const fifo = join(h.dir, 'users.fifo')
    execFileSync('mkfifo', [fifo])
    let answered: unknown
    try {
      // Expected: refused when set, or an internal error at the first use; never a hang.
      const set = await h.admin('/system/setResolver', { name: 'pipe', type: 'passwdresolver', fileName: fifo })
      if (set.status !== 200 || set.body?.result?.status !== true) {
        console.log('setResolver answered', set.status, JSON.stringify(set.body))
        return
      }
      await adminOk(h, '/system/setRealm', { realm: 'piped', resolvers: 'pipe' })
      // otppin=password: the check asks the realm's directory for the password.
      await adminOk(h, '/system/setPolicy', { name: 'pw', scope: 'authentication', action: 'otppin=password', realm: 'piped', user: '*', client: '*' })
      answered = await Promise.race([
        check(h, { user: 'x', realm: 'piped', pass: 'y' }).then((r) => r.status),
        new Promise((ok) => setTimeout(() => ok('hung'), 3000)),
      ])
    } finally {
      // Unblock the reader stuck in open(2) so the process can end.
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK))
      } catch {
        // nobody was reading
      }
    }
    assert.notEqual(answered, 'hung', 'the login hung on the FIFO')
  })
})

describe('review: admin-defined LDAP resolvers and user passwords', () => {
  it('threat: with the default resources the admin API may send every user\'s password, in clear, to any public LDAP host placed first in the realm', async () => {
    h = await startHarness({ users: { realms: { example: [caseInsensitiveDirectory()] }, defaultRealm: 'example' } })
    // A stolen admin token is enough: no --allow-host was given, plain ldap:// to a public address.
    const set = await h.admin('/system/setResolver', { name: 'harvest', type: 'ldapresolver', LDAPURI: 'ldap://203.0.113.10', LDAPBASE: 'dc=x', BINDDN: 'cn=x', BINDPW: 'x' })
    assert.notEqual(set.body?.result?.status, true, 'an admin-defined LDAP resolver (it receives users\' passwords) needs an allowed host, and TLS')
  })
})

const start = (engine: { store?: Store; secrets?: Secrets; clock?: ManualClock } = {}): Promise<GateApp> => startGateApp(engine)
const browser = cookieBrowser

describe('review: remember this device', () => {
  it('threat: removing the user\'s token (lost phone, leaver) leaves the remembered device letting them in without any second factor', async () => {
    const a = (app = await start())
    const b = browser(a)
    await b.login('alice', true)
    a.clock.advance(1000)
    await a.otp.tokens.remove({ user: 'alice' })
    b.jar.delete('connect.sid')
    await b.post('/first', { user: 'alice' })
    const p = await b.get('/profile')
    // Without the cookie the gate answers 403 (no SMS token answers for this user).
    assert.notEqual(p.status, 200, 'the remembered device still passes the gate after the token was removed')
  })

  it('threat: a revocation made on an instance whose clock is behind leaves recently issued cookies valid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sms-otp-review8-db-'))
    const secrets = Secrets.ephemeral()
    const appClock = new ManualClock(Date.UTC(2026, 0, 1, 12, 0, 5)) // 5 s ahead of the admin's
    const a = (app = await start({ store: createSqliteStore({ path: join(dir, 'db.sqlite') }), secrets, clock: appClock }))
    const b = browser(a)
    await b.login('alice', true) // cookie iat = 12:00:05 on the app's clock
    // One second later in real time, an admin on another instance (clock 12:00:01) revokes alice.
    const admin = await createSmsOtp({ store: createSqliteStore({ path: join(dir, 'db.sqlite') }), secrets, clock: new ManualClock(Date.UTC(2026, 0, 1, 12, 0, 1)) })
    try {
      await admin.devices.revoke({ user: 'alice' })
    } finally {
      await admin.close()
    }
    a.clock.advance(1000)
    b.jar.delete('connect.sid')
    await b.post('/first', { user: 'alice' })
    const p = await b.get('/profile')
    await rm(dir, { recursive: true, force: true }).catch(() => undefined)
    assert.equal(p.location, '/otp', 'the cookie issued before the revocation still skips the SMS')
  })
})
