/**
 * Auto-enrolment against a real OpenLDAP slapd: the directory `mobile` becomes the new token's
 * phone; a wrong service password, an unreachable server and a user without `mobile` each answer
 * with their own error and leave no token.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { ldapResolver, type LdapResolverOptions } from '../src/users/index.js'
import { autoSerial } from '../src/validate/autoenroll.js'
import { startHarness, type Harness } from './helpers/harness.js'
import { SERVICE_DN, SERVICE_PW, SUFFIX, slapdSkip, startSlapd, type Slapd } from './helpers/slapd.js'
import { adminOk, check } from './helpers/validate-helpers.js'

const people = `ou=people,${SUFFIX}`
const LDIF = `dn: uid=dora,${people}
objectClass: inetOrgPerson
uid: dora
cn: Dora
sn: Example
mobile: +4915187654321
userPassword: dora-password

dn: uid=ed,${people}
objectClass: inetOrgPerson
uid: ed
cn: Ed
sn: Example
mail: ed@example.org
userPassword: ed-password
`

describe('auto-enrolment from LDAP (real slapd)', { skip: slapdSkip }, () => {
  let slapd: Slapd
  before(async () => {
    slapd = await startSlapd({ ldif: LDIF })
  })
  after(async () => {
    await slapd?.stop()
  })

  async function harness(extra: Partial<LdapResolverOptions> = {}): Promise<Harness> {
    const corp = ldapResolver({ name: 'corp', url: slapd.url, bindDn: SERVICE_DN, bindPassword: SERVICE_PW, searchBase: people, attributes: { mobile: 'mobile', email: 'mail' }, timeoutMs: 3000, ...extra })
    const h = await startHarness({ users: { realms: { example: [corp] } } })
    await adminOk(h, '/system/setPolicy', { name: 'ae', scope: 'enrollment', action: 'autoenrollment=sms', realm: '*', user: '*' })
    return h
  }

  test('dora (mobile in the directory) is enrolled on first login and then authenticated', async () => {
    const h = await harness()
    try {
      const first = await check(h, { user: 'dora', pass: 'dora-password' })
      assert.equal(first.body.detail?.message, 'sms submitted', JSON.stringify(first.body))
      assert.equal((await h.sms())[0]?.phone, '+4915187654321')
      const [token] = await h.otp.tokens.show({ user: 'dora', realm: 'example' })
      assert.equal(token?.serial, autoSerial('dora', 'example'))
      const ok = await check(h, { user: 'dora', transactionid: first.body.detail.transactionid, pass: await h.lastOtp() })
      assert.equal(ok.body.result.value, true)
    } finally {
      await h.close()
    }
  })

  test('ed has no mobile: the error says so, no token', async () => {
    const h = await harness()
    try {
      const r = await h.otp.check({ user: 'ed', pass: 'ed-password' })
      assert.equal(r.error?.code, 'ERR_OTP_INVALID_PHONE')
      assert.match(r.error?.message ?? '', /missing mobile number/)
      assert.equal((await h.otp.tokens.show({ user: 'ed', realm: 'example' })).length, 0)
    } finally {
      await h.close()
    }
  })

  test('a wrong service bind password is a directory error, not a wrong password; no token', async () => {
    const h = await harness({ bindPassword: 'not-the-service-password' })
    try {
      const r = await h.otp.check({ user: 'dora', pass: 'dora-password' })
      assert.equal(r.value, false)
      assert.equal(r.internalError, true)
      assert.equal(r.error?.code, 'ERR_OTP_DIRECTORY')
      assert.equal((await h.otp.tokens.show({ user: 'dora', realm: 'example' })).length, 0)
      assert.equal((await h.sms()).length, 0)
    } finally {
      await h.close()
    }
  })

  test('an unreachable server is a directory error; no token', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((ok) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port
        s.close(() => ok(p))
      })
    })
    const h = await harness({ url: `ldap://127.0.0.1:${port}` })
    try {
      const r = await h.otp.check({ user: 'dora', pass: 'dora-password' })
      assert.equal(r.internalError, true)
      assert.equal(r.error?.code, 'ERR_OTP_DIRECTORY')
      assert.equal((await h.otp.tokens.show({ user: 'dora', realm: 'example' })).length, 0)
    } finally {
      await h.close()
    }
  })
})
