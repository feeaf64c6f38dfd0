/**
 * Concurrency through real HTTP: one OTP succeeds at most once, and concurrent triggers send one
 * SMS and name one transaction (DESIGN.md "OTP single-use", spec §1.7).
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, test } from 'node:test'
import { enrolAlice, startHarness, type Harness } from './helpers/harness.js'
import { yieldingStore } from './helpers/yielding-store.js'
import { createMemoryStore } from '../src/stores/memory.js'
import { ALICE_PIN, aliceOtp, check, counter, failcount, triggerAlice } from './helpers/validate-helpers.js'

const N = 50
const SERIAL = 'LSSM0001'

let h: Harness
beforeEach(async () => {
  h = await startHarness()
  await enrolAlice(h)
})
afterEach(async () => {
  await h.close()
})

const all = <T>(make: (i: number) => Promise<T>): Promise<T[]> => Promise.all(Array.from({ length: N }, (_, i) => make(i)))

describe('concurrency', () => {
  test(`${N} concurrent identical PIN+OTP requests → exactly one true`, async () => {
    await triggerAlice(h)
    const results = await all(() => check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) }))
    for (const r of results) assert.equal(r.status, 200)
    assert.equal(results.filter((r) => r.body.result.value === true).length, 1)
    assert.equal(results.filter((r) => r.body.result.value === false).length, N - 1)
    assert.equal(await counter(h, SERIAL), 2)
    assert.equal(h.audit.filter((a) => a.action === 'authenticated').length, 1)
  })

  test(`${N} concurrent identical transactionid+OTP requests → exactly one true`, async () => {
    const tx = await triggerAlice(h)
    const results = await all(() => check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) }))
    assert.equal(results.filter((r) => r.body.result.value === true).length, 1)
    assert.equal(await counter(h, SERIAL), 2)
  })

  test(`${N} concurrent check_t with the same answer → exactly one true`, async () => {
    const tx = await triggerAlice(h)
    const results = await all(() => h.post('/validate/check_t', { transactionid: tx, pass: aliceOtp(1) }))
    assert.equal(results.filter((r) => r.body.result.value.value === true).length, 1)
  })

  test(`${N} concurrent mixed forms (PIN+OTP, txid, check_t, simplecheck) → exactly one success`, async () => {
    const tx = await triggerAlice(h)
    const results = await all(async (i) => {
      switch (i % 4) {
        case 0:
          return (await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body.result.value === true
        case 1:
          return (await check(h, { user: 'alice', transactionid: tx, pass: aliceOtp(1) })).body.result.value === true
        case 2:
          return (await h.post('/validate/check_t', { transactionid: tx, pass: aliceOtp(1) })).body.result.value.value === true
        default:
          return (await h.post('/validate/simplecheck', { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })).body === ':-)'
      }
    })
    assert.equal(results.filter(Boolean).length, 1)
  })

  test(`${N} concurrent PIN-only requests → exactly one SMS, all answers carry the same transaction id`, async () => {
    const results = await all(() => check(h, { user: 'alice', pass: ALICE_PIN }))
    const ids = new Set(results.map((r) => r.body.detail?.transactionid))
    assert.equal((await h.sms()).length, 1)
    assert.equal(ids.size, 1, `transaction ids: ${[...ids].join(', ')}`)
    const [tx] = ids
    assert.match(String(tx), /^[1-9][0-9]{16}$/)
    assert.equal(results.filter((r) => r.body.detail.message === 'sms submitted').length, 1)
    assert.equal(results.filter((r) => r.body.detail.message === 'sms with otp already submitted').length, N - 1)
    assert.equal(await counter(h, SERIAL), 1)
    // and that transaction really exists and answers
    const ok = await check(h, { user: 'alice', transactionid: String(tx), pass: aliceOtp(1) })
    assert.equal(ok.body.result.value, true)
  })

  test(`${N} concurrent smspin requests → one SMS, one transaction id`, async () => {
    const results = await all(() => h.post('/validate/smspin', { user: 'alice', pass: ALICE_PIN }))
    assert.equal((await h.sms()).length, 1)
    assert.equal(new Set(results.map((r) => r.body.detail?.transactionid)).size, 1)
    assert.ok(results.every((r) => r.body.result.value === true))
  })

  test('repeated rounds: trigger storms never send a second SMS or hand out a dead id', async () => {
    for (let round = 0; round < 5; round++) {
      const before = (await h.sms()).length
      h.clock.advance(31_000)
      const results = await Promise.all(Array.from({ length: 20 }, () => check(h, { user: 'alice', pass: ALICE_PIN })))
      assert.equal((await h.sms()).length, before + 1, `round ${round}`)
      const ids = new Set(results.map((r) => r.body.detail?.transactionid))
      assert.equal(ids.size, 1, `round ${round}: ${[...ids].join(', ')}`)
    }
  })
})

describe('concurrency with a store that yields between calls (like postgres/redis)', () => {
  let y: Harness
  beforeEach(async () => {
    y = await startHarness({ store: yieldingStore(createMemoryStore()) })
    await enrolAlice(y)
  })
  afterEach(async () => {
    await y.close()
  })

  test(`${N} concurrent PIN-only requests, 4 rounds → one SMS each, one live transaction id`, async () => {
    for (let round = 0; round < 4; round++) {
      const results = await Promise.all(Array.from({ length: N }, () => check(y, { user: 'alice', pass: ALICE_PIN })))
      assert.equal((await y.sms()).length, round + 1, `round ${round}`)
      // Every attempt is counted before it is compared, so a burst beyond MaxFailCount finds the
      // token briefly at its limit: those answers are a plain false. Every answer that names a
      // transaction names the one live challenge, and the burst leaves no failure behind.
      const ids = new Set(results.map((r) => r.body.detail?.transactionid).filter((id) => id !== undefined))
      assert.equal(ids.size, 1, `round ${round}: transaction ids: ${[...ids].join(', ')}`)
      assert.ok(results.filter((r) => r.body.detail !== undefined).length >= 10, 'at least MaxFailCount answers carry the challenge')
      assert.equal(await failcount(y, 'LSSM0001'), 0, 'a burst of correct PINs counts no failure')
      if (round === 3) {
        const ok = await check(y, { user: 'alice', transactionid: String([...ids][0]), pass: aliceOtp(4) })
        assert.equal(ok.body.result.value, true)
      }
      y.clock.advance(31_000)
    }
  })

  test(`${N} concurrent PIN+OTP and txid+OTP requests → exactly one true`, async () => {
    const tx = await triggerAlice(y)
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        i % 2 === 0 ? check(y, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) }) : check(y, { user: 'alice', transactionid: tx, pass: aliceOtp(1) }),
      ),
    )
    assert.equal(results.filter((r) => r.body.result.value === true).length, 1)
    assert.equal(await counter(y, SERIAL), 2)
  })
})
