/**
 * Threat-named tests for protections that are not LinOTP behaviour by default.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { enrolAlice, startHarness, type Harness } from './helpers/harness.js'
import { ALICE_PIN, aliceOtp, check, failcount, policy } from './helpers/validate-helpers.js'

describe('threat: unlimited OTP guessing under otppin=ignore_pin', () => {
  let h: Harness
  beforeEach(async () => {
    h = await startHarness()
    await enrolAlice(h)
    await policy(h, 'nopin', 'otppin=ignore_pin')
  })
  afterEach(() => h.close())

  it('wrong OTPs while a challenge is open count against MaxFailCount and lock the token', async () => {
    const first = await check(h, { user: 'alice', pass: 'anything' })
    assert.equal(first.body.detail.message, 'sms submitted')
    for (let i = 1; i <= 10; i++) {
      const r = await check(h, { user: 'alice', pass: `x${String(100000 + i)}` })
      assert.equal(r.body.result.value, false)
      assert.equal(r.body.detail, undefined, 'a guess is not a new challenge')
      assert.equal(await failcount(h, 'LSSM0001'), i)
    }
    const right = await check(h, { user: 'alice', pass: `x${aliceOtp(1)}` })
    assert.equal(right.body.result.value, false, 'locked: even the right OTP fails')
    await h.admin('/admin/reset', { serial: 'LSSM0001' })
    assert.equal((await check(h, { user: 'alice', pass: `x${aliceOtp(1)}` })).body.result.value, true)
  })

  it('without an open challenge any pass still triggers (LinOTP), and the right OTP passes with any PIN', async () => {
    h.clock.advance(10 * 60_000)
    const r = await check(h, { user: 'alice', pass: 'whatever' })
    assert.equal(r.body.detail.message, 'sms submitted')
    assert.equal(await failcount(h, 'LSSM0001'), 0)
    assert.equal((await check(h, { user: 'alice', pass: `wrongpin${aliceOtp(1)}` })).body.result.value, true)
  })
})

describe('threat: replaying a used OTP', () => {
  it('a used OTP fails in every form and counts a failure', async () => {
    const h = await startHarness()
    try {
      await enrolAlice(h)
      const t = await check(h, { user: 'alice', pass: ALICE_PIN })
      const id = t.body.detail.transactionid as string
      assert.equal((await check(h, { user: 'alice', transactionid: id, pass: aliceOtp(1) })).body.result.value, true)
      for (const params of [
        { user: 'alice', transactionid: id, pass: aliceOtp(1) },
        { user: 'alice', pass: ALICE_PIN + aliceOtp(1) },
      ]) assert.equal((await check(h, params)).body.result.value, false)
      const ct = await h.post('/validate/check_t', { transactionid: id, pass: aliceOtp(1) })
      assert.deepEqual(ct.body.result.value, { value: false, failcount: 0 }, 'the challenge is gone after the success')
      assert.equal(await failcount(h, 'LSSM0001'), 2)
    } finally {
      await h.close()
    }
  })
})
