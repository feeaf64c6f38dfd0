/**
 * SmsOtpStrategy through real passport 0.7, Express 5 and express-session over real HTTP: every
 * outcome (success, fail with challenge, redirect, error), both challenge homes, single use, the
 * second-step-only mode, construction errors and hostile input.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { afterEach, describe, it } from 'node:test'
import { ESLint } from 'eslint'
import { SmsOtpStrategy } from '../strategies/index.js'
import { startApp, type AppOptions, type StrategyApp } from './strategy-app.js'

let app: StrategyApp | undefined
const start = async (o: AppOptions = {}) => (app = await startApp(o))
afterEach(async () => {
  await app?.close()
  app = undefined
})

describe('SmsOtpStrategy, session home', () => {
  it('username + PIN sends the SMS and fails with the challenge; the OTP succeeds', async () => {
    const a = await start()
    const b = a.browser()
    const first = await b.post('/login', { username: 'alice', password: '1234' })
    assert.equal(first.status, 401)
    const c = first.body.challenge
    assert.match(c.transactionId, /^\d{17}$/)
    assert.equal(c.message, 'sms submitted')
    assert.equal(c.maskedPhone.includes('12345678'), false)
    assert.match(c.maskedPhone, /5678$/)
    assert.equal(c.resendInSeconds, 30)
    assert.equal(c.handle, undefined)
    assert.equal((await a.sms()).length, 1)
    const ok = await b.post('/login', { otp: await a.lastOtp() })
    assert.equal(ok.status, 200)
    assert.deepEqual(ok.body.user, { username: 'alice', realm: null })
  })

  it('the OTP with its transaction id succeeds; a foreign transaction id fails and counts', async () => {
    const a = await start()
    const b = a.browser()
    const { body } = await b.post('/login', { username: 'alice', password: '1234' })
    const otp = await a.lastOtp()
    assert.equal((await b.post('/login', { otp, transactionId: '12345678901234567' })).status, 401)
    assert.equal((await b.get('/state')).body.pending.attempts, 1)
    const ok = await b.post('/login', { otp, transactionId: body.challenge.transactionId })
    assert.equal(ok.status, 200)
  })

  it('a wrong PIN fails like a wrong OTP, sends nothing and stores nothing', async () => {
    const a = await start()
    const b = a.browser()
    const res = await b.post('/login', { username: 'alice', password: '9999' })
    assert.equal(res.status, 401)
    assert.deepEqual(res.body, { message: 'Invalid credentials' })
    assert.equal((await a.sms()).length, 0)
    assert.equal((await b.get('/state')).body.pending, null)
    await b.post('/login', { username: 'alice', password: '1234' })
    const wrong = await b.post('/login', { otp: '000000' === (await a.lastOtp()) ? '111111' : '000000' })
    assert.deepEqual(wrong.body, { message: 'Invalid credentials' })
  })

  it('threat: replay — a challenge cannot be answered twice', async () => {
    const a = await start()
    const b = a.browser()
    await b.post('/login', { username: 'alice', password: '1234' })
    const otp = await a.lastOtp()
    const cookie = b.cookie()
    assert.equal((await b.post('/login', { otp })).status, 200)
    // The same browser again (same cookie): the pending record was consumed before success.
    assert.equal(b.cookie(), cookie)
    assert.equal((await b.get('/state')).body.pending, null)
    assert.equal((await b.post('/login', { otp })).status, 401)
  })

  it('threat: challenge hijack — another session cannot answer this browser’s challenge', async () => {
    const a = await start()
    const victim = a.browser()
    const attacker = a.browser()
    const { body } = await victim.post('/login', { username: 'alice', password: '1234' })
    const otp = await a.lastOtp()
    await attacker.get('/state')
    const stolen = await attacker.post('/login', { otp, transactionId: body.challenge.transactionId })
    assert.equal(stolen.status, 401)
    assert.equal((await victim.post('/login', { otp })).status, 200)
  })

  it('a wrong OTP fails, counts on the token, and the attempts run out', async () => {
    const a = await start({ strategy: { maxAttempts: 2 } })
    const b = a.browser()
    await b.post('/login', { username: 'alice', password: '1234' })
    const otp = await a.lastOtp()
    const wrong = otp === '000000' ? '111111' : '000000'
    assert.equal((await b.post('/login', { otp: wrong })).status, 401)
    assert.equal(await a.failcount(), 1)
    assert.equal((await b.get('/state')).body.pending.attempts, 1)
    assert.equal((await b.post('/login', { otp: wrong })).status, 401)
    assert.equal(await a.failcount(), 2)
    // No attempt left: back to none, even the right OTP is refused without asking the engine.
    assert.equal((await b.get('/state')).body.pending, null)
    assert.equal((await b.post('/login', { otp })).status, 401)
  })

  it('an expired pending challenge is refused', async () => {
    const a = await start({ strategy: { ttlSeconds: 60 } })
    const b = a.browser()
    await b.post('/login', { username: 'alice', password: '1234' })
    a.clock.advance(61_000)
    assert.equal((await b.post('/login', { otp: await a.lastOtp() })).status, 401)
  })

  it('asking again inside the blocking time keeps the challenge and its attempts', async () => {
    const a = await start()
    const b = a.browser()
    const one = await b.post('/login', { username: 'alice', password: '1234' })
    await b.post('/login', { otp: '000000' === (await a.lastOtp()) ? '111111' : '000000' })
    a.clock.advance(10_000)
    const two = await b.post('/login', { username: 'alice', password: '1234' })
    assert.equal(two.body.challenge.transactionId, one.body.challenge.transactionId)
    assert.equal(two.body.challenge.resendInSeconds, 20)
    assert.equal((await b.get('/state')).body.pending.attempts, 1)
    assert.equal((await a.sms()).length, 1)
  })

  it('resend: the cooldown holds inside the blocking time, then a new SMS replaces the challenge', async () => {
    const a = await start()
    const b = a.browser()
    assert.equal((await b.post('/login', { resend: '1' })).status, 401, 'nothing to resend')
    assert.equal((await a.sms()).length, 0)
    const one = await b.post('/login', { username: 'alice', password: '1234' })
    const oldOtp = await a.lastOtp()
    a.clock.advance(12_000)
    const early = await b.post('/login', { resend: '1' })
    assert.equal(early.body.challenge.transactionId, one.body.challenge.transactionId)
    assert.equal(early.body.challenge.resendInSeconds, 18)
    assert.equal((await a.sms()).length, 1, 'no SMS inside the cooldown')
    a.clock.advance(20_000)
    const late = await b.post('/login', { resend: '1' })
    assert.notEqual(late.body.challenge.transactionId, one.body.challenge.transactionId)
    assert.equal(late.body.challenge.resendInSeconds, 30)
    assert.equal((await a.sms()).length, 2)
    const newOtp = await a.lastOtp()
    if (newOtp !== oldOtp) assert.equal((await b.post('/login', { otp: oldOtp })).status, 401, 'the replaced challenge is not this browser’s any more')
    assert.equal((await b.post('/login', { otp: newOtp })).status, 200)
  })

  it('redirects to the OTP page when otpUrl is set, then succeeds there', async () => {
    const a = await start({ plain: true, strategy: { otpUrl: '/otp' } })
    const b = a.browser()
    const res = await b.post('/login', { username: 'alice', password: '1234' })
    assert.equal(res.status, 303)
    assert.equal(res.location, '/otp')
    const before = b.cookie()
    const ok = await b.post('/login', { otp: await a.lastOtp() })
    assert.equal(ok.status, 200)
    assert.equal(ok.body.user.username, 'alice')
    // passport 0.7 logs in with a regenerated session: the pre-login session id is gone.
    assert.notEqual(b.cookie(), before)
  })

  it('a store that throws ends in error, not fail; the challenge survives the outage', async () => {
    const a = await start()
    const b = a.browser()
    a.broken = true
    const down = await b.post('/login', { username: 'alice', password: '1234' })
    assert.equal(down.status, 500)
    // The cause is named: the store, not the SMS gateway.
    assert.equal(down.body.error, 'ERR_OTP_STORE')
    a.broken = false
    await b.post('/login', { username: 'alice', password: '1234' })
    const otp = await a.lastOtp()
    a.broken = true
    const verifyDown = await b.post('/login', { otp })
    assert.equal(verifyDown.status, 500)
    assert.equal(verifyDown.body.error, 'ERR_OTP_STORE')
    a.broken = false
    assert.equal((await b.post('/login', { otp })).status, 200)
  })

  it('no SMS provider reachable ends in error', async () => {
    const a = await start()
    await a.otp.providers.set({ name: 'dead', className: 'HttpSMSProvider', config: JSON.stringify({ URL: 'http://127.0.0.1:9/send', PARAMETER: { phone: 'to', message: 'text' } }), timeout: 2 }, true)
    const res = await a.browser().post('/login', { username: 'alice', password: '1234' })
    assert.equal(res.status, 500)
    assert.equal(res.body.error, 'ERR_OTP_PROVIDER_UNAVAILABLE')
  })

  it('a missing session middleware is reported clearly, before any SMS', async () => {
    const a = await start({ session: false })
    const res = await a.browser().post('/login', { username: 'alice', password: '1234' })
    assert.equal(res.status, 500)
    assert.equal(res.body.error, 'ERR_OTP_INVALID_OPTION')
    assert.match(res.body.message, /express-session/)
    assert.equal((await a.sms()).length, 0)
  })
})

describe('SmsOtpStrategy, handle (LRU) home', () => {
  it('returns an unguessable handle; the OTP with the handle succeeds once', async () => {
    const a = await start({ session: false, strategy: { home: 'handle' } })
    const b = a.browser()
    const { body } = await b.post('/login', { username: 'alice', password: '1234' }, true)
    assert.match(body.challenge.handle, /^[A-Za-z0-9_-]{43}$/)
    const otp = await a.lastOtp()
    assert.equal((await b.post('/login', { otp }, true)).status, 401, 'no handle, no answer')
    assert.equal((await b.post('/login', { otp, handle: body.challenge.handle }, true)).status, 200)
    assert.equal((await b.post('/login', { otp, handle: body.challenge.handle }, true)).status, 401, 'consumed')
  })

  it('threat: challenge hijack — another handle cannot answer the challenge', async () => {
    const a = await start({ session: false, strategy: { home: 'handle' } })
    const b = a.browser()
    const { body } = await b.post('/login', { username: 'alice', password: '1234' })
    const otp = await a.lastOtp()
    const forged = 'A'.repeat(43)
    assert.equal((await b.post('/login', { otp, handle: forged, transactionId: body.challenge.transactionId })).status, 401)
    // A wrong answer keeps the handle usable (one attempt spent).
    const wrong = otp === '000000' ? '111111' : '000000'
    assert.equal((await b.post('/login', { otp: wrong, handle: body.challenge.handle })).status, 401)
    assert.equal((await b.post('/login', { otp, handle: body.challenge.handle })).status, 200)
  })
})

describe('SmsOtpStrategy, concurrent answers', () => {
  for (const home of ['session', 'handle'] as const) {
    it(`threat: double spend — of ${home === 'session' ? 'two parallel answers in one session' : 'two parallel answers with one handle'}, exactly one succeeds`, async () => {
      const a = await start({ session: home === 'session', strategy: { home } })
      const b = a.browser()
      const { body } = await b.post('/login', { username: 'alice', password: '1234' })
      const otp = await a.lastOtp()
      const form = home === 'handle' ? { otp, handle: body.challenge.handle } : { otp }
      const answers = await Promise.all(Array.from({ length: 6 }, () => b.post('/login', form)))
      assert.deepEqual(answers.map((r) => r.status).sort(), [200, 401, 401, 401, 401, 401])
    })
  }
})

describe('SmsOtpStrategy, second step only (firstFactor: external)', () => {
  it('works on req.user from another strategy: trigger, then verify', async () => {
    const a = await start({ strategy: { firstFactor: 'external' } })
    const b = a.browser()
    const none = await b.post('/login', {})
    assert.equal(none.status, 401)
    assert.equal((await a.sms()).length, 0)
    assert.equal((await b.post('/first', { username: 'alice', password: 'alice-password' })).status, 200)
    const ch = await b.post('/login', {})
    assert.equal(ch.status, 401)
    assert.match(ch.body.challenge.transactionId, /^\d{17}$/)
    const ok = await b.post('/login', { otp: await a.lastOtp() })
    assert.equal(ok.status, 200)
    assert.deepEqual(ok.body.user, { username: 'alice' })
  })

  it('a challenge of one user cannot be answered after the session switched user', async () => {
    const a = await start({ strategy: { firstFactor: 'external' } })
    const b = a.browser()
    await b.post('/first', { username: 'alice', password: 'alice-password' })
    await b.post('/login', {})
    const otp = await a.lastOtp()
    await b.post('/first', { username: 'bob', password: 'bob-password' })
    assert.equal((await b.post('/login', { otp })).status, 401)
  })
})

describe('SmsOtpStrategy.challenge(req): the OTP page after a reload', () => {
  it('shows the open challenge (masked phone, resend time) without sending; none after success', async () => {
    const a = await start()
    const b = a.browser()
    assert.equal((await b.get('/challenge')).body.challenge, null)
    const ch = await b.post('/login', { username: 'alice', password: '1234' })
    a.clock.advance(10_000)
    const sent = (await a.sms()).length
    const shown = (await b.get('/challenge')).body.challenge
    assert.equal(shown.transactionId, ch.body.challenge.transactionId)
    assert.match(shown.maskedPhone, /5678$/)
    assert.equal(shown.resendInSeconds, 20)
    assert.equal((await a.sms()).length, sent, 'reading sends nothing')
    assert.equal((await b.post('/login', { otp: await a.lastOtp() })).status, 200)
    assert.equal((await b.get('/challenge')).body.challenge, null)
  })
})

describe('SmsOtpStrategy, auto-enrolment (external first factor)', () => {
  const phones: Record<string, string> = { erin: '+4917612345678', frank: 'not a number' }
  const userOf = (u: unknown) => {
    const username = (u as { username: string }).username
    return { user: username, phone: phones[username] }
  }

  it('a user without a token is enrolled with the phone the host vouches for, and logs in', async () => {
    const a = await start({ strategy: { firstFactor: 'external', userOf } })
    await a.otp.policies.set({ name: 'ae', scope: 'enrollment', action: 'autoenrollment=sms', user: '*', realm: '*' })
    const b = a.browser()
    await b.post('/first', { username: 'erin', password: 'erin-password' })
    const ch = await b.post('/login', {})
    assert.equal(ch.status, 401)
    assert.equal(ch.body.challenge.enrolled, true)
    assert.match(ch.body.challenge.maskedPhone, /5678$/)
    assert.equal((await a.sms()).at(-1)?.phone, '+4917612345678')
    const ok = await b.post('/login', { otp: await a.lastOtp() })
    assert.equal(ok.status, 200)
  })

  it('an unusable number fails 403 with its code; no token is left', async () => {
    const a = await start({ strategy: { firstFactor: 'external', userOf } })
    await a.otp.policies.set({ name: 'ae', scope: 'enrollment', action: 'autoenrollment=sms', user: '*', realm: '*' })
    const b = a.browser()
    await b.post('/first', { username: 'frank', password: 'frank-password' })
    const r = await b.post('/login', {})
    assert.equal(r.status, 403)
    assert.equal(r.body.code, 'ERR_OTP_INVALID_PHONE')
    assert.deepEqual(await a.otp.tokens.show({ user: 'frank' }), [])
  })
})

describe('SmsOtpStrategy, bad input', () => {
  it('bad options fail at construction with a coded TypeError', async () => {
    const a = await start()
    const bad: Array<[string, Record<string, unknown>]> = [
      ['otp', {}],
      ['firstFactor', { otp: a.otp, firstFactor: 'password' }],
      ['home', { otp: a.otp, home: 'redis' }],
      ['sessionKey', { otp: a.otp, sessionKey: 'cookie' }],
      ['ttlSeconds', { otp: a.otp, ttlSeconds: 0 }],
      ['maxAttempts', { otp: a.otp, maxAttempts: 1.5 }],
      ['otpUrl', { otp: a.otp, otpUrl: 'javascript:alert(1)' }],
      ['otpUrl', { otp: a.otp, otpUrl: '/otp', home: 'handle' }],
      ['fields', { otp: a.otp, fields: { otp: 'password' } }],
      ['userOf', { otp: a.otp, userOf: 'username' }],
    ]
    for (const [option, options] of bad) {
      assert.throws(() => new SmsOtpStrategy(options as never), (err: TypeError & { code?: string }) => {
        assert.ok(err instanceof TypeError)
        assert.equal(err.code, 'ERR_OTP_INVALID_OPTION')
        assert.ok(err.message.startsWith(option), `${err.message} names ${option}`)
        return true
      })
    }
  })

  it('hostile fields (arrays, 1 MB, non-strings, control characters) get 400 and leave no state', async () => {
    const a = await start()
    const b = a.browser()
    const cases: Array<[Record<string, string | string[]>, boolean]> = [
      [{ username: ['alice', 'bob'], password: '1234' }, false],
      [{ username: 'alice', password: 'x'.repeat(1 << 20) }, false],
      [{ username: 'alice', password: '12\u00004' }, false],
      [{ username: 'alice\ufffd', password: '1234' }, false],
      [{ username: 'alice', password: ['1234'] }, true],
      [{ username: { $ne: 1 }, password: 1234 } as never, true],
    ]
    for (const [form, json] of cases) {
      const res = await b.post('/login', form, json)
      assert.equal(res.status, 400, JSON.stringify(form).slice(0, 80))
      assert.deepEqual(res.body, { message: 'Bad request' })
    }
    const invalidUtf8: Array<[string, Buffer]> = [
      ['application/x-www-form-urlencoded', Buffer.concat([Buffer.from('username=ali'), Buffer.from([0xff, 0xfe]), Buffer.from('&password=1234')])],
      ['application/json', Buffer.concat([Buffer.from('{"username":"ali'), Buffer.from([0xc3]), Buffer.from('","password":"1234"}')])],
    ]
    for (const [type, bytes] of invalidUtf8) {
      const res = await b.raw('/login', type, bytes)
      assert.equal(res.status, 400, type)
    }
    assert.equal((await a.sms()).length, 0)
    assert.equal((await b.get('/state')).body.pending, null)
    assert.equal(b.cookie(), undefined, 'no session was even created')
  })
})

describe('SmsOtpStrategy, layout', () => {
  it('strategies/ imports passport and Express as types only; the core never imports strategies/', async () => {
    const root = join(import.meta.dirname, '..')
    const eslint = new ESLint({ cwd: root })
    const lint = async (file: string, code: string) => {
      const [r] = await eslint.lintText(code, { filePath: join(root, file) })
      return (r?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').length
    }
    assert.equal(await lint('strategies/x.ts', "import passport from 'passport'\nexport { passport }\n"), 1)
    assert.equal(await lint('strategies/x.ts', "import { Router } from 'express'\nexport { Router }\n"), 1)
    assert.equal(await lint('strategies/x.ts', "import type passport from 'passport'\nimport type * as express from 'express'\nexport type X = [passport.Strategy, express.Request]\n"), 0)
    assert.equal(await lint('src/validate/check.ts', "import { SmsOtpStrategy } from '../../strategies/index.js'\nexport { SmsOtpStrategy }\n"), 1)
  })
})
