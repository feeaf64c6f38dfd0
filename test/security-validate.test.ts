/**
 * Threat-named tests for the verify path findings of the security review (issue 6): caller-chosen
 * SMS text, user enumeration by cost, races that lose a sent OTP or send twice, and the one verify
 * path every face uses.
 */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { Secrets } from '../src/crypto/secrets.js'
import { createMemoryStore } from '../src/stores/memory.js'
import type { Store } from '../src/stores/types.js'
import { enrolAlice, startHarness, type Harness, type HarnessOptions } from './helpers/harness.js'
import { ALICE_PIN, RFC_KEY, aliceOtp, auditOf, check, failcount, policy, refHotp, setConfig } from './helpers/validate-helpers.js'

let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})
async function start(options: HarnessOptions = {}): Promise<Harness> {
  h = await startHarness(options)
  return h
}

describe('threat: caller-chosen SMS text from the organisation\'s sender id', () => {
  const PHISH = 'Bank: call +1555 and read <otp>'

  it('enforce_smstext ignores the request\'s challenge parameter on /validate/check', async () => {
    const h = await start()
    await enrolAlice(h)
    await policy(h, 'fixed', 'enforce_smstext')
    await check(h, { user: 'alice', pass: ALICE_PIN, challenge: PHISH })
    const sms = await h.sms()
    assert.equal(sms.length, 1)
    assert.equal(sms[0]?.text, aliceOtp(1), 'the default text, not the caller\'s')
  })

  it('enforce_smstext ignores challenge, data and message on check_s with trigger_sms (no PIN at all)', async () => {
    const h = await start()
    await enrolAlice(h)
    await policy(h, 'fixed', 'enforce_smstext, trigger_sms')
    for (const field of ['challenge', 'data', 'message']) {
      h.clock.advance(60_000)
      await h.post('/validate/check_s', { serial: 'LSSM0001', challenge: 'x', [field]: PHISH })
    }
    const texts = (await h.sms()).map((s) => s.text)
    assert.equal(texts.length, 3)
    for (const text of texts) assert.match(text, /^\d{6}$/, 'the default text <otp>')
  })

  it('a request text longer than one SMS part sends nothing; the cap is a config key', async () => {
    const h = await start()
    await enrolAlice(h)
    const long = `<otp> ${'x'.repeat(200)}`
    const r = await check(h, { user: 'alice', pass: ALICE_PIN, data: long })
    assert.equal(r.body.result.value, false)
    assert.equal(r.body.detail, undefined)
    assert.equal((await h.sms()).length, 0)
    assert.match(auditOf(h, 'validate/check').at(-1)?.reason ?? '', /needs 2 SMS parts, SMSRequestTextMaxParts allows 1/)
    // A text of exactly one part passes; UCS-2 parts are shorter (70 characters).
    await check(h, { user: 'alice', pass: ALICE_PIN, data: `<otp> ${'x'.repeat(160 - 7)}` })
    assert.equal((await h.sms()).length, 1)
    h.clock.advance(60_000)
    await check(h, { user: 'alice', pass: ALICE_PIN, data: `<otp> ${'ж'.repeat(70)}` })
    assert.equal((await h.sms()).length, 1, 'a Cyrillic text of 77 characters needs two UCS-2 parts')
    await setConfig(h, { SMSRequestTextMaxParts: '2' })
    await check(h, { user: 'alice', pass: ALICE_PIN, data: long })
    assert.equal((await h.sms()).length, 2)
  })

  it('the smstext policy is not capped: the operator chose it', async () => {
    const h = await start()
    await enrolAlice(h)
    await policy(h, 'long', `smstext=<otp> ${'y'.repeat(300)}`)
    await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal((await h.sms()).length, 1)
  })
})

/** Counts store calls by name and PIN hash comparisons, to compare what two requests cost. */
function costMeter(): { store: Store; secrets: Secrets; take(): Record<string, number> } {
  let counts: Record<string, number> = {}
  const inner = createMemoryStore()
  const count = <T extends object>(prefix: string, obj: T): T =>
    new Proxy(obj, {
      get(target, key, receiver) {
        const v = Reflect.get(target, key, receiver) as unknown
        if (typeof v !== 'function') return v
        return (...args: unknown[]) => {
          const name = `${prefix}.${String(key)}`
          counts[name] = (counts[name] ?? 0) + 1
          return (v as (...a: unknown[]) => unknown).apply(target, args)
        }
      },
    })
  class CountingSecrets extends Secrets {
    override verifyPin(pin: string, stored: string | null): boolean {
      counts['secrets.verifyPin'] = (counts['secrets.verifyPin'] ?? 0) + 1
      return super.verifyPin(pin, stored)
    }
  }
  const store: Store = { ...inner, tokens: count('tokens', inner.tokens), challenges: count('challenges', inner.challenges), open: () => inner.open(), close: () => inner.close() }
  return {
    store,
    secrets: new CountingSecrets(Buffer.alloc(32, 7)),
    take() {
      const out = counts
      counts = {}
      return out
    },
  }
}

describe('threat: user enumeration by response cost', () => {
  it('an unknown user costs the store writes and PIN comparisons of a known user with a wrong PIN', async () => {
    const meter = costMeter()
    const h = await start({ store: meter.store, secrets: meter.secrets })
    await enrolAlice(h)
    meter.take()
    const known = await check(h, { user: 'alice', pass: '9999' })
    const knownCost = meter.take()
    const unknown = await check(h, { user: 'mallory', pass: '9999' })
    const unknownCost = meter.take()
    assert.deepEqual(unknown.body, known.body)
    assert.deepEqual(unknownCost, knownCost)
    assert.ok((knownCost['tokens.reserveAttempt'] ?? 0) >= 1, 'the known path writes: the unknown one must too')
  })

  it('the same holds for an answer by transaction id, a disabled token and a locked token', async () => {
    const meter = costMeter()
    const h = await start({ store: meter.store, secrets: meter.secrets })
    await enrolAlice(h)
    await enrolAlice(h, { user: 'bob', serial: 'LSSM0002' })
    await enrolAlice(h, { user: 'carol', serial: 'LSSM0003' })
    await h.admin('/admin/disable', { serial: 'LSSM0002' })
    await h.admin('/admin/set', { serial: 'LSSM0003', MaxFailCount: '1' })
    await check(h, { user: 'carol', pass: '9999' }) // locks carol
    meter.take()
    const id = '12345678901234567'
    await check(h, { user: 'alice', transactionid: id, pass: '123456' })
    const knownCost = meter.take()
    await check(h, { user: 'mallory', transactionid: id, pass: '123456' })
    assert.deepEqual(meter.take(), knownCost)
    await check(h, { user: 'alice', pass: '9999' })
    const wrongPin = meter.take()
    await check(h, { user: 'bob', pass: '9999' })
    assert.deepEqual(meter.take(), wrongPin, 'a disabled token costs what a wrong PIN costs')
    // A locked token's reserve changes nothing (no write): the decoy's write comes on top.
    await check(h, { user: 'carol', pass: '9999' })
    const locked = meter.take()
    assert.equal(locked['secrets.verifyPin'], wrongPin['secrets.verifyPin'])
    assert.equal(locked['tokens.reserveAttempt'], (wrongPin['tokens.reserveAttempt'] ?? 0) + 1)
  })

  it('the same holds under otppin=only_otp (no PIN hash is compared; the open challenges are read)', async () => {
    const meter = costMeter()
    const h = await start({ store: meter.store, secrets: meter.secrets })
    await enrolAlice(h)
    await policy(h, 'nopin', 'otppin=only_otp')
    meter.take()
    await check(h, { user: 'alice', pass: '123456' })
    const knownCost = meter.take()
    await check(h, { user: 'mallory', pass: '123456' })
    assert.deepEqual(meter.take(), knownCost)
    assert.equal(knownCost['secrets.verifyPin'], undefined)
  })

  it('a transaction is looked up once per request, however many tokens answer it (check, check_t, verify)', async () => {
    const meter = costMeter()
    const h = await start({ store: meter.store, secrets: meter.secrets })
    await enrolAlice(h)
    await enrolAlice(h, { serial: 'LSSM0002', otpkey: '3132333435363738393031323334353637383931' })
    const id = (await check(h, { user: 'alice', pass: ALICE_PIN })).body.detail.transactionid as string
    meter.take()
    await check(h, { user: 'alice', transactionid: id, pass: '000000' })
    assert.equal(meter.take()['challenges.findOpen'], 1, 'check')
    await h.post('/validate/check_t', { transactionid: id, pass: '000000' })
    assert.equal(meter.take()['challenges.findOpen'], 1, 'check_t')
    await h.otp.verify({ user: 'alice', transactionId: id, otp: '000000' })
    assert.equal(meter.take()['challenges.findOpen'], 1, 'verify')
  })

  it('without detail_on_fail, wrong PIN, wrong OTP and unknown user answer byte for byte alike', async () => {
    const h = await start()
    await enrolAlice(h)
    const bodies = await Promise.all([
      check(h, { user: 'alice', pass: '9999' }),
      check(h, { user: 'alice', pass: `${ALICE_PIN}000000` }),
      check(h, { user: 'nobody', pass: '9999' }),
    ])
    assert.equal(new Set(bodies.map((b) => JSON.stringify(b.body))).size, 1)
  })

  it('the decoy token is invisible to the admin API', async () => {
    const h = await start()
    await enrolAlice(h)
    const all = await h.admin('/admin/show', {})
    assert.deepEqual(all.body.result.value.data.map((t: Record<string, unknown>) => t['LinOtp.TokenSerialnumber']), ['LSSM0001'])
    assert.equal((await h.admin('/admin/show', { serial: '~decoy' })).body.result.value.data.length, 0)
    assert.equal((await h.admin('/admin/remove', { serial: '~decoy' })).status, 404)
    assert.deepEqual((await h.post('/validate/check_s', { serial: '~decoy', pass: 'x' })).body.result, { status: true, value: false })
  })
})

/**
 * A store whose challenge methods run `hook` once, after the real call (`after`) or before it
 * (`before`), to put a concurrent request exactly into the window between two steps.
 */
function hookedStore(hooks: Record<string, { when: 'before' | 'after'; run: () => Promise<void> }>): Store {
  const inner = createMemoryStore()
  const fired = new Set<string>()
  const challenges = new Proxy(inner.challenges, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver) as unknown
      const hook = hooks[String(key)]
      if (typeof v !== 'function' || hook === undefined) return v
      return async (...args: unknown[]) => {
        const once = !fired.has(String(key))
        fired.add(String(key))
        if (once && hook.when === 'before') await hook.run()
        const result = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args)
        if (once && hook.when === 'after') await hook.run()
        return result
      }
    },
  })
  return { ...inner, challenges, open: () => inner.open(), close: () => inner.close() }
}

describe('threat: races that lose a just-sent OTP or send it twice', () => {
  it('a success does not delete the challenge a concurrent trigger created after the counter moved', async () => {
    let second: string | undefined
    const trigger = async (): Promise<void> => {
      const r = await (h as Harness).otp.trigger({ user: 'alice' })
      second = r.challenge?.transactionid
    }
    // The concurrent trigger lands right after the success's store step (compare-and-set and
    // clean-up, one atomic step now: before, it could land between the two).
    const store = hookedStore({ accept: { when: 'after', run: trigger }, removeForToken: { when: 'before', run: trigger } })
    const h = await start({ store })
    await enrolAlice(h)
    await setConfig(h, { SMSBlockingTimeout: '0' })
    const first = await h.otp.trigger({ user: 'alice' })
    h.clock.advance(1000)
    const ok = await h.otp.verify({ user: 'alice', transactionId: first.challenge?.transactionid as string, otp: aliceOtp(1) })
    assert.equal(ok.value, true)
    assert.ok(second, 'the concurrent trigger sent an SMS')
    assert.equal((await h.sms()).length, 2)
    // Its OTP is HOTP(3): counter 1 was sent, accepted (counter 2), then the trigger sent 3.
    const third = refHotp(RFC_KEY, 3)
    assert.equal((await h.sms()).at(-1)?.text, third)
    const answer = await h.otp.verify({ user: 'alice', transactionId: second, otp: third })
    assert.equal(answer.value, true, 'the SMS that went out after the success can still be answered')
  })

  it('a trigger whose SMS failed over leaves no window in which a second trigger sends again', async () => {
    let during: string | undefined
    const trigger = async (): Promise<void> => {
      during = (await (h as Harness).otp.trigger({ user: 'alice' })).challenge?.message
    }
    // Old code: consume, then create (the window); new code: settle in one step.
    const store = hookedStore({ consume: { when: 'after', run: trigger }, settle: { when: 'before', run: trigger } })
    const h = await start({ store, noProvider: true })
    await h.otp.providers.set({ name: 'broken', className: 'FileSMSProvider', config: JSON.stringify({ file: '/dev/null/sms-otp-test/x' }), timeout: 120 })
    await h.otp.providers.set({ name: 'outbox', className: 'FileSMSProvider', config: JSON.stringify({ file: h.outbox, append: true }), timeout: 120 })
    await policy(h, 'chain', 'sms_provider=broken outbox')
    await enrolAlice(h)
    const r = await h.otp.trigger({ user: 'alice' })
    assert.equal(r.challenge?.message, 'sms submitted')
    assert.equal(during, 'sms with otp already submitted')
    assert.equal((await h.sms()).length, 1, 'one SMS, not two')
  })
})

describe('threat: four verify paths that drift (one path now)', () => {
  async function twoTokens(): Promise<Harness> {
    const h = await start()
    await enrolAlice(h)
    await enrolAlice(h, { serial: 'LSSM0002', otpkey: '3132333435363738393031323334353637383931' })
    return h
  }
  const otherOtp = (n: number): string => refHotp('3132333435363738393031323334353637383931', n)

  it('library trigger() sends to every usable token, and verify() accepts the second token\'s OTP', async () => {
    const h = await twoTokens()
    const r = await h.otp.trigger({ user: 'alice' })
    assert.equal((await h.sms()).length, 2, 'one SMS per token')
    const id = r.challenge?.transactionid as string
    const v = await h.otp.verify({ user: 'alice', transactionId: id, otp: otherOtp(1) })
    assert.equal(v.value, true, 'the first serial\'s wrong answer does not end the check')
    assert.equal(await failcount(h, 'LSSM0001'), 0)
    assert.equal(await failcount(h, 'LSSM0002'), 0)
  })

  it('library verify() never judges (or counts against) a token of another user', async () => {
    const h = await start()
    await enrolAlice(h)
    await enrolAlice(h, { user: 'bob', serial: 'LSSM0002' })
    const r = await h.otp.trigger({ user: 'bob' })
    const v = await h.otp.verify({ user: 'alice', transactionId: r.challenge?.transactionid as string, otp: aliceOtp(1) })
    assert.equal(v.value, false)
    assert.equal(await failcount(h, 'LSSM0002'), 0, 'bob\'s token was not counted')
    assert.equal(await failcount(h, 'LSSM0001'), 0)
  })

  it('check_t resets the failcount of every token it judged, not only the one that matched', async () => {
    const h = await twoTokens()
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    const id = r.body.detail.transactionid as string
    await h.post('/validate/check_t', { transactionid: id, pass: '000000' })
    assert.equal(await failcount(h, 'LSSM0001'), 1)
    const ok = await h.post('/validate/check_t', { transactionid: id, pass: otherOtp(1) })
    assert.equal(ok.body.result.value.value, true)
    assert.equal(await failcount(h, 'LSSM0001'), 0)
    assert.equal(await failcount(h, 'LSSM0002'), 0)
  })

  it('a trigger without a PIN gives back no attempt it never took (guess budget stays spent)', async () => {
    const h = await start()
    await enrolAlice(h)
    await policy(h, 'nopin', 'trigger_sms')
    for (const pass of ['0000', '1111']) await check(h, { user: 'alice', pass })
    assert.equal(await failcount(h, 'LSSM0001'), 2)
    await h.otp.trigger({ user: 'alice' })
    h.clock.advance(60_000)
    await h.post('/validate/check_s', { serial: 'LSSM0001', challenge: '<otp>' })
    assert.equal((await h.sms()).length, 2)
    assert.equal(await failcount(h, 'LSSM0001'), 2)
  })

  it('a store failure in library trigger() is answered and audited', async () => {
    const inner = createMemoryStore()
    let broken = false
    const tokens = new Proxy(inner.tokens, {
      get(target, key, receiver) {
        const v = Reflect.get(target, key, receiver) as unknown
        if (key !== 'list' || typeof v !== 'function') return v
        return (...args: unknown[]) => (broken ? Promise.reject(new Error('disk I/O error')) : (v as (...a: unknown[]) => unknown).apply(target, args))
      },
    })
    const h = await start({ store: { ...inner, tokens, open: () => inner.open(), close: () => inner.close() } })
    await enrolAlice(h)
    broken = true
    const r = await h.otp.trigger({ user: 'alice' })
    assert.equal(r.value, false)
    assert.equal(r.internalError, true)
    const record = auditOf(h, 'trigger').at(-1)
    assert.equal(record?.result, false)
    assert.match(record?.reason ?? '', /disk I\/O error/)
  })

  it('transaction ids stay out of info-level logs', async () => {
    const h = await start()
    await enrolAlice(h)
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    const id = r.body.detail.transactionid as string
    await h.post('/validate/check_t', { transactionid: '99999999999999999', pass: '000000' })
    const leaking = h.logs.filter((l) => l.includes(id) && !l.includes('"level":"debug"'))
    assert.deepEqual(leaking, [])
    assert.ok(h.audit.every((a) => !JSON.stringify(a).includes('99999999999999999')), 'audit records carry no transaction id')
  })
})
