/**
 * The sibling endpoints of /validate/check through real HTTP (spec §2.3–2.6): simplecheck, smspin,
 * check_t, check_s.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, test } from 'node:test'
import { enrolAlice, startHarness, type Harness } from './helpers/harness.js'
import {
  ALICE_PHONE, ALICE_PIN, adminOk, aliceOtp, auditOf, brokenProvider, counter, failcount, policy, triggerAlice,
} from './helpers/validate-helpers.js'

const SERIAL = 'LSSM0001'
const TXID = /^[1-9][0-9]{16}$/

let h: Harness
beforeEach(async () => {
  h = await startHarness()
  await enrolAlice(h)
})
afterEach(async () => {
  await h.close()
})

describe('§2.3 /validate/simplecheck', () => {
  test('PIN → ":-( <txid> sms submitted"; PIN+OTP → ":-)"; wrong → ":-("', async () => {
    const r = await h.post('/validate/simplecheck', { user: 'alice', pass: ALICE_PIN })
    assert.equal(r.status, 200)
    assert.equal(typeof r.body, 'string')
    const m = /^:-\( (\d+) sms submitted$/.exec(r.body)
    assert.ok(m, `unexpected answer ${JSON.stringify(r.body)}`)
    assert.match(m[1] as string, TXID)
    assert.deepEqual(await h.sms(), [{ phone: ALICE_PHONE, text: aliceOtp(1) }])

    const blocked = await h.post('/validate/simplecheck', { user: 'alice', pass: ALICE_PIN })
    assert.equal(blocked.body, `:-( ${m[1]} sms with otp already submitted`)

    assert.equal((await h.post('/validate/simplecheck', { user: 'alice', pass: ALICE_PIN + '000000' })).body, ':-(')
    assert.equal((await h.post('/validate/simplecheck', { user: 'alice', pass: '9999' })).body, ':-(')
    assert.equal((await h.post('/validate/simplecheck', { user: 'alice' })).body, ':-(')
    assert.equal((await h.post('/validate/simplecheck', { user: 'nobody', pass: ALICE_PIN })).body, ':-(')
    assert.equal((await h.get('/validate/simplecheck', { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body, ':-)')
    assert.equal((await h.post('/validate/simplecheck', { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body, ':-(', 'replay')
  })

  test('transactionid form answers ":-)"', async () => {
    const tx = await triggerAlice(h)
    assert.equal((await h.post('/validate/simplecheck', { user: 'alice', transactionid: tx, pass: aliceOtp(1) })).body, ':-)')
  })
})

describe('§2.4 /validate/smspin (Decision 5)', () => {
  test('correct PIN → value true, challenge in detail, mirrored in id', async () => {
    const r = await h.post('/validate/smspin', { user: 'alice', pass: ALICE_PIN })
    assert.equal(r.status, 200)
    assert.deepEqual(r.body.result, { status: true, value: true })
    const d = r.body.detail
    assert.match(d.transactionid, TXID)
    assert.deepEqual(d, {
      transactionid: d.transactionid, message: 'sms submitted', state: d.transactionid,
      linotp_tokenserial: SERIAL, linotp_tokentype: 'sms', linotp_tokendescription: '',
    })
    assert.deepEqual(r.body.id, d)
    assert.deepEqual(await h.sms(), [{ phone: ALICE_PHONE, text: aliceOtp(1) }])
    // the challenge answers through /validate/check
    const ok = await h.post('/validate/check', { user: 'alice', transactionid: d.transactionid, pass: aliceOtp(1) })
    assert.equal(ok.body.result.value, true)
  })

  test('inside the blocking time → still true, same transaction id, no new SMS', async () => {
    const first = await h.post('/validate/smspin', { user: 'alice', pass: ALICE_PIN })
    const again = await h.post('/validate/smspin', { user: 'alice', pass: ALICE_PIN })
    assert.deepEqual(again.body.result, { status: true, value: true })
    assert.equal(again.body.detail.transactionid, first.body.detail.transactionid)
    assert.equal(again.body.detail.message, 'sms with otp already submitted')
    assert.deepEqual(again.body.id, again.body.detail)
    assert.equal((await h.sms()).length, 1)
  })

  test('wrong PIN → value false, id 0, no detail, no SMS', async () => {
    const r = await h.post('/validate/smspin', { user: 'alice', pass: '9999' })
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.equal(r.body.id, 0)
    assert.equal('detail' in r.body, false)
    assert.equal((await h.sms()).length, 0)
    assert.equal(await failcount(h, SERIAL), 1)
  })

  test('send failure → value false, id 0', async () => {
    await brokenProvider(h, 'broken')
    await policy(h, 'use-broken', 'sms_provider=broken')
    const r = await h.post('/validate/smspin', { user: 'alice', pass: ALICE_PIN })
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.equal(r.body.id, 0)
    assert.equal('detail' in r.body, false)
    assert.match(auditOf(h, 'validate/smspin').at(-1)?.reason ?? '', /could not be sent/)
  })
})

describe('§2.5 /validate/check_t', () => {
  test('success → value {value:true, failcount:0}, id 1, detail with token_type and serial', async () => {
    const tx = await triggerAlice(h)
    const r = await h.post('/validate/check_t', { transactionid: tx, pass: aliceOtp(1) })
    assert.equal(r.status, 200)
    assert.deepEqual(r.body.result, { status: true, value: { value: true, failcount: 0 } })
    assert.equal(r.body.id, 1)
    assert.deepEqual(r.body.detail, { value: true, failcount: 0, token_type: 'sms', serial: SERIAL })
    assert.equal(await counter(h, SERIAL), 2)
    const a = auditOf(h, 'validate/check_t').at(-1)
    assert.equal(a?.result, true)
    assert.equal(a?.user, 'alice')
  })

  test('state instead of transactionid; PIN+OTP also accepted', async () => {
    const tx = await triggerAlice(h)
    const r = await h.post('/validate/check_t', { state: tx, pass: ALICE_PIN + aliceOtp(1) })
    assert.deepEqual(r.body.result.value, { value: true, failcount: 0 })
    assert.equal(r.body.id, 1)
  })

  test('wrong OTP → failcount counted in value and detail; then the right OTP resets it', async () => {
    const tx = await triggerAlice(h)
    const r1 = await h.post('/validate/check_t', { transactionid: tx, pass: '000000' })
    assert.deepEqual(r1.body.result, { status: true, value: { value: false, failcount: 1 } })
    assert.equal(r1.body.id, 0)
    assert.deepEqual(r1.body.detail, { value: false, failcount: 1, token_type: 'sms', serial: SERIAL })
    const r2 = await h.post('/validate/check_t', { transactionid: tx, pass: '111111' })
    assert.deepEqual(r2.body.result.value, { value: false, failcount: 2 })
    assert.equal(await failcount(h, SERIAL), 2)
    const ok = await h.post('/validate/check_t', { transactionid: tx, pass: aliceOtp(1) })
    assert.deepEqual(ok.body.result.value, { value: true, failcount: 0 })
    assert.equal(await failcount(h, SERIAL), 0)
    // replay: the challenge is closed now
    const replay = await h.post('/validate/check_t', { transactionid: tx, pass: aliceOtp(1) })
    assert.deepEqual(replay.body.result.value, { value: false, failcount: 0 })
    assert.equal(replay.body.detail.failure, `No challenge for transaction '${tx}' found`)
  })

  test('unknown id → {value:false, failcount:0} and detail.failure', async () => {
    const r = await h.post('/validate/check_t', { transactionid: '12345678901234567', pass: aliceOtp(1) })
    assert.deepEqual(r.body.result, { status: true, value: { value: false, failcount: 0 } })
    assert.deepEqual(r.body.detail, { value: false, failure: "No challenge for transaction '12345678901234567' found" })
    assert.equal(r.body.id, 0)
  })

  test('missing pass or id → value false, id 0', async () => {
    const tx = await triggerAlice(h)
    const noPass = await h.post('/validate/check_t', { transactionid: tx })
    assert.deepEqual(noPass.body.result, { status: true, value: false })
    assert.equal(noPass.body.id, 0)
    const noId = await h.post('/validate/check_t', { pass: aliceOtp(1) })
    assert.deepEqual(noId.body.result, { status: true, value: false })
    assert.equal(noId.body.id, 0)
    assert.equal(await counter(h, SERIAL), 1)
  })

  test('locked token → false, failcount stays at MaxFailCount', async () => {
    await adminOk(h, '/admin/set', { serial: SERIAL, MaxFailCount: '2' })
    const tx = await triggerAlice(h)
    await h.post('/validate/check_t', { transactionid: tx, pass: '000000' })
    await h.post('/validate/check_t', { transactionid: tx, pass: '000000' })
    const r = await h.post('/validate/check_t', { transactionid: tx, pass: aliceOtp(1) })
    assert.deepEqual(r.body.result.value, { value: false, failcount: 2 })
  })
})

describe('§2.6 /validate/check_s', () => {
  test('serial + PIN → challenge; serial + PIN+OTP → true', async () => {
    const r = await h.post('/validate/check_s', { serial: SERIAL, pass: ALICE_PIN })
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.equal(r.body.detail.message, 'sms submitted')
    assert.equal(r.body.detail.linotp_tokenserial, SERIAL)
    assert.match(r.body.detail.transactionid, TXID)
    assert.deepEqual(await h.sms(), [{ phone: ALICE_PHONE, text: aliceOtp(1) }])
    const ok = await h.post('/validate/check_s', { serial: SERIAL, pass: ALICE_PIN + aliceOtp(1) })
    assert.deepEqual(ok.body.result, { status: true, value: true })
  })

  test('user instead of serial (the only token)', async () => {
    const r = await h.post('/validate/check_s', { user: 'alice', pass: ALICE_PIN })
    assert.equal(r.body.detail?.message, 'sms submitted')
  })

  test('threat: serial enumeration — an unknown serial is answered like a known one with a wrong pass', async () => {
    const known = await h.post('/validate/check_s', { serial: SERIAL, pass: '9999' })
    const unknown = await h.post('/validate/check_s', { serial: 'LSSM9999', pass: ALICE_PIN })
    assert.deepEqual(known.body.result, { status: true, value: false })
    assert.deepEqual(unknown.body, known.body, 'LinOTP answers status false for an unknown serial; we do not')
    assert.equal(auditOf(h, 'validate/check_s').at(-1)?.reason, 'No token found!')
  })

  test('threat: serial and user enumeration without a pass, and through a user with several tokens', async () => {
    await enrolAlice(h, { user: 'bob', serial: 'LSSM0002' })
    await enrolAlice(h, { user: 'bob', serial: 'LSSM0003' })
    const bodies = async (params: Array<Record<string, string>>) => Promise.all(params.map(async (p) => JSON.stringify((await h.post('/validate/check_s', p)).body)))
    // No pass: a known and an unknown serial or user, with or without a challenge, answer alike.
    const noPass = await bodies([
      { serial: SERIAL }, { serial: 'LSSM9999' }, { user: 'alice' }, { user: 'nobody' },
      { serial: SERIAL, challenge: '<otp>' }, { serial: 'LSSM9999', challenge: '<otp>' }, { user: 'bob', challenge: '<otp>' },
    ])
    assert.equal(new Set(noPass).size, 1, noPass.join('\n'))
    // A wrong pass: alice's one token, bob's two tokens, nobody's none.
    const wrong = await bodies([{ user: 'alice', pass: '9999' }, { user: 'bob', pass: '9999' }, { user: 'nobody', pass: '9999' }])
    assert.equal(new Set(wrong).size, 1, wrong.join('\n'))
    assert.equal(auditOf(h, 'validate/check_s').at(-2)?.reason, 'More than one token found!')
    assert.equal((await h.sms()).length, 0)
  })

  test('missing pass without trigger_sms → status false, no SMS', async () => {
    const r = await h.post('/validate/check_s', { serial: SERIAL, challenge: 'Your code <otp>' })
    assert.deepEqual(r.body.result, { status: false, value: false })
    assert.equal(r.body.id, 0)
    assert.equal((await h.sms()).length, 0)
    assert.equal(auditOf(h, 'validate/check_s').at(-1)?.reason, 'Missing parameter: pass')
  })

  test('trigger_sms policy + challenge without pass → SMS with the challenge as template', async () => {
    await policy(h, 'trig', 'trigger_sms')
    const r = await h.post('/validate/check_s', { serial: SERIAL, challenge: 'Your code <otp> (<serial>)' })
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.equal(r.body.detail.message, 'sms submitted')
    assert.deepEqual(await h.sms(), [{ phone: ALICE_PHONE, text: `Your code ${aliceOtp(1)} (LSSM0001)` }])
    // trigger_sms without a challenge parameter still needs pass
    h.clock.advance(31_000)
    const none = await h.post('/validate/check_s', { serial: SERIAL })
    assert.deepEqual(none.body.result, { status: false, value: false })
    assert.equal((await h.sms()).length, 1)
    // and the sent OTP answers
    const ok = await h.post('/validate/check_s', { serial: SERIAL, pass: ALICE_PIN + aliceOtp(1) })
    assert.equal(ok.body.result.value, true)
  })

  test('trigger_sms for another realm does not apply', async () => {
    await adminOk(h, '/system/setRealm', { realm: 'other' })
    await policy(h, 'trig', 'trigger_sms', { realm: 'other' })
    const r = await h.post('/validate/check_s', { serial: SERIAL, challenge: 'x <otp>' })
    assert.deepEqual(r.body.result, { status: false, value: false })
    assert.equal((await h.sms()).length, 0)
  })

  test('send failure → status false, value false', async () => {
    await brokenProvider(h, 'broken')
    await policy(h, 'use-broken', 'sms_provider=broken')
    const r = await h.post('/validate/check_s', { serial: SERIAL, pass: ALICE_PIN })
    assert.deepEqual(r.body.result, { status: false, value: false })
    assert.equal(r.body.id, 0)
    assert.equal('detail' in r.body, false)
    assert.match(auditOf(h, 'validate/check_s').at(-1)?.reason ?? '', /could not be sent/)
  })

  test('send failure on the trigger_sms path → status false', async () => {
    await brokenProvider(h, 'broken')
    await policy(h, 'use-broken', 'sms_provider=broken, trigger_sms')
    const r = await h.post('/validate/check_s', { serial: SERIAL, challenge: 'x <otp>' })
    assert.deepEqual(r.body.result, { status: false, value: false })
    assert.equal((await h.sms()).length, 0)
  })

  test('wrong PIN → status true, value false', async () => {
    const r = await h.post('/validate/check_s', { serial: SERIAL, pass: '9999' })
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.equal(await failcount(h, SERIAL), 1)
  })
})
