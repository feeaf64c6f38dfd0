/**
 * The ten Decisions of spec/linotp-sms.md (they override LinOTP), one `describe` each, through
 * real HTTP against the sidecar.
 */
import assert from 'node:assert/strict'
import type { timingSafeEqual } from 'node:crypto'
import { createRequire, syncBuiltinESMExports } from 'node:module'
import { after, afterEach, beforeEach, describe, test } from 'node:test'
import { otpEquals } from '../src/otp/hotp.js'
import { Secrets } from '../src/crypto/secrets.js'
import { enrolAlice, startHarness, type Harness } from './helpers/harness.js'
import {
  ALICE_PHONE, ALICE_PIN, RFC_KEY, adminOk, aliceOtp, auditOf, brokenProvider, check, counter, fileProvider, policy, readOutbox,
  refHotp, setConfig, triggerAlice,
} from './helpers/validate-helpers.js'

const SERIAL = 'LSSM0001'

let h: Harness
beforeEach(async () => {
  h = await startHarness()
})
afterEach(async () => {
  await h.close()
})

describe('Decision 1: provider Timeout is the OTP validity', () => {
  test('Timeout 60: valid at +59 s (transaction id form)', async () => {
    await fileProvider(h, 'outbox', { file: h.outbox, timeout: 60 })
    await enrolAlice(h)
    const tx = await triggerAlice(h)
    h.clock.advance(59_000)
    assert.equal((await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })).body.result.value, true)
  })

  test('Timeout 60: valid at +59 s (PIN+OTP form)', async () => {
    await fileProvider(h, 'outbox', { file: h.outbox, timeout: 60 })
    await enrolAlice(h)
    await triggerAlice(h)
    h.clock.advance(59_000)
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body.result.value, true)
  })

  test('Timeout 60: refused at +61 s in every form', async () => {
    await fileProvider(h, 'outbox', { file: h.outbox, timeout: 60 })
    await enrolAlice(h)
    const tx = await triggerAlice(h)
    h.clock.advance(61_000)
    assert.equal((await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })).body.result.value, false)
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body.result.value, false)
    assert.equal((await h.post('/validate/check_t', { transactionid: tx, pass: aliceOtp(1) })).body.result.value.value, false)
    assert.equal(await counter(h, SERIAL), 1, 'an expired OTP never moves the counter')
  })

  test('Timeout 600 keeps the OTP valid beyond the 120 s LinOTP challenge validity', async () => {
    await fileProvider(h, 'outbox', { file: h.outbox, timeout: 600 })
    await enrolAlice(h)
    const tx = await triggerAlice(h)
    h.clock.advance(599_000)
    assert.equal((await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })).body.result.value, true)
  })

  test('failover: the delivering provider\'s Timeout counts (600 s failed → 60 s delivered)', async () => {
    await enrolAlice(h)
    await brokenProvider(h, 'dead', 600)
    await fileProvider(h, 'short', { timeout: 60 })
    await policy(h, 'chain', 'sms_provider="dead short"')
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    const tx = r.body.detail.transactionid as string
    assert.deepEqual(await readOutbox(`${h.dir}/short.log`), [{ phone: ALICE_PHONE, text: aliceOtp(1) }])
    assert.match(auditOf(h, 'validate/check').at(-1)?.reason ?? '', /sms sent via short/)
    h.clock.advance(61_000)
    assert.equal((await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })).body.result.value, false)
  })

  test('failover: the delivering provider\'s Timeout counts (60 s failed → 300 s delivered)', async () => {
    await enrolAlice(h)
    await brokenProvider(h, 'dead', 60)
    await fileProvider(h, 'long', { timeout: 300 })
    await policy(h, 'chain', 'sms_provider=dead long')
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    const tx = r.body.detail.transactionid as string
    assert.equal((await readOutbox(`${h.dir}/long.log`)).length, 1)
    h.clock.advance(200_000)
    assert.equal((await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })).body.result.value, true)
  })
})

describe('Decision 2: no OTP outside its challenge', () => {
  test('unknown transaction id never authenticates a valid OTP', async () => {
    await enrolAlice(h)
    const tx = await triggerAlice(h)
    const unknown = tx === '98765432109876543' ? '98765432109876544' : '98765432109876543'
    assert.equal((await check(h, { user: 'alice', transactionid: unknown, pass: aliceOtp(1) })).body.result.value, false)
    assert.equal((await check(h, { user: 'alice', transactionid: unknown, pass: ALICE_PIN + aliceOtp(1) })).body.result.value, false)
    assert.equal((await check(h, { user: 'alice', transactionid: 'not-a-number', pass: aliceOtp(1) })).body.result.value, false)
    assert.equal(await counter(h, SERIAL), 1)
    assert.equal((await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })).body.result.value, true)
  })

  test('stale transaction id (answered already) does not authenticate the next OTP', async () => {
    await enrolAlice(h)
    const t1 = await triggerAlice(h)
    assert.equal((await check(h, { user: 'alice', transactionid: t1, pass: aliceOtp(1) })).body.result.value, true)
    const t2 = await triggerAlice(h)
    assert.equal((await h.sms()).at(-1)?.text, aliceOtp(3))
    assert.equal((await check(h, { user: 'alice', transactionid: t1, pass: aliceOtp(3) })).body.result.value, false)
    assert.equal((await h.post('/validate/check_t', { transactionid: t1, pass: aliceOtp(3) })).body.result.value.value, false)
    assert.equal((await check(h, { user: 'alice', transactionid: t2, pass: aliceOtp(3) })).body.result.value, true)
  })

  test('foreign transaction id (another user\'s) never authenticates', async () => {
    const bobKey = '0f51c51a55a3c2736ecd0c022913d541b25734b5'
    await enrolAlice(h)
    await adminOk(h, '/admin/init', { type: 'sms', user: 'bob', realm: 'example', phone: '+4915187654321', pin: '5678', otpkey: bobKey, serial: 'LSSMBOB' })
    const ta = await triggerAlice(h)
    const rb = await check(h, { user: 'bob', pass: '5678' })
    const tb = rb.body.detail.transactionid as string
    assert.equal(refHotp(bobKey, 1), '657344') // spec §1.2 vector
    assert.equal((await h.sms()).at(-1)?.text, '657344')
    // alice answering bob's transaction: with her own OTP, and with bob's OTP
    assert.equal((await check(h, { user: 'alice', transactionid: tb, pass: aliceOtp(1) })).body.result.value, false)
    assert.equal((await check(h, { user: 'alice', transactionid: tb, pass: '657344' })).body.result.value, false)
    assert.equal((await check(h, { user: 'alice', transactionid: tb, pass: ALICE_PIN + aliceOtp(1) })).body.result.value, false)
    // bob answering alice's transaction
    assert.equal((await check(h, { user: 'bob', transactionid: ta, pass: aliceOtp(1) })).body.result.value, false)
    assert.equal((await check(h, { user: 'bob', transactionid: ta, pass: '657344' })).body.result.value, false)
    assert.equal(await counter(h, SERIAL), 1)
    assert.equal(await counter(h, 'LSSMBOB'), 1)
    // each on their own transaction
    assert.equal((await check(h, { user: 'alice', transactionid: ta, pass: aliceOtp(1) })).body.result.value, true)
    assert.equal((await check(h, { user: 'bob', transactionid: tb, pass: '657344' })).body.result.value, true)
  })

  test('a valid OTP of an expired challenge is refused', async () => {
    await enrolAlice(h) // harness provider Timeout 120
    const tx = await triggerAlice(h)
    h.clock.advance(121_000)
    assert.equal((await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })).body.result.value, false)
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body.result.value, false)
    const t = await h.post('/validate/check_t', { transactionid: tx, pass: aliceOtp(1) })
    assert.equal(t.body.detail.failure, `No challenge for transaction '${tx}' found`)
  })

  test('PIN+OTP without transaction id: only an OTP that was actually sent', async () => {
    await enrolAlice(h)
    // HOTP(1) is in the counter window but was never sent
    const early = await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })
    assert.deepEqual(early.body.result, { status: true, value: false })
    assert.equal((await h.sms()).length, 0)
    assert.equal(await counter(h, SERIAL), 0)
    await triggerAlice(h) // sends HOTP(1)
    // HOTP(2) is in the window too but was not sent
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(2) })).body.result.value, false)
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body.result.value, true)
  })

  test('an OTP whose SMS failed to send is never accepted', async () => {
    await enrolAlice(h)
    await brokenProvider(h, 'broken')
    await policy(h, 'use-broken', 'sms_provider=broken')
    await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal(await counter(h, SERIAL), 1, 'the counter moved although sending failed (LinOTP rule)')
    await adminOk(h, '/system/delPolicy', { name: 'use-broken' })
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body.result.value, false)
  })
})

describe('Decision 3: the token\'s own hashlib for generation and verification', () => {
  const key32 = '3132333435363738393031323334353637383930313233343536373839303132'
  const key64 = `${key32}${key32}`
  for (const [hashlib, key, digits] of [['sha256', key32, 6], ['sha512', key64, 6], ['sha256', key32, 8], ['sha512', key64, 8]] as const) {
    test(`${hashlib}, ${digits} digits: the SMS carries HMAC-${hashlib} HOTP(1) and it verifies`, async () => {
      await enrolAlice(h, { hashlib, otpkey: key, otplen: String(digits) })
      const expected = refHotp(key, 1, digits, hashlib)
      assert.notEqual(expected, refHotp(key, 1, digits, 'sha1'))
      const tx = await triggerAlice(h)
      assert.deepEqual(await h.sms(), [{ phone: ALICE_PHONE, text: expected }])
      // the SHA-1 value of the same counter is refused
      assert.equal((await check(h, { user: 'alice', transactionid: tx, pass: refHotp(key, 1, digits, 'sha1') })).body.result.value, false)
      assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + expected })).body.result.value, true)
      const tx2 = await triggerAlice(h)
      const expected3 = refHotp(key, 3, digits, hashlib)
      assert.equal((await h.sms()).at(-1)?.text, expected3)
      assert.equal((await check(h, { user: 'alice', transactionid: tx2, pass: expected3 })).body.result.value, true)
    })
  }
})

describe('Decision 4: SMS text placeholders', () => {
  test('via data: <otp>, <serial>, <transactionid> all replaced (every occurrence)', async () => {
    await enrolAlice(h)
    const r = await check(h, { user: 'alice', pass: ALICE_PIN, data: 'Code <otp> for <serial>, tx <transactionid>; again <otp>' })
    const tx = r.body.detail.transactionid as string
    assert.deepEqual(await h.sms(), [{ phone: ALICE_PHONE, text: `Code ${aliceOtp(1)} for LSSM0001, tx ${tx}; again ${aliceOtp(1)}` }])
  })

  test('via the smstext policy', async () => {
    await enrolAlice(h)
    await policy(h, 'text', 'smstext="Your OTP <otp>, token <serial>, ref <transactionid>"')
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    const tx = r.body.detail.transactionid as string
    assert.equal((await h.sms()).at(-1)?.text, `Your OTP ${aliceOtp(1)}, token LSSM0001, ref ${tx}`)
  })

  test('a text without <otp> gets "<otp> " prepended (data and policy)', async () => {
    await enrolAlice(h)
    await check(h, { user: 'alice', pass: ALICE_PIN, data: 'Hello <serial>' })
    assert.equal((await h.sms()).at(-1)?.text, `${aliceOtp(1)} Hello LSSM0001`)
    await policy(h, 'text', 'smstext=Welcome back')
    h.clock.advance(31_000)
    await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal((await h.sms()).at(-1)?.text, `${aliceOtp(2)} Welcome back`)
  })

  test('data wins over the policy text and over message; message alone is used', async () => {
    await enrolAlice(h)
    await policy(h, 'text', 'smstext="P <otp>"')
    await check(h, { user: 'alice', pass: ALICE_PIN, data: 'D <otp>', message: 'M <otp>' })
    assert.equal((await h.sms()).at(-1)?.text, `D ${aliceOtp(1)}`)
    h.clock.advance(31_000)
    await check(h, { user: 'alice', pass: ALICE_PIN, message: 'M <otp>' })
    assert.equal((await h.sms()).at(-1)?.text, `M ${aliceOtp(2)}`)
    h.clock.advance(31_000)
    await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal((await h.sms()).at(-1)?.text, `P ${aliceOtp(3)}`)
  })

  test('enforce_smstext ignores data and message', async () => {
    await enrolAlice(h)
    await policy(h, 'text', 'smstext="P <otp> <serial>", enforce_smstext')
    await check(h, { user: 'alice', pass: ALICE_PIN, data: 'D <otp>' })
    assert.equal((await h.sms()).at(-1)?.text, `P ${aliceOtp(1)} LSSM0001`)
    h.clock.advance(31_000)
    await check(h, { user: 'alice', pass: ALICE_PIN, message: 'M <otp>' })
    assert.equal((await h.sms()).at(-1)?.text, `P ${aliceOtp(2)} LSSM0001`)
  })

  test('SMS_CHALLENGE_PROMPT changes the reply message, not the SMS', async () => {
    await enrolAlice(h)
    await setConfig(h, { SMS_CHALLENGE_PROMPT: 'Please enter the code' })
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal(r.body.detail.message, 'Please enter the code')
    assert.equal((await h.sms()).at(-1)?.text, aliceOtp(1))
  })
})

describe('Decision 5: /validate/smspin returns the challenge in detail, mirrored into id', () => {
  test('detail and id are the same challenge object', async () => {
    await enrolAlice(h)
    const r = await h.post('/validate/smspin', { user: 'alice', pass: ALICE_PIN })
    assert.deepEqual(r.body.result, { status: true, value: true })
    assert.equal(r.body.detail.state, r.body.detail.transactionid)
    assert.equal(r.body.detail.message, 'sms submitted')
    assert.deepEqual(r.body.id, r.body.detail)
    const bad = await h.post('/validate/smspin', { user: 'alice', pass: '0000' })
    assert.deepEqual(bad.body.result, { status: true, value: false })
    assert.equal(bad.body.id, 0)
  })

  test('a custom SMS_CHALLENGE_PROMPT still answers true (deliberate deviation from LinOTP)', async () => {
    await enrolAlice(h)
    await setConfig(h, { SMS_CHALLENGE_PROMPT: 'code sent' })
    const r = await h.post('/validate/smspin', { user: 'alice', pass: ALICE_PIN })
    assert.equal(r.body.result.value, true)
    assert.equal(r.body.id.message, 'code sent')
  })
})

describe('Decision 6: no OTP, PIN, seed or full phone number in logs and audit', () => {
  test('a full flow with successes and failures leaves no secret behind', async () => {
    await enrolAlice(h)
    await brokenProvider(h, 'broken')
    await policy(h, 'autosms', 'autosms')
    await check(h, { user: 'alice', pass: '9999' }) // wrong PIN
    await check(h, { user: 'alice', pass: ALICE_PIN + '000000' }) // wrong OTP, nothing sent yet
    const tx = await triggerAlice(h)
    await check(h, { user: 'alice', pass: ALICE_PIN }) // blocked
    await check(h, { user: 'alice', transactionid: tx, pass: '000000' }) // wrong answer
    await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) }) // success → autosms
    await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) }) // replay
    await h.post('/validate/simplecheck', { user: 'alice', pass: ALICE_PIN + aliceOtp(3) })
    h.clock.advance(31_000)
    const sp = await h.post('/validate/smspin', { user: 'alice', pass: ALICE_PIN })
    await h.post('/validate/check_t', { transactionid: sp.body.detail.transactionid, pass: '123123' })
    await h.post('/validate/check_t', { transactionid: sp.body.detail.transactionid, pass: (await h.lastOtp()) })
    h.clock.advance(31_000)
    await h.post('/validate/check_s', { serial: SERIAL, pass: ALICE_PIN })
    await h.post('/validate/check_s', { serial: SERIAL, pass: ALICE_PIN + (await h.lastOtp()) })
    await policy(h, 'use-broken', 'sms_provider=broken')
    h.clock.advance(31_000)
    await check(h, { user: 'alice', pass: ALICE_PIN, data: 'secret text <otp>' }) // send failure
    await h.post('/validate/check_s', { serial: SERIAL, pass: ALICE_PIN }) // send failure, status false
    await adminOk(h, '/admin/show', { serial: SERIAL })

    const otps = (await h.sms()).map((s) => /\d{6}/.exec(s.text)?.[0] ?? '')
    assert.ok(otps.length >= 5, `expected several SMS, got ${otps.length}`)
    assert.ok(h.logs.length > 0 && h.audit.length > 10)
    const haystacks = [...h.logs, ...h.audit.map((a) => JSON.stringify(a))]
    // the OTPs that were sent, plus those typed, plus the next few (none may leak)
    const secrets = new Set([...otps, aliceOtp(1), aliceOtp(2), aliceOtp(3), aliceOtp(4), aliceOtp(5), aliceOtp(6), aliceOtp(7)])
    for (const line of haystacks) {
      for (const otp of secrets) assert.equal(line.includes(otp), false, `OTP ${otp} leaked: ${line}`)
      assert.equal(line.toLowerCase().includes(RFC_KEY), false, `seed (hex) leaked: ${line}`)
      assert.equal(line.includes('12345678901234567890'), false, `seed (ascii) leaked: ${line}`)
      assert.equal(line.includes(Buffer.from(RFC_KEY, 'hex').toString('base64')), false, `seed (base64) leaked: ${line}`)
      assert.equal(line.includes('+4915112345678'), false, `phone leaked: ${line}`)
      assert.equal(line.includes('15112345678'), false, `phone digits leaked: ${line}`)
      assert.equal(line.includes('secret text'), false, `SMS text leaked: ${line}`)
      // the PIN: no field carries it, alone or as the prefix of a pass
      const values: string[] = []
      JSON.parse(line, (_k, v: unknown) => {
        if (typeof v === 'string') values.push(v)
        return v
      })
      for (const v of values) {
        assert.notEqual(v, ALICE_PIN, `PIN leaked: ${line}`)
        assert.equal(v.startsWith(`${ALICE_PIN}0`) || v.includes(`"${ALICE_PIN}`) || v === '9999', false, `PIN/pass leaked: ${line}`)
      }
      assert.equal(/"(pin|pass|password|otp|otpkey|seed|text|sms)"\s*:/i.test(line), false, `secret field in: ${line}`)
    }
    // the phone does appear, masked
    assert.ok(h.logs.some((l) => l.includes('+49*******5678')), 'masked phone expected in the logs')
  })
})

describe('Decision 7: autosms sends exactly one follow-up SMS after the final success', () => {
  test('PIN+OTP and transaction id forms each send one follow-up, and each follow-up OTP works', async () => {
    await enrolAlice(h)
    await policy(h, 'auto', 'autosms')
    await triggerAlice(h) // SMS 1: HOTP(1), C=1
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body.result.value, true)
    let sms = await h.sms()
    assert.equal(sms.length, 2, 'exactly one follow-up')
    // success sets C = 2, the follow-up sends HOTP(C+1) = HOTP(3)
    assert.equal(sms[1]?.text, aliceOtp(3))
    assert.equal(await counter(h, SERIAL), 3)

    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(3) })).body.result.value, true)
    sms = await h.sms()
    assert.equal(sms.length, 3)
    assert.equal(sms[2]?.text, aliceOtp(5))

    // the follow-up challenge is open: a PIN within the blocking time names it
    const blocked = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal(blocked.body.detail.message, 'sms with otp already submitted')
    const tx = blocked.body.detail.transactionid as string
    assert.equal((await h.sms()).length, 3)
    assert.equal((await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(5) })).body.result.value, true)
    sms = await h.sms()
    assert.equal(sms.length, 4, 'exactly one follow-up for the transaction id form')
    assert.equal(sms[3]?.text, refHotp(RFC_KEY, 7))
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + refHotp(RFC_KEY, 7) })).body.result.value, true)
    assert.equal((await h.sms()).length, 5)
  })

  test('check_t success also sends exactly one follow-up', async () => {
    await enrolAlice(h)
    await policy(h, 'auto', 'autosms')
    const tx = await triggerAlice(h)
    const r = await h.post('/validate/check_t', { transactionid: tx, pass: aliceOtp(1) })
    assert.deepEqual(r.body.result.value, { value: true, failcount: 0 })
    const sms = await h.sms()
    assert.equal(sms.length, 2, 'exactly one follow-up')
    assert.equal(sms[1]?.text, aliceOtp(3))
    const blocked = await check(h, { user: 'alice', pass: ALICE_PIN })
    const r2 = await h.post('/validate/check_t', { transactionid: blocked.body.detail.transactionid, pass: aliceOtp(3) })
    assert.deepEqual(r2.body.result.value, { value: true, failcount: 0 })
    assert.equal((await h.sms()).length, 3)
  })

  test('no follow-up on failure, without the policy, or after a trigger', async () => {
    await enrolAlice(h)
    await policy(h, 'auto', 'autosms')
    const tx = await triggerAlice(h)
    await check(h, { user: 'alice', transactionid: tx, pass: '000000' })
    assert.equal((await h.sms()).length, 1)
    await adminOk(h, '/system/delPolicy', { name: 'auto' })
    assert.equal((await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })).body.result.value, true)
    assert.equal((await h.sms()).length, 1)
  })

  test('autosms uses the data text of the successful request', async () => {
    await enrolAlice(h)
    await policy(h, 'auto', 'autosms')
    await triggerAlice(h)
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1), data: 'next: <otp>' })).body.result.value, true)
    assert.equal((await h.sms()).at(-1)?.text, `next: ${aliceOtp(3)}`)
  })
})

describe('Decision 8: a provider named anywhere in an sms_provider list cannot be deleted', () => {
  test('member of a multi-name list → refused with the LinOTP text', async () => {
    await fileProvider(h, 'p2')
    await fileProvider(h, 'p3')
    await policy(h, 'multi', 'sms_provider="p2  p3"')
    const r = await h.admin('/system/delProvider', { type: 'sms', name: 'p3' })
    assert.equal(r.status, 200)
    assert.deepEqual(r.body.result, { status: true, value: false })
    assert.equal(r.body.detail.message, 'Unable to delete - provider used in policies!\n[multi]')
    const first = await h.admin('/system/delProvider', { type: 'sms', name: 'p2' })
    assert.equal(first.body.detail.message, 'Unable to delete - provider used in policies!\n[multi]')
    // still listed
    const list = await h.admin('/system/getProvider', { type: 'sms' })
    assert.deepEqual(Object.keys(list.body.result.value).sort(), ['outbox', 'p2', 'p3'])
    // inactive policies count too
    await policy(h, 'multi', 'sms_provider=p2 p3', { active: 'false' })
    assert.equal((await h.admin('/system/delProvider', { type: 'sms', name: 'p3' })).body.result.value, false)
    await adminOk(h, '/system/delPolicy', { name: 'multi' })
    const ok = await h.admin('/system/delProvider', { type: 'sms', name: 'p3' })
    assert.deepEqual(ok.body.result, { status: true, value: true })
  })

  test('several policies are all named; a name that is only a prefix of a listed one is not "used"', async () => {
    await fileProvider(h, 'p2')
    await fileProvider(h, 'p22')
    await policy(h, 'a', 'sms_provider="p2, p22"')
    await policy(h, 'b', 'sms_provider=outbox p2', { client: '10.0.0.0/8' })
    const r = await h.admin('/system/delProvider', { type: 'sms', name: 'p2' })
    assert.equal(r.body.detail.message, 'Unable to delete - provider used in policies!\n[a, b]')
    await policy(h, 'a', 'sms_provider=p22')
    await policy(h, 'b', 'sms_provider=outbox p22')
    assert.equal((await h.admin('/system/delProvider', { type: 'sms', name: 'p2' })).body.result.value, true)
  })
})

describe('Decision 9: booleans accept true/"true"/"True"/1, anything else is false', () => {
  const spaced = '+49 151 1234-5678'
  const cases: Array<[unknown, boolean]> = [
    [true, true], ['true', true], ['True', true], [1, true], ['1', true],
    ['yes', false], ['truex', false], ['0', false], [false, false], [0, false], ['', false], ['xtrue', false],
  ]
  test('provider config MSISDN', async () => {
    await enrolAlice(h, { phone: spaced })
    for (const [value, expected] of cases) {
      await fileProvider(h, 'outbox', { file: h.outbox, config: { MSISDN: value } })
      h.clock.advance(31_000)
      const r = await check(h, { user: 'alice', pass: ALICE_PIN })
      assert.equal(r.body.detail?.message, 'sms submitted', `MSISDN=${JSON.stringify(value)}`)
      assert.equal((await h.sms()).at(-1)?.phone, expected ? '+4915112345678' : spaced, `MSISDN=${JSON.stringify(value)}`)
    }
  })

  test('config key splitAtSign: True/true/1 on, 0/false off; other values refused when set', async () => {
    await enrolAlice(h)
    let n = 0
    for (const [value, expected] of [['True', true], ['true', true], ['1', true], ['0', false], ['false', false], ['TRUE', true]] as const) {
      await setConfig(h, { splitAtSign: value })
      h.clock.advance(31_000)
      const r = await check(h, { user: 'alice@example', pass: ALICE_PIN })
      if (expected) n++
      assert.equal(r.body.detail?.message === 'sms submitted', expected, `splitAtSign=${value}: ${JSON.stringify(r.body)}`)
      assert.equal((await h.sms()).length, n)
    }
    // anything else is stored, reads as false, and the answer warns about it
    for (const bad of ['yes', 'truex', 'on']) {
      const r = await h.admin('/system/setConfig', { splitAtSign: bad })
      assert.equal(r.status, 200, bad)
      assert.deepEqual(r.body.detail.warnings, [`config key splitAtSign: '${bad}' is not true, True or 1, so it reads as false`])
      h.clock.advance(31_000)
      const before = (await h.sms()).length
      const c = await check(h, { user: 'alice@example', pass: ALICE_PIN })
      assert.equal(c.body.detail, undefined, `splitAtSign=${bad} reads as false`)
      assert.equal((await h.sms()).length, before)
    }
  })

  test('config values stored without validation (old database) read as false unless true/"True"/1', async () => {
    await enrolAlice(h)
    let n = 0
    for (const [value, expected] of [['yes', false], ['truex', false], ['True', true], [' xtrue', false], ['1', true]] as const) {
      await h.otp.core.store.settings.put('config', 'splitAtSign', value)
      await h.otp.core.settings.load()
      h.clock.advance(31_000)
      const r = await check(h, { user: 'alice@example', pass: ALICE_PIN })
      if (expected) n++
      assert.equal(r.body.detail?.message === 'sms submitted', expected, `stored splitAtSign=${value}`)
      assert.equal((await h.sms()).length, n)
    }
  })

  test('policy action booleans: true/True/1 apply, 0/false/!x do not', async () => {
    await enrolAlice(h)
    let expected = 1
    for (const [action, on] of [['autosms=true', true], ['autosms=True', true], ['autosms=1', true], ['autosms', true], ['autosms=0', false], ['autosms=false', false], ['!autosms', false]] as const) {
      await policy(h, 'auto', action)
      h.clock.advance(31_000)
      const before = (await h.sms()).length
      const r = await check(h, { user: 'alice', pass: ALICE_PIN })
      assert.equal(r.body.detail?.message, 'sms submitted')
      expected = before + 1
      const otp = await h.lastOtp()
      assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + otp })).body.result.value, true, action)
      assert.equal((await h.sms()).length, expected + (on ? 1 : 0), `${action} → autosms ${on}`)
    }
  })

  test('policy action booleans outside true/True/1 read as false (no substring tests)', async () => {
    await enrolAlice(h)
    for (const bad of ['yes', 'truex', 'on', 'xtrue']) {
      const r = await h.admin('/system/setPolicy', { name: 'auto', scope: 'authentication', action: `autosms=${bad}`, realm: 'example' })
      assert.equal(r.status, 200, bad)
      h.clock.advance(31_000)
      await check(h, { user: 'alice', pass: ALICE_PIN })
      const before = (await h.sms()).length
      assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + (await h.lastOtp()) })).body.result.value, true)
      assert.equal((await h.sms()).length, before, `autosms=${bad} sends no follow-up`)
    }
  })

  test('policy "active": True/true/1 active; yes/truex/0 inactive', async () => {
    await enrolAlice(h)
    for (const [active, on] of [['True', true], ['true', true], ['1', true], ['yes', false], ['truex', false], ['0', false], ['false', false]] as const) {
      await policy(h, 'text', 'smstext="ACTIVE <otp>"', { active })
      h.clock.advance(31_000)
      await check(h, { user: 'alice', pass: ALICE_PIN })
      const text = (await h.sms()).at(-1)?.text ?? ''
      assert.equal(text.startsWith('ACTIVE '), on, `active=${active}: ${text}`)
    }
  })
})

describe('Decision 10: PIN and OTP comparisons are constant-time', () => {
  // Behavioural, not a look at the source: node:crypto's CommonJS object gets a replacement
  // timingSafeEqual, and syncBuiltinESMExports() pushes it into the live ESM bindings, so every
  // `import { timingSafeEqual } from 'node:crypto'` in src/ and middleware/ calls it. A compare
  // that does not go through it (a shortcut like `if (a === b) return true`) shows up as a
  // secret accepted while timingSafeEqual says "different".
  const nodeCrypto = createRequire(import.meta.url)('node:crypto') as { timingSafeEqual: typeof timingSafeEqual }
  const realTimingSafeEqual = nodeCrypto.timingSafeEqual
  /** Byte length of every compare since the last replacement (OTP compares are `otplen` bytes). */
  const compared: number[] = []
  function replaceTimingSafeEqual(answer: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => boolean): void {
    compared.length = 0
    nodeCrypto.timingSafeEqual = (a, b) => {
      compared.push(a.byteLength)
      return answer(a, b)
    }
    syncBuiltinESMExports()
  }
  function restoreTimingSafeEqual(): void {
    nodeCrypto.timingSafeEqual = realTimingSafeEqual
    syncBuiltinESMExports()
  }
  afterEach(restoreTimingSafeEqual)
  after(restoreTimingSafeEqual)
  const otpCompares = () => compared.filter((n) => n === 6).length

  test('the replacement reaches the engine (else the tests below prove nothing)', async () => {
    await enrolAlice(h)
    const tx = await triggerAlice(h)
    replaceTimingSafeEqual(realTimingSafeEqual)
    assert.equal((await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })).body.result.value, true)
    assert.equal(otpCompares(), 1, `compares seen: ${JSON.stringify(compared)}`)
  })

  test('threat: a shortcut around the constant-time compare — with timingSafeEqual answering "different", no face accepts a correct OTP, PIN or admin token', async () => {
    await enrolAlice(h)
    const tx = await triggerAlice(h) // HOTP(1)
    const smsBefore = (await h.sms()).length

    replaceTimingSafeEqual(() => false)
    // The OTP alone (transaction id forms, check_t): only the OTP compare can accept these.
    assert.equal((await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })).body.result.value, false, '/validate/check with transactionid')
    assert.equal((await h.post('/validate/check_t', { transactionid: tx, pass: aliceOtp(1) })).body.result.value.value, false, '/validate/check_t')
    assert.equal(otpCompares(), 2, `both OTP answers reached the compare: ${JSON.stringify(compared)}`)
    // PIN+OTP on every face, and the PIN alone (a right PIN would trigger an SMS).
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body.result.value, false, '/validate/check PIN+OTP')
    assert.equal((await h.post('/validate/simplecheck', { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body, ':-(', '/validate/simplecheck')
    assert.equal((await h.post('/validate/check_s', { serial: SERIAL, pass: ALICE_PIN + aliceOtp(1) })).body.result.value, false, '/validate/check_s')
    const pinOnly = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal(pinOnly.body.detail?.transactionid, undefined, `the PIN was accepted: ${JSON.stringify(pinOnly.body)}`)
    assert.equal((await h.sms()).length, smsBefore, 'no SMS for a PIN that timingSafeEqual called different')
    // The admin bearer token.
    assert.equal((await h.admin('/system/getRealms', {})).status, 401, 'admin API')

    // With the real compare the same answers pass: nothing but the compare refused them.
    restoreTimingSafeEqual()
    assert.equal((await h.admin('/system/getRealms', {})).status, 200)
    assert.deepEqual((await h.post('/validate/check_t', { transactionid: tx, pass: aliceOtp(1) })).body.result.value, { value: true, failcount: 0 })
    h.clock.advance(31_000) // past the resend block
    await triggerAlice(h) // the PIN alone: C is 2 after the success, so the SMS carries HOTP(3)
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(3) })).body.result.value, true)
  })

  test('threat: timing tells which token matched — every token of the user is compared, without an early exit', async () => {
    // A new SMS moves its token's counter, so only a token's newest challenge is in its window:
    // the candidates an answer is compared with are one per token. Alice gets three.
    const tokens = [
      { serial: SERIAL, phone: ALICE_PHONE },
      { serial: 'LSSM0002', phone: '+4915112345602', otpkey: '0102030405060708090a0b0c0d0e0f1011121314' },
      { serial: 'LSSM0003', phone: '+4915112345603', otpkey: 'a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4' },
    ]
    await enrolAlice(h)
    for (const t of tokens.slice(1)) await enrolAlice(h, { serial: t.serial, phone: t.phone, otpkey: t.otpkey as string })
    /** Sends one SMS per token (PIN only) and returns each token's OTP in enrolment order. */
    const triggerAll = async (): Promise<string[]> => {
      const before = (await h.sms()).length
      await check(h, { user: 'alice', pass: ALICE_PIN })
      const sent = (await h.sms()).slice(before)
      assert.equal(sent.length, 3, JSON.stringify(sent))
      return tokens.map((t) => sent.find((m) => m.phone === t.phone)?.text.match(/\d{6}/)?.[0] ?? assert.fail(`no SMS for ${t.serial}`))
    }
    const otps = await triggerAll()
    const wrong = ['000000', '111111'].find((o) => !otps.includes(o)) as string

    replaceTimingSafeEqual(realTimingSafeEqual)
    assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + wrong })).body.result.value, false)
    assert.equal(otpCompares(), 3, `a wrong OTP is compared with all 3 candidates: ${JSON.stringify(compared)}`)

    // A right OTP, of the first token and of the last one, so an early exit shows whichever end
    // the tokens are walked from.
    for (const which of [0, 2]) {
      h.clock.advance(31_000) // past the resend block
      const fresh = await triggerAll()
      replaceTimingSafeEqual(realTimingSafeEqual)
      assert.equal((await check(h, { user: 'alice', pass: ALICE_PIN + fresh[which] })).body.result.value, true)
      assert.equal(otpCompares(), 3, `the OTP of token ${which + 1}: all 3 candidates compared: ${JSON.stringify(compared)}`)
    }
  })

  test('the constant-time helpers give the right answers', () => {
    assert.equal(otpEquals('287082', '287082'), true)
    assert.equal(otpEquals('287082', '287083'), false)
    assert.equal(otpEquals('287082', '2870821'), false)
    assert.equal(otpEquals('', ''), true)
    const s = Secrets.ephemeral()
    const stored = s.hashPin('1234')
    assert.equal(s.verifyPin('1234', stored), true)
    assert.equal(s.verifyPin('1235', stored), false)
    assert.equal(s.verifyPin('12345', stored), false)
    assert.equal(s.verifyPin('', s.hashPin('')), true)
    assert.equal(s.verifyPin('x', s.hashPin('')), false)
  })
})
