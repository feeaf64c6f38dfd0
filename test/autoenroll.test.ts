/**
 * Auto-enrolment on first login (policy `autoenrollment`, LinOTP §1.10): a user with no token who
 * passes the first factor gets an SMS token for the directory's `mobile` (or the host's phone)
 * and is challenged at once; every failure leaves no token behind.
 */
import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, it } from 'node:test'
import { sha512Crypt } from '../src/users/crypt.js'
import { fileResolver } from '../src/users/index.js'
import { autoSerial } from '../src/validate/autoenroll.js'
import { startHarness, type Harness } from './helpers/harness.js'
import { adminOk, auditOf, brokenProvider, check } from './helpers/validate-helpers.js'

let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

const BOB_MOBILE = '+4915187654321'
const hash = (pw: string) => sha512Crypt(pw, '$6$rounds=5000$autoenrolsalt')

/** Realm `example` with a users file: bob (mobile), carol (no mobile), dave (a mobile that is no number). */
async function withDirectory(action = 'autoenrollment=sms'): Promise<Harness> {
  const path = join(await mkdtemp(join(tmpdir(), 'sms-otp-ae-')), 'users.json')
  await writeFile(path, JSON.stringify([
    { login: 'bob', password: hash('bob-password'), mobile: BOB_MOBILE },
    { login: 'carol', password: hash('carol-password'), email: 'carol@example.org' },
    { login: 'dave', password: hash('dave-password'), mobile: 'call me maybe' },
  ]))
  h = await startHarness({ users: { realms: { example: [fileResolver({ name: 'local', path })] }, defaultRealm: 'example' } })
  if (action !== '') await adminOk(h, '/system/setPolicy', { name: 'ae', scope: 'enrollment', action, realm: '*', user: '*' })
  return h
}

async function tokensOf(h: Harness, user: string) {
  return h.otp.tokens.show({ user, realm: 'example' })
}

describe('auto-enrolment on /validate/check (directory password)', () => {
  it('enrols bob with his directory mobile, sends the SMS at once; the OTP then authenticates; his password is the PIN', async () => {
    const h = await withDirectory()
    const first = await check(h, { user: 'bob', pass: 'bob-password' })
    assert.equal(first.body.result.value, false)
    assert.equal(first.body.detail?.message, 'sms submitted', JSON.stringify(first.body))
    assert.equal(first.body.detail?.linotp_tokentype, 'sms')
    const [token] = await tokensOf(h, 'bob')
    assert.ok(token, 'a token was created')
    assert.equal(token.serial, autoSerial('bob', 'example'))
    assert.equal(token.phone, BOB_MOBILE)
    assert.equal(token.description, 'auto enrolled for bob@example')
    const sms = await h.sms()
    assert.equal(sms.length, 1)
    assert.equal(sms[0]?.phone, BOB_MOBILE)
    const otp = await h.lastOtp()
    const ok = await check(h, { user: 'bob', transactionid: first.body.detail.transactionid, pass: otp })
    assert.equal(ok.body.result.value, true)
    // LinOTP: the PIN of the new token is the password just used.
    h.clock.advance(60_000)
    const again = await check(h, { user: 'bob', pass: 'bob-password' })
    assert.equal(again.body.detail?.message, 'sms submitted')
    assert.equal((await tokensOf(h, 'bob')).length, 1, 'no second token')
    assert.match(auditOf(h, 'validate/check')[0]?.action ?? '', /^token auto-enrolled, challenge triggered$/)
  })

  it('the typed result names the enrolled token, the masked phone and the resend time', async () => {
    const h = await withDirectory()
    const r = await h.otp.check({ user: 'bob', pass: 'bob-password' })
    assert.equal(r.sms?.enrolled, autoSerial('bob', 'example'))
    assert.equal(r.sms?.maskedPhone?.includes('87654321'), false)
    assert.match(r.sms?.maskedPhone ?? '', /4321$/)
    assert.equal(r.sms?.resendInSeconds, 30)
    assert.equal(r.sms?.sent, true)
  })

  it('threat: a wrong password enrols nothing, sends nothing and says no more than any wrong password', async () => {
    const h = await withDirectory()
    const wrong = await check(h, { user: 'bob', pass: 'guess' })
    const unknown = await check(h, { user: 'mallory', pass: 'guess' })
    assert.equal(wrong.body.result.value, false)
    assert.deepEqual(wrong.body, unknown.body)
    assert.equal((await tokensOf(h, 'bob')).length, 0)
    assert.equal((await h.sms()).length, 0)
  })

  it('no mobile: the error says so, no token is left', async () => {
    const h = await withDirectory()
    const r = await check(h, { user: 'carol', pass: 'carol-password' })
    assert.equal(r.body.result.value, false)
    assert.equal(r.body.detail?.error, 'auto_enrollment for user carol@example failed: missing mobile number!')
    assert.equal((await tokensOf(h, 'carol')).length, 0)
    const lib = await h.otp.check({ user: 'carol', pass: 'carol-password' })
    assert.equal(lib.error?.code, 'ERR_OTP_INVALID_PHONE')
  })

  it('an invalid mobile: the error says so, no token is left', async () => {
    const h = await withDirectory()
    const r = await h.otp.check({ user: 'dave', pass: 'dave-password' })
    assert.equal(r.value, false)
    assert.equal(r.error?.code, 'ERR_OTP_INVALID_PHONE')
    assert.match(r.error?.message ?? '', /auto_enrollment for user dave@example failed: phone:/)
    assert.equal(r.error?.message.includes('call me maybe'), false, 'the number is not echoed')
    assert.equal((await tokensOf(h, 'dave')).length, 0)
  })

  it('the SMS cannot be sent: an internal error, and the new token is removed again', async () => {
    const h = await withDirectory()
    await brokenProvider(h, 'down')
    await adminOk(h, '/system/setDefaultProvider', { name: 'down' })
    const r = await h.otp.check({ user: 'bob', pass: 'bob-password' })
    assert.equal(r.value, false)
    assert.equal(r.internalError, true)
    assert.equal(r.error?.code, 'ERR_OTP_PROVIDER_UNAVAILABLE')
    assert.equal((await tokensOf(h, 'bob')).length, 0, 'no half token')
    // Once the gateway is back the same login enrols cleanly.
    await adminOk(h, '/system/setDefaultProvider', { name: 'outbox' })
    assert.equal((await h.otp.check({ user: 'bob', pass: 'bob-password' })).sms?.sent, true)
    assert.equal((await tokensOf(h, 'bob')).length, 1)
  })

  it('without the policy (or with autoenrollment=email only) nobody is enrolled', async () => {
    const none = await withDirectory('')
    assert.equal((await check(none, { user: 'bob', pass: 'bob-password' })).body.detail, undefined)
    assert.equal((await tokensOf(none, 'bob')).length, 0)
    await none.close()
    h = undefined
    const email = await withDirectory('autoenrollment=email')
    assert.equal((await check(email, { user: 'bob', pass: 'bob-password' })).body.detail, undefined)
    assert.equal((await tokensOf(email, 'bob')).length, 0)
  })

  it('autoenrollment takes sms, email or * only', async () => {
    const h = await withDirectory('')
    const bad = await h.admin('/system/setPolicy', { name: 'x', scope: 'enrollment', action: 'autoenrollment=fax', realm: '*', user: '*' })
    assert.equal(bad.body.result.status, false)
    assert.match(bad.body.result.error.message, /autoenrollment takes sms, email or \*/)
    await adminOk(h, '/system/setPolicy', { name: 'y', scope: 'enrollment', action: 'autoenrollment=email sms', realm: '*', user: '*' })
    assert.equal((await h.otp.check({ user: 'bob', pass: 'bob-password' })).sms?.sent, true)
  })

  it('the policy follows user and realm conditions', async () => {
    const h = await withDirectory('')
    await adminOk(h, '/system/setPolicy', { name: 'ae', scope: 'enrollment', action: 'autoenrollment=sms', realm: 'example', user: 'carol' })
    assert.equal((await h.otp.check({ user: 'bob', pass: 'bob-password' })).sms, undefined)
    assert.equal((await tokensOf(h, 'bob')).length, 0)
  })
})

describe('auto-enrolment: the reserved serial prefix and a store failure', () => {
  it('/admin/init refuses the SMSAE prefix of auto-enrolled tokens', async () => {
    const h = await withDirectory()
    const r = await h.admin('/admin/init', { type: 'sms', user: 'bob', realm: 'example', phone: BOB_MOBILE, serial: autoSerial('bob', 'example') })
    assert.equal(r.status, 400)
    assert.match(r.body.result.error.message, /prefix SMSAE is reserved/)
  })

  it('a store that fails after the token was made leaves no token', async () => {
    const h = await withDirectory()
    const challenges = h.otp.core.store.challenges
    const issue = challenges.issue.bind(challenges)
    challenges.issue = async () => {
      throw new Error('store is down')
    }
    try {
      const r = await h.otp.check({ user: 'bob', pass: 'bob-password' })
      assert.equal(r.internalError, true)
    } finally {
      challenges.issue = issue
    }
    assert.equal((await tokensOf(h, 'bob')).length, 0)
  })
})

describe('auto-enrolment on trigger() (the host did the first factor)', () => {
  it('enrols from the directory; the token PIN is random, so /validate/check never accepts the OTP alone', async () => {
    const h = await withDirectory()
    const t = await h.otp.trigger({ user: 'bob' })
    assert.equal(t.sms?.enrolled, autoSerial('bob', 'example'))
    const otp = await h.lastOtp()
    assert.equal((await check(h, { user: 'bob', pass: otp })).body.result.value, false)
    assert.equal((await check(h, { user: 'bob', pass: '' })).body.result.value, false)
    const v = await h.otp.verify({ user: 'bob', transactionId: t.sms?.transactionId ?? '', otp: await h.lastOtp() })
    assert.equal(v.value, true, "the host's verify still takes the OTP")
  })

  it('a user the directory does not know is enrolled with the phone the host vouches for', async () => {
    const h = await withDirectory()
    const t = await h.otp.trigger({ user: 'erin@sso', phone: '+4917612345678' })
    assert.equal(t.sms?.sent, true)
    assert.equal((await h.sms())[0]?.phone, '+4917612345678')
    const v = await h.otp.verify({ user: 'erin@sso', transactionId: t.sms?.transactionId ?? '', otp: await h.lastOtp() })
    assert.equal(v.value, true)
  })

  it('the directory mobile wins over the host phone', async () => {
    const h = await withDirectory()
    await h.otp.trigger({ user: 'bob', phone: '+4917612345678' })
    assert.equal((await h.sms())[0]?.phone, BOB_MOBILE)
  })

  it('threat: no phone from the wire: /validate/check ignores a phone parameter', async () => {
    const h = await withDirectory()
    await check(h, { user: 'carol', pass: 'carol-password', phone: '+4917612345678' })
    assert.equal((await tokensOf(h, 'carol')).length, 0)
    assert.equal((await h.sms()).length, 0)
  })

  it('two first logins at once make one token and one SMS', async () => {
    const h = await withDirectory()
    const [a, b] = await Promise.all([h.otp.trigger({ user: 'bob' }), h.otp.trigger({ user: 'bob' })])
    assert.equal((await tokensOf(h, 'bob')).length, 1)
    assert.equal((await h.sms()).length, 1)
    assert.equal(a.sms?.transactionId, b.sms?.transactionId)
  })
})
