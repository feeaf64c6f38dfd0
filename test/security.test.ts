/**
 * Threat-named tests for protections that are not LinOTP behaviour by default.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { connect } from 'node:net'
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

/** Writes `requests` pipelined on one TCP connection and resolves with the raw answers. */
function pipelined(url: string, bodies: string[]): Promise<string> {
  const { port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1')
    let data = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      data += chunk
      if ((data.match(/HTTP\/1\.1 /g) ?? []).length === bodies.length) socket.end()
    })
    socket.on('end', () => resolve(data))
    socket.on('error', reject)
    socket.write(bodies.map((b) => `POST /validate/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`).join(''))
  })
}

describe('threat: pipelined guesses past MaxFailCount', () => {
  it('40 pipelined wrong OTPs then the right one: at most MaxFailCount comparisons, the right OTP refused', async () => {
    const h = await startHarness()
    try {
      await enrolAlice(h)
      const tx = (await check(h, { user: 'alice', pass: ALICE_PIN })).body.detail.transactionid as string
      const guesses = Array.from({ length: 40 }, (_, i) => `user=alice&transactionid=${tx}&pass=${String(100000 + i)}`)
      const raw = await pipelined(h.url, [...guesses, `user=alice&transactionid=${tx}&pass=${aliceOtp(1)}`])
      assert.equal((raw.match(/"value":true/g) ?? []).length, 0, 'the right OTP after the guesses is refused')
      const compared = h.audit.filter((a) => a.reason.includes('wrong otp')).length
      assert.ok(compared <= 10, `only ${compared} guesses were compared`)
      assert.equal(await failcount(h, 'LSSM0001'), 10)
    } finally {
      await h.close()
    }
  })
})

describe('threat: guesses hidden behind another token that triggers', () => {
  it('a wrong OTP for one token counts even when the same pass triggers another token', async () => {
    const h = await startHarness()
    try {
      await enrolAlice(h)
      await h.admin('/admin/init', { type: 'sms', user: 'alice', realm: 'example', phone: '+4915199999999', otpkey: 'aabbccddeeff00112233445566778899aabbccdd', serial: 'LSSM0002' })
      await policy(h, 'nopin', 'otppin=ignore_pin')
      await check(h, { user: 'alice', pass: 'x' }) // both tokens get a challenge
      await h.admin('/admin/set', { serial: 'LSSM0001', MaxFailCount: '3' })
      h.clock.advance(121_000) // all challenges expired
      await check(h, { user: 'alice', serial: 'LSSM0001', pass: 'x' }) // a fresh challenge for token 1 only
      for (let i = 0; i < 5; i++) await check(h, { user: 'alice', pass: `x${String(200000 + i)}` }) // token 2 triggers each time
      assert.equal(await failcount(h, 'LSSM0001'), 3, 'the guesses against token 1 were counted')
      const last = (await h.sms()).filter((m) => m.phone === '+4915112345678').at(-1)
      const otp = /\d{6}/.exec(last?.text ?? '')?.[0] ?? ''
      assert.equal((await check(h, { user: 'alice', pass: `x${otp}` })).body.result.value, false, 'locked')
    } finally {
      await h.close()
    }
  })
})
