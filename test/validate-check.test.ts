/**
 * `/validate/check` through real HTTP: every row of spec §2.2's table, the request forms (GET,
 * POST form, JSON body, user@realm, default realm), blocking (§1.7) and lockout (§5).
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, test } from 'node:test'
import { enrolAlice, startHarness, type Harness } from './helpers/harness.js'
import {
  ALICE_PHONE, ALICE_PIN, RFC_KEY, adminOk, aliceOtp, auditOf, brokenProvider, check, counter, failcount, fileProvider, policy, postJson,
  readOutbox, refHotp, setConfig, tokenInfo, triggerAlice,
} from './helpers/validate-helpers.js'

const SERIAL = 'LSSM0001'
const TXID = /^[1-9][0-9]{16}$/

let h: Harness
beforeEach(async () => {
  h = await startHarness()
})
afterEach(async () => {
  await h.close()
})

describe('§2.2 /validate/check table', () => {
  test('PIN only → value false and the full challenge detail, one SMS with HOTP(1)', async () => {
    await enrolAlice(h, { description: 'alice phone' })
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal(r.status, 200)
    assert.deepEqual(r.body.result, { status: true, value: false })
    const d = r.body.detail
    assert.match(d.transactionid, TXID)
    assert.deepEqual(d, {
      transactionid: d.transactionid,
      message: 'sms submitted',
      state: d.transactionid,
      linotp_tokenserial: SERIAL,
      linotp_tokentype: 'sms',
      linotp_tokendescription: 'alice phone',
    })
    assert.deepEqual(await h.sms(), [{ phone: ALICE_PHONE, text: aliceOtp(1) }])
    assert.equal(await counter(h, SERIAL), 1)
    assert.equal(await failcount(h, SERIAL), 0)
    const a = auditOf(h, 'validate/check').at(-1)
    assert.equal(a?.action, 'challenge triggered')
    assert.equal(a?.result, false)
  })

  test('PIN again within the blocking time → old transaction id, "already submitted", no SMS', async () => {
    await enrolAlice(h)
    const first = await triggerAlice(h)
    h.clock.advance(10_000)
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.deepEqual(r.body.detail, {
      transactionid: first,
      message: 'sms with otp already submitted',
      state: first,
      info: 'challenge already submitted',
      linotp_tokenserial: SERIAL,
      linotp_tokentype: 'sms',
      linotp_tokendescription: '',
    })
    assert.equal((await h.sms()).length, 1)
    assert.equal(await counter(h, SERIAL), 1)
  })

  test('PIN+OTP correct → true without detail; the counter moves past the OTP', async () => {
    await enrolAlice(h)
    await triggerAlice(h)
    const r = await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })
    assert.deepEqual(r.body.result, { status: true, value: true })
    assert.equal('detail' in r.body, false)
    assert.equal(await counter(h, SERIAL), 2)
    assert.equal(auditOf(h, 'validate/check').at(-1)?.action, 'authenticated')
    // replay → false, failcount +1
    const replay = await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })
    assert.deepEqual(replay.body.result, { status: true, value: false })
    assert.equal('detail' in replay.body, false)
    assert.equal(await failcount(h, SERIAL), 1)
  })

  test('PIN+OTP with auth_info=true → detail.auth_info with pin and otp length', async () => {
    await enrolAlice(h)
    await triggerAlice(h)
    const r = await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1), auth_info: 'true' })
    assert.equal(r.body.result.value, true)
    assert.deepEqual(r.body.detail, { auth_info: [['pin_length', 4], ['otp_length', 6]] })
  })

  test('transactionid + OTP → true, no detail', async () => {
    await enrolAlice(h)
    const tx = await triggerAlice(h)
    const r = await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })
    assert.deepEqual(r.body.result, { status: true, value: true })
    assert.equal('detail' in r.body, false)
    assert.equal(await counter(h, SERIAL), 2)
  })

  test('state + OTP → true', async () => {
    await enrolAlice(h)
    const tx = await triggerAlice(h)
    const r = await check(h, { user: 'alice', state: tx, pass: aliceOtp(1) })
    assert.deepEqual(r.body.result, { status: true, value: true })
    assert.equal('detail' in r.body, false)
  })

  test('transactionid + PIN+OTP → true', async () => {
    await enrolAlice(h)
    const tx = await triggerAlice(h)
    const r = await check(h, { user: 'alice', transactionid: tx, pass: ALICE_PIN + aliceOtp(1) })
    assert.deepEqual(r.body.result, { status: true, value: true })
    assert.equal('detail' in r.body, false)
  })

  test('transactionid + wrong PIN + right OTP → false (a wrong PIN is not dropped)', async () => {
    await enrolAlice(h)
    const tx = await triggerAlice(h)
    const r = await check(h, { user: 'alice', transactionid: tx, pass: '9999' + aliceOtp(1) })
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.equal(await failcount(h, SERIAL), 1)
    assert.equal(await counter(h, SERIAL), 1)
  })

  test('wrong PIN → false, no detail, no SMS, failcount 1', async () => {
    await enrolAlice(h)
    const r = await check(h, { user: 'alice', pass: '9999' })
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.equal('detail' in r.body, false)
    assert.equal((await h.sms()).length, 0)
    assert.equal(await failcount(h, SERIAL), 1)
    assert.equal(await counter(h, SERIAL), 0)
  })

  test('wrong OTP (PIN+OTP and transactionid forms) → false, no detail, failcount counts each', async () => {
    await enrolAlice(h)
    const tx = await triggerAlice(h)
    const r1 = await check(h, { user: 'alice', pass: ALICE_PIN + '000000' })
    assert.deepEqual(r1.body.result, { status: true, value: false })
    assert.equal('detail' in r1.body, false)
    const r2 = await check(h, { user: 'alice', transactionid: tx, pass: '000000' })
    assert.deepEqual(r2.body.result, { status: true, value: false })
    assert.equal('detail' in r2.body, false)
    assert.equal(await failcount(h, SERIAL), 2)
    assert.equal(await counter(h, SERIAL), 1)
    assert.equal((await h.sms()).length, 1, 'a wrong answer never sends an SMS')
    // the right answer still works (the challenge stays open after a wrong answer)
    const ok = await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })
    assert.equal(ok.body.result.value, true)
    assert.equal(await failcount(h, SERIAL), 0)
  })

  test('locked token → false, no detail, no SMS', async () => {
    await enrolAlice(h)
    await adminOk(h, '/admin/set', { serial: SERIAL, MaxFailCount: '1' })
    await check(h, { user: 'alice', pass: '0000' })
    assert.equal(await failcount(h, SERIAL), 1)
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.equal('detail' in r.body, false)
    assert.equal((await h.sms()).length, 0)
    assert.match(auditOf(h, 'validate/check').at(-1)?.reason ?? '', /Failcounter exceeded/)
  })

  test('user without token and unknown user → false, no detail', async () => {
    await enrolAlice(h)
    for (const user of ['bob', 'nobody-at-all']) {
      const r = await check(h, { user, pass: ALICE_PIN })
      assert.deepEqual(r.body.result, { status: true, value: false })
      assert.equal('detail' in r.body, false)
      assert.equal(auditOf(h, 'validate/check').at(-1)?.reason, 'user has no token')
    }
    assert.equal((await h.sms()).length, 0)
  })

  test('SMS could not be sent → false, no detail, reason in the audit', async () => {
    await enrolAlice(h)
    await brokenProvider(h, 'broken')
    await policy(h, 'use-broken', 'sms_provider=broken')
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.equal('detail' in r.body, false)
    assert.equal((await h.sms()).length, 0)
    const a = auditOf(h, 'validate/check').at(-1)
    assert.equal(a?.result, false)
    assert.equal(a?.action, 'rejected')
    assert.match(a?.reason ?? '', /^LSSM0001: The SMS could not be sent: unable to connect to any SMSProvider \[broken\]: broken \(Failed to open file/)
    // the failed send leaves no challenge behind: an immediate retry is not "already submitted"
    const again = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal('detail' in again.body, false)
    assert.match(auditOf(h, 'validate/check').at(-1)?.reason ?? '', /could not be sent/)
    assert.equal(await failcount(h, SERIAL), 0, 'a send failure is not a wrong answer')
  })

  test('missing pass → false, no detail, no SMS', async () => {
    await enrolAlice(h)
    const r = await check(h, { user: 'alice' })
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.equal('detail' in r.body, false)
    assert.equal((await h.sms()).length, 0)
    assert.equal(auditOf(h, 'validate/check').at(-1)?.reason, "Missing parameter: 'pass'")
  })

  test('several tokens, one still inside its blocking time: the top-level id answers that token too', async () => {
    const key2 = 'aabbccddeeff00112233445566778899aabbccdd'
    await enrolAlice(h)
    await adminOk(h, '/admin/init', { type: 'sms', user: 'alice', realm: 'example', phone: '+4915199999999', pin: ALICE_PIN, otpkey: key2, serial: 'LSSM0002' })
    const own = await check(h, { user: 'alice', serial: 'LSSM0002', pass: ALICE_PIN }) // token 2 alone
    const ownId = own.body.detail.transactionid as string
    h.clock.advance(5_000)
    const r = await check(h, { user: 'alice', pass: ALICE_PIN }) // token 1 sent, token 2 blocked
    const d = r.body.detail
    assert.equal(d.message, 'Multiple challenges submitted.')
    assert.equal(d.challenges.LSSM0002.message, 'sms with otp already submitted')
    assert.equal(d.challenges.LSSM0002.transactionid, ownId)
    assert.equal(d.transactionid, ownId, 'the blocked challenge\'s id is the base')
    assert.equal(d.challenges.LSSM0001.transactionid, `${ownId}.01`)
    const ok = await check(h, { user: 'alice', transactionid: d.transactionid, pass: refHotp(key2, 1) })
    assert.equal(ok.body.result.value, true, 'token 2 answers through the top-level id')
    assert.equal(await failcount(h, 'LSSM0001'), 0)
  })

  test('several tokens trigger → "Multiple challenges submitted." with sub ids; one sub id answers', async () => {
    const key2 = 'aabbccddeeff00112233445566778899aabbccdd'
    await enrolAlice(h, { description: 'first' })
    await adminOk(h, '/admin/init', {
      type: 'sms', user: 'alice', realm: 'example', phone: '+4915199999999', pin: ALICE_PIN, otpkey: key2, serial: 'LSSM0002', description: 'second',
    })
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.deepEqual(r.body.result, { status: true, value: false })
    const d = r.body.detail
    assert.match(d.transactionid, TXID)
    const base = d.transactionid as string
    assert.equal(d.message, 'Multiple challenges submitted.')
    assert.deepEqual(Object.keys(d.challenges).sort(), ['LSSM0001', 'LSSM0002'])
    assert.deepEqual(d.challenges.LSSM0001, {
      transactionid: `${base}.01`, message: 'sms submitted', state: `${base}.01`,
      linotp_tokenserial: 'LSSM0001', linotp_tokentype: 'sms', linotp_tokendescription: 'first',
    })
    assert.deepEqual(d.challenges.LSSM0002, {
      transactionid: `${base}.02`, message: 'sms submitted', state: `${base}.02`,
      linotp_tokenserial: 'LSSM0002', linotp_tokentype: 'sms', linotp_tokendescription: 'second',
    })
    const sms = await h.sms()
    assert.deepEqual(sms.sort((a, b) => a.phone.localeCompare(b.phone)), [
      { phone: ALICE_PHONE, text: aliceOtp(1) },
      { phone: '+4915199999999', text: refHotp(key2, 1) },
    ])
    // the OTP of token 1 does not answer token 2's sub id
    const cross = await check(h, { user: 'alice', transactionid: `${base}.02`, pass: aliceOtp(1) })
    assert.equal(cross.body.result.value, false)
    // token 2's own OTP on its sub id works
    const ok = await check(h, { user: 'alice', transactionid: `${base}.02`, pass: refHotp(key2, 1) })
    assert.deepEqual(ok.body.result, { status: true, value: true })
    assert.equal(await counter(h, 'LSSM0002'), 2)
    assert.equal(await counter(h, 'LSSM0001'), 1, 'the other token is untouched')
    assert.equal(await failcount(h, 'LSSM0001'), 0)
    assert.equal(await failcount(h, 'LSSM0002'), 0)
    // token 1's challenge is still open: the base id with its OTP works too
    const ok1 = await check(h, { user: 'alice', transactionid: base, pass: aliceOtp(1) })
    assert.deepEqual(ok1.body.result, { status: true, value: true })
  })
})

describe('§2.1 request forms', () => {
  test('GET works like POST', async () => {
    await enrolAlice(h)
    const r = await h.get('/validate/check', { user: 'alice', pass: ALICE_PIN })
    assert.equal(r.status, 200)
    assert.equal(r.body.detail.message, 'sms submitted')
    const ok = await h.get('/validate/check', { user: 'alice', transactionid: r.body.detail.transactionid, pass: aliceOtp(1) })
    assert.deepEqual(ok.body.result, { status: true, value: true })
  })

  test('JSON body (content-type application/json)', async () => {
    await enrolAlice(h)
    const r = await postJson(h, '/validate/check', { user: 'alice', pass: ALICE_PIN })
    assert.equal(r.status, 200)
    assert.equal(r.body.result.value, false)
    assert.equal(r.body.detail.message, 'sms submitted')
    const ok = await postJson(h, '/validate/check', { user: 'alice', transactionid: r.body.detail.transactionid, pass: aliceOtp(1) })
    assert.deepEqual(ok.body.result, { status: true, value: true })
  })

  test('user@realm is split at the last @; realm param wins; unknown realm finds nothing', async () => {
    await enrolAlice(h)
    await adminOk(h, '/system/setRealm', { realm: 'other' })
    const r = await check(h, { user: 'alice@example', pass: ALICE_PIN })
    assert.equal(r.body.detail?.message, 'sms submitted')
    assert.equal(auditOf(h, 'validate/check').at(-1)?.user, 'alice')
    assert.equal(auditOf(h, 'validate/check').at(-1)?.realm, 'example')
    const other = await check(h, { user: 'alice@other', pass: ALICE_PIN + aliceOtp(1) })
    assert.equal(other.body.result.value, false)
    assert.equal(auditOf(h, 'validate/check').at(-1)?.realm, 'other')
    const explicit = await check(h, { user: 'alice', realm: 'EXAMPLE', pass: ALICE_PIN + aliceOtp(1) })
    assert.equal(explicit.body.result.value, true)
  })

  test('without realm the default realm applies; moving the default hides the token', async () => {
    await enrolAlice(h)
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal(r.body.detail?.message, 'sms submitted')
    await adminOk(h, '/system/setRealm', { realm: 'other', default: 'true' })
    const miss = await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })
    assert.equal(miss.body.result.value, false)
    assert.equal(auditOf(h, 'validate/check').at(-1)?.realm, 'other')
    const hit = await check(h, { user: 'alice@example', pass: ALICE_PIN + aliceOtp(1) })
    assert.equal(hit.body.result.value, true)
  })
})

describe('§1.7 blocking (SMSBlockingTimeout)', () => {
  test('default 30 s: +29 s blocked, +31 s new SMS with HOTP(2) and the old OTP is refused', async () => {
    await enrolAlice(h)
    const tx1 = await triggerAlice(h)
    h.clock.advance(29_000)
    const blocked = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal(blocked.body.detail.transactionid, tx1)
    assert.equal(blocked.body.detail.message, 'sms with otp already submitted')
    assert.equal((await h.sms()).length, 1)
    assert.equal(await counter(h, SERIAL), 1)

    h.clock.advance(2_000) // +31 s
    const fresh = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal(fresh.body.detail.message, 'sms submitted')
    assert.notEqual(fresh.body.detail.transactionid, tx1)
    const sms = await h.sms()
    assert.equal(sms.length, 2)
    assert.equal(sms[1]?.text, aliceOtp(2))
    assert.equal(await counter(h, SERIAL), 2)

    // the old OTP is dead in both forms
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body.result.value, false)
    assert.equal((await check(h, { user: 'alice', transactionid: tx1, pass: aliceOtp(1) })).body.result.value, false)
    assert.equal(await failcount(h, SERIAL), 2)
    // the new one works
    const ok = await check(h, { user: 'alice', transactionid: fresh.body.detail.transactionid, pass: aliceOtp(2) })
    assert.equal(ok.body.result.value, true)
  })

  test('configurable: SMSBlockingTimeout=5 → +4 s blocked, +6 s new SMS', async () => {
    await enrolAlice(h)
    await setConfig(h, { SMSBlockingTimeout: '5' })
    const tx1 = await triggerAlice(h)
    h.clock.advance(4_000)
    const blocked = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal(blocked.body.detail.transactionid, tx1)
    assert.equal(blocked.body.detail.info, 'challenge already submitted')
    assert.equal((await h.sms()).length, 1)
    h.clock.advance(2_000)
    const fresh = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal(fresh.body.detail.message, 'sms submitted')
    assert.equal((await h.sms()).at(-1)?.text, aliceOtp(2))
  })

  test('after a success the next PIN is not blocked and sends the next counter (HOTP(3))', async () => {
    await enrolAlice(h)
    await triggerAlice(h)
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body.result.value, true)
    const again = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal(again.body.detail.message, 'sms submitted')
    // LinOTP counter arithmetic: success sets C = m+1 = 2, the next send uses C+1 = 3
    assert.equal((await h.sms()).at(-1)?.text, aliceOtp(3))
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(3) })).body.result.value, true)
  })
})

describe('§5 lockout (MaxFailCount)', () => {
  test('default 10: locked after 10 wrong answers; correct PIN sends nothing, correct OTP refused; reset unlocks', async () => {
    await enrolAlice(h)
    assert.equal((await tokenInfo(h, SERIAL))['LinOtp.MaxFail'], 10)
    const tx = await triggerAlice(h)
    for (let i = 1; i <= 10; i++) {
      const r = await check(h, { user: 'alice', transactionid: tx, pass: String(100000 + i) })
      assert.equal(r.body.result.value, false)
      assert.equal(await failcount(h, SERIAL), i)
    }
    h.clock.advance(31_000) // outside blocking: an unlocked token would send a new SMS now
    const pin = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.deepEqual(pin.body.result, { status: true, value: false })
    assert.equal('detail' in pin.body, false)
    assert.equal((await h.sms()).length, 1, 'a locked token sends no SMS')
    const right = await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })
    assert.equal(right.body.result.value, false, 'a locked token refuses even the right OTP')
    const right2 = await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })
    assert.equal(right2.body.result.value, false)
    assert.equal(await failcount(h, SERIAL), 10, 'a locked token stays at MaxFailCount (not counted again)')
    assert.equal(await counter(h, SERIAL), 1)

    await adminOk(h, '/admin/reset', { serial: SERIAL })
    assert.equal(await failcount(h, SERIAL), 0)
    const ok = await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })
    assert.deepEqual(ok.body.result, { status: true, value: true })
  })

  test('/admin/set MaxFailCount=3 lowers the limit', async () => {
    await enrolAlice(h)
    await adminOk(h, '/admin/set', { serial: SERIAL, MaxFailCount: '3' })
    assert.equal((await tokenInfo(h, SERIAL))['LinOtp.MaxFail'], 3)
    const tx = await triggerAlice(h)
    for (let i = 0; i < 3; i++) await check(h, { user: 'alice', transactionid: tx, pass: '000000' })
    assert.equal(await failcount(h, SERIAL), 3)
    assert.equal((await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })).body.result.value, false)
    await adminOk(h, '/admin/reset', { user: 'alice', realm: 'example' })
    assert.equal((await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })).body.result.value, true)
  })

  test('success resets the failcount; a PIN that only triggers leaves it unchanged', async () => {
    await enrolAlice(h)
    await check(h, { user: 'alice', pass: '0000' })
    await check(h, { user: 'alice', pass: ALICE_PIN + '123456' })
    assert.equal(await failcount(h, SERIAL), 2)
    await triggerAlice(h)
    assert.equal(await failcount(h, SERIAL), 2, 'triggering is not a failure and not a success')
    await check(h, { user: 'alice', pass: ALICE_PIN }) // blocked resend: also unchanged
    assert.equal(await failcount(h, SERIAL), 2)
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body.result.value, true)
    assert.equal(await failcount(h, SERIAL), 0)
  })

  test('a success with one token does not unlock another, locked token of the same user', async () => {
    await enrolAlice(h)
    await adminOk(h, '/admin/init', {
      type: 'sms', user: 'alice', realm: 'example', phone: '+4915199999999', pin: '5555', otpkey: 'aabbccddeeff00112233445566778899aabbccdd', serial: 'LSSM0002',
    })
    await adminOk(h, '/admin/set', { serial: 'LSSM0002', MaxFailCount: '2' })
    await check(h, { user: 'alice', pass: '0000' })
    await check(h, { user: 'alice', pass: '0000' })
    assert.equal(await failcount(h, 'LSSM0002'), 2)
    await triggerAlice(h) // LSSM0001's PIN; LSSM0002 is locked and skipped
    assert.equal(await failcount(h, 'LSSM0002'), 2)
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body.result.value, true)
    assert.equal(await failcount(h, SERIAL), 0)
    assert.equal(await failcount(h, 'LSSM0002'), 2, 'still locked: skipped, not involved, not reset')
  })

  test('a disabled token is skipped: no SMS, no failcount', async () => {
    await enrolAlice(h)
    await adminOk(h, '/admin/disable', { serial: SERIAL })
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.equal('detail' in r.body, false)
    assert.equal((await h.sms()).length, 0)
    assert.equal(await failcount(h, SERIAL), 0)
  })
})

describe('§1.5 otppin policy modes', () => {
  test('only_otp: an empty pass triggers, the OTP alone authenticates, the PIN does nothing', async () => {
    await enrolAlice(h)
    await policy(h, 'pin', 'otppin=only_otp')
    const pinOnly = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal(pinOnly.body.result.value, false)
    assert.equal('detail' in pinOnly.body, false, 'the PIN is not a trigger under only_otp')
    assert.equal((await h.sms()).length, 0)
    const r = await check(h, { user: 'alice', pass: '' })
    assert.equal(r.body.detail?.message, 'sms submitted')
    assert.deepEqual(await h.sms(), [{ phone: ALICE_PHONE, text: aliceOtp(1) }])
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body.result.value, false)
    assert.equal((await check(h, { user: 'alice', pass: aliceOtp(1) })).body.result.value, true)
  })

  test('only_otp given as "2" behaves the same; transaction id form works', async () => {
    await enrolAlice(h)
    await policy(h, 'pin', 'otppin=2')
    const r = await check(h, { user: 'alice', pass: '' })
    const tx = r.body.detail.transactionid as string
    assert.equal((await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })).body.result.value, true)
  })

  test('ignore_pin: any pass triggers; PIN+OTP with a wrong PIN authenticates', async () => {
    await enrolAlice(h)
    await policy(h, 'pin', 'otppin=ignore_pin')
    const r = await check(h, { user: 'alice', pass: 'anything' })
    assert.equal(r.body.detail?.message, 'sms submitted')
    assert.equal((await h.sms()).length, 1)
    assert.equal(await failcount(h, SERIAL), 0)
    assert.equal((await check(h, { user: 'alice', pass: '9999' + '000000' })).body.result.value, false, 'a wrong OTP still fails')
    assert.equal((await check(h, { user: 'alice', pass: '9999' + aliceOtp(1) })).body.result.value, true)
  })

  test('password without a user directory for the realm: the token PIN is no password, false, no SMS (see otppin-password.test.ts)', async () => {
    await enrolAlice(h)
    await policy(h, 'pin', 'otppin=password')
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.equal('detail' in r.body, false)
    assert.equal((await h.sms()).length, 0)
    assert.equal(auditOf(h, 'validate/check').at(-1)?.reason, 'LSSM0001: wrong otp pin')
  })

  test('conflicting otppin policies → false, "multiple pin policies found"', async () => {
    await enrolAlice(h)
    await policy(h, 'pin-a', 'otppin=only_otp')
    await policy(h, 'pin-b', 'otppin=ignore_pin')
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.equal('detail' in r.body, false)
    assert.equal((await h.sms()).length, 0)
    assert.match(auditOf(h, 'validate/check').at(-1)?.reason ?? '', /multiple pin policies found/)
  })

  test('an otppin policy for another user leaves alice on token_pin', async () => {
    await enrolAlice(h)
    await policy(h, 'pin', 'otppin=only_otp', { user: 'bob' })
    assert.equal((await check(h, { user: 'alice', pass: '' })).body.result.value, false)
    assert.equal((await h.sms()).length, 0)
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN })).body.detail?.message, 'sms submitted')
  })
})

describe('§4.5 policy-based provider selection', () => {
  test('a policy for client 127.0.0.1 selects the second provider', async () => {
    await enrolAlice(h)
    const second = await fileProvider(h, 'second')
    await policy(h, 'sel', 'sms_provider=second', { client: '127.0.0.1' })
    await triggerAliceVia(h, second)
    assert.deepEqual(await h.sms(), [], 'the default provider sent nothing')
    assert.match(auditOf(h, 'validate/check').at(-1)?.reason ?? '', /sms sent via second/)
  })

  test('a policy for another client leaves the default provider', async () => {
    await enrolAlice(h)
    const second = await fileProvider(h, 'second')
    await policy(h, 'sel', 'sms_provider=second', { client: '10.0.0.0/8' })
    await triggerAlice(h)
    assert.deepEqual(await readOutbox(second), [])
    assert.match(auditOf(h, 'validate/check').at(-1)?.reason ?? '', /sms sent via outbox/)
  })

  test('an unknown provider name: no SMS, false, "Unable to load provider", no fallback to the default', async () => {
    await enrolAlice(h)
    await policy(h, 'sel', 'sms_provider=ghost')
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.equal('detail' in r.body, false)
    assert.deepEqual(await h.sms(), [])
    const a = auditOf(h, 'validate/check').at(-1)
    assert.match(a?.reason ?? '', /Unable to load provider: 'ghost'/)
    assert.equal(await counter(h, SERIAL), 0, 'nothing was attempted')
    // a list with an unknown name anywhere fails the same way
    await policy(h, 'sel', 'sms_provider=outbox ghost')
    assert.equal('detail' in (await check(h, { user: 'alice', pass: ALICE_PIN })).body, false)
    assert.deepEqual(await h.sms(), [])
  })

  test('mayOverwriteClient lets a trusted caller pass client=10.1.2.3, which selects by policy', async () => {
    await enrolAlice(h)
    const second = await fileProvider(h, 'second')
    await policy(h, 'sel', 'sms_provider=second', { client: '10.0.0.0/8' })
    await setConfig(h, { mayOverwriteClient: '192.168.7.7, 127.0.0.0/8' })
    const r = await check(h, { user: 'alice', pass: ALICE_PIN, client: '10.1.2.3' })
    assert.equal(r.body.detail?.message, 'sms submitted')
    assert.deepEqual(await readOutbox(second), [{ phone: ALICE_PHONE, text: aliceOtp(1) }])
    assert.deepEqual(await h.sms(), [])
    assert.equal(auditOf(h, 'validate/check').at(-1)?.client, '10.1.2.3')
    // X-Forwarded-For works the same way for a trusted caller (the entry it appended: the last)
    h.clock.advance(31_000)
    await h.post('/validate/check', { user: 'alice', pass: ALICE_PIN }, { 'x-forwarded-for': '203.0.113.5, 10.9.9.9' })
    assert.equal((await readOutbox(second)).length, 2)
    assert.equal(auditOf(h, 'validate/check').at(-1)?.client, '10.9.9.9')
    // the proxy's header beats a `client` parameter the end user slipped through the proxy
    h.clock.advance(31_000)
    await h.post('/validate/check', { user: 'alice', pass: ALICE_PIN, client: '10.6.6.6' }, { 'x-forwarded-for': '203.0.113.5' })
    assert.equal(auditOf(h, 'validate/check').at(-1)?.client, '203.0.113.5')
    assert.equal((await readOutbox(second)).length, 2, 'not the 10/8 provider')
    // an untrusted list: the parameter is ignored
    await setConfig(h, { mayOverwriteClient: '192.168.7.7' })
    h.clock.advance(31_000)
    await check(h, { user: 'alice', pass: ALICE_PIN, client: '10.1.2.3' })
    assert.equal((await readOutbox(second)).length, 2)
    assert.equal((await h.sms()).length, 2)
    assert.equal(auditOf(h, 'validate/check').at(-1)?.client, '127.0.0.1')
  })

  test('without mayOverwriteClient the client parameter is ignored', async () => {
    await enrolAlice(h)
    const second = await fileProvider(h, 'second')
    await policy(h, 'sel', 'sms_provider=second', { client: '10.0.0.0/8' })
    await check(h, { user: 'alice', pass: ALICE_PIN, client: '10.1.2.3' })
    assert.deepEqual(await readOutbox(second), [])
    assert.deepEqual(await h.sms(), [{ phone: ALICE_PHONE, text: aliceOtp(1) }])
    assert.equal(auditOf(h, 'validate/check').at(-1)?.client, '127.0.0.1')
  })
})

describe('policy time conditions use the injected clock', () => {
  test('a policy for the year 2031 applies when the clock says 2031, and not otherwise', async () => {
    await enrolAlice(h)
    const second = await fileProvider(h, 'second')
    await policy(h, 'future-text', 'smstext="Y2031 <otp>"', { time: '* * * * * 2031' })
    await policy(h, 'future-provider', 'sms_provider=second', { time: '* * * * * 2031' })
    await policy(h, 'future-pin', 'otppin=ignore_pin', { time: '* * * * * 2031' })
    await triggerAlice(h) // the clock starts in 2026: none of them applies
    assert.equal((await h.sms()).at(-1)?.text, aliceOtp(1))
    h.clock.set(Date.UTC(2031, 5, 1, 12, 0, 0))
    const r = await check(h, { user: 'alice', pass: 'not-the-pin' }) // ignore_pin: any pass triggers
    assert.equal(r.body.detail?.message, 'sms submitted')
    assert.deepEqual(await readOutbox(second), [{ phone: ALICE_PHONE, text: `Y2031 ${aliceOtp(2)}` }])
    assert.equal((await h.sms()).length, 1)
  })
})

/** Triggers alice and asserts the SMS went to `file`. */
async function triggerAliceVia(hh: Harness, file: string): Promise<string> {
  const r = await check(hh, { user: 'alice', pass: ALICE_PIN })
  assert.equal(r.body.detail?.message, 'sms submitted', JSON.stringify(r.body))
  assert.deepEqual(await readOutbox(file), [{ phone: ALICE_PHONE, text: aliceOtp(1) }])
  return r.body.detail.transactionid as string
}

describe('hashlib and key independence', () => {
  test('the reference HOTP matches the RFC vectors used above', () => {
    for (let i = 0; i < 6; i++) assert.equal(refHotp(RFC_KEY, i), aliceOtp(i))
  })
})
