/**
 * requireSecondFactor() in a real Express 5 app with real express-session over loopback HTTP; the
 * engine runs over a memory store with a FileSMSProvider outbox. The first factor is a tiny route
 * that puts the user into the session.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { request, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import express from 'express'
import session from 'express-session'
import { ManualClock } from '../src/clock.js'
import { Secrets } from '../src/crypto/secrets.js'
import { createSmsOtp, type SmsOtp } from '../src/sms-otp.js'
import { createMemoryStore } from '../src/stores/memory.js'
import { requireSecondFactor, type GateOptions } from '../middleware/index.js'
import { readOutbox } from './helpers/harness.js'

interface Reply { status: number; location: string | null; body: unknown }

interface App {
  readonly otp: SmsOtp
  readonly clock: ManualClock
  readonly url: string
  browser(): Browser
  sms(): Promise<Array<{ phone: string; text: string }>>
  lastOtp(): Promise<string>
  failcount(): Promise<number>
  close(): Promise<void>
}

interface Browser {
  get(path: string, json?: boolean): Promise<Reply>
  post(path: string, form: Record<string, string>, json?: boolean): Promise<Reply>
  cookie(): string | undefined
}

async function startApp(opts: { session?: boolean; global?: boolean; gate?: Partial<GateOptions> } = {}): Promise<App> {
  const dir = await mkdtemp(join(tmpdir(), 'sms-otp-gate-'))
  const outbox = join(dir, 'outbox.log')
  const clock = new ManualClock()
  const otp = await createSmsOtp({ store: createMemoryStore(), secrets: Secrets.ephemeral(), clock })
  await otp.providers.set({ name: 'outbox', className: 'FileSMSProvider', config: JSON.stringify({ file: outbox, append: true }), timeout: 120 }, true)
  await otp.tokens.init({ user: 'alice', phone: '+4915112345678', pin: '1234', serial: 'LSSM0001' })
  await otp.tokens.init({ user: 'bob', phone: '+4915187654321', pin: '5678', serial: 'LSSM0002' })

  const app = express()
  if (opts.session !== false) app.use(session({ secret: 'test-session-secret', resave: false, saveUninitialized: false }))
  app.use(express.urlencoded({ extended: false }))
  app.use(express.json())
  const gate = requireSecondFactor(otp, {
    otpPath: '/otp',
    getUser: (req) => (req as unknown as { session?: { user?: string } }).session?.user,
    ...opts.gate,
  })
  // The first factor: whatever user the form names (the host's password check is not under test).
  app.post('/first', (req, res) => {
    const s = (req as unknown as { session: { user?: string } }).session
    s.user = (req.body as { user: string }).user
    res.json({ ok: true })
  })
  app.get('/otp', (_req, res) => {
    res.send('otp page')
  })
  app.get('/otp-state', (req, res) => {
    res.json(gate.challenge(req) ?? null)
  })
  app.post('/otp', gate.verify)
  app.post('/otp/resend', gate.resend)
  // Global: the gate guards every path (what an app-wide `app.use(gate)` remembers as the way back).
  if (opts.global) app.use(gate)
  app.get('/profile', gate, (req, res) => {
    res.json({ profile: (req as unknown as { session: { user: string } }).session.user })
  })
  if (opts.global) app.use((req, res) => {
    res.json({ path: req.originalUrl })
  })
  app.use((err: Error & { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: err.code ?? null, message: err.message })
  })
  const server: Server = await new Promise((ok) => {
    const s = app.listen(0, '127.0.0.1', () => ok(s))
  })
  const address = server.address()
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`

  const browser = (): Browser => {
    let cookie: string | undefined
    const call = async (method: string, path: string, json: boolean, body?: Record<string, string>): Promise<Reply> => {
      const headers: Record<string, string> = { accept: json ? 'application/json' : 'text/html' }
      if (cookie) headers.cookie = cookie
      if (body) headers['content-type'] = json ? 'application/json' : 'application/x-www-form-urlencoded'
      const res = await fetch(url + path, {
        method,
        redirect: 'manual',
        headers,
        ...(body ? { body: json ? JSON.stringify(body) : new URLSearchParams(body).toString() } : {}),
      })
      const set = res.headers.get('set-cookie')
      if (set) cookie = set.split(';')[0]
      const text = await res.text()
      let parsed: unknown = text
      try {
        parsed = JSON.parse(text)
      } catch { /* HTML or empty */ }
      return { status: res.status, location: res.headers.get('location'), body: parsed }
    }
    return {
      get: (path, json = false) => call('GET', path, json),
      post: (path, form, json = false) => call('POST', path, json, form),
      cookie: () => cookie,
    }
  }
  const sms = () => readOutbox(outbox)
  return {
    otp, clock, url, browser, sms,
    async lastOtp() {
      const m = /\d{6}/.exec((await sms()).at(-1)?.text ?? '')
      if (!m) throw new Error('no SMS was sent')
      return m[0]
    },
    async failcount() {
      const [t] = await otp.tokens.show({ serial: 'LSSM0001' })
      return t?.failcount ?? -1
    },
    async close() {
      server.closeAllConnections()
      await new Promise((ok) => server.close(ok))
      await otp.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** A wrong OTP that differs from `right` in every digit. */
const wrongOf = (right: string) => right.replace(/\d/g, (d) => String((Number(d) + 1) % 10))

describe('requireSecondFactor()', () => {
  let app: App
  before(async () => {
    app = await startApp()
  })
  after(async () => {
    await app.close()
  })

  it('sends an HTML request without the factor to the OTP page and a JSON one a 401 challenge', async () => {
    const b = app.browser()
    await b.post('/first', { user: 'alice' })
    const html = await b.get('/profile')
    assert.equal(html.status, 303)
    assert.equal(html.location, '/otp')
    const json = await b.get('/profile', true)
    assert.equal(json.status, 401)
    const { challenge } = json.body as { challenge: { transactionId: string; message: string; resendInSeconds: number } }
    assert.match(challenge.transactionId, /^\d+$/)
    assert.equal(challenge.message, 'sms submitted')
    assert.ok(challenge.resendInSeconds > 0)
  })

  it('a request without a first factor is refused with 401 and sends nothing', async () => {
    const before = (await app.sms()).length
    const r = await app.browser().get('/profile', true)
    assert.equal(r.status, 401)
    assert.equal((await app.sms()).length, before)
  })

  it('threat: SMS bombing by reloading: one SMS across reloads while the challenge is valid, resend only after the cooldown', async () => {
    const b = app.browser()
    await b.post('/first', { user: 'alice' })
    app.clock.advance(61_000)
    const before = (await app.sms()).length
    const first = await b.get('/profile', true)
    for (let i = 0; i < 4; i++) await b.get('/profile')
    const id = (first.body as { challenge: { transactionId: string } }).challenge.transactionId
    // Resend inside the cooldown: nothing sent, the time left shown.
    const early = await b.post('/otp/resend', {}, true)
    assert.equal(early.status, 200)
    assert.ok((early.body as { challenge: { resendInSeconds: number } }).challenge.resendInSeconds > 0)
    assert.equal((await app.sms()).length, before + 1)
    // After the engine's blocking time a reload still does not send: the pending record is reused.
    app.clock.advance(31_000)
    const again = await b.get('/profile', true)
    await b.get('/profile')
    assert.equal((await app.sms()).length, before + 1)
    assert.equal((again.body as { challenge: { transactionId: string } }).challenge.transactionId, id)
    assert.equal((again.body as { challenge: { resendInSeconds: number } }).challenge.resendInSeconds, 0)
    // Resend after the cooldown: one new SMS, and its OTP opens the gate.
    const late = await b.post('/otp/resend', {}, true)
    assert.equal(late.status, 200)
    assert.equal((await app.sms()).length, before + 2)
    const ok = await b.post('/otp', { otp: await app.lastOtp() }, true)
    assert.equal(ok.status, 200)
  })

  it('hostile OTP fields (arrays, objects, 1 MB, control characters) get 400 and change nothing', async () => {
    const b = app.browser()
    await b.post('/first', { user: 'alice' })
    app.clock.advance(61_000)
    await b.get('/profile')
    const sent = (await app.sms()).length
    const failcount = await app.failcount()
    const cases: Array<[Record<string, unknown>, boolean]> = [
      [{ otp: ['123456', '654321'] }, true],
      [{ otp: 'x'.repeat(50_000) }, false],
      [{ otp: '12\u00003456' }, false],
      [{ otp: { $ne: 1 } }, true],
      [{ otp: 123456 }, true],
    ]
    for (const [form, json] of cases) {
      const res = await b.post('/otp', form as Record<string, string>, json)
      assert.equal(res.status, 400, JSON.stringify(form).slice(0, 60))
    }
    assert.equal((await app.sms()).length, sent, 'no SMS')
    assert.equal(await app.failcount(), failcount, 'no attempt counted')
    // The challenge is still this browser's to answer.
    assert.equal((await b.post('/otp', { otp: await app.lastOtp() }, true)).status, 200)
  })

  it('threat: session fixation: the right OTP grants access, regenerates the session id and returns to the original URL', async () => {
    const b = app.browser()
    await b.post('/first', { user: 'alice' })
    await b.get('/profile')
    const fixed = b.cookie()
    assert.ok(fixed)
    const ok = await b.post('/otp', { otp: await app.lastOtp() })
    assert.equal(ok.status, 303)
    assert.equal(ok.location, '/profile')
    assert.notEqual(b.cookie(), fixed)
    const profile = await b.get('/profile', true)
    assert.equal(profile.status, 200)
    assert.deepEqual(profile.body, { profile: 'alice' })
    // The old id carries nothing: an attacker who planted it is not logged in.
    const res = await fetch(`${app.url}/profile`, { headers: { cookie: fixed, accept: 'application/json' } })
    assert.equal(res.status, 401)
  })

  it('a wrong OTP gives no access and counts on the token; the words do not say which factor', async () => {
    const b = app.browser()
    await b.post('/first', { user: 'alice' })
    app.clock.advance(61_000)
    await b.get('/profile')
    const right = await app.lastOtp()
    const fails = await app.failcount()
    const wrong = await b.post('/otp', { otp: wrongOf(right) }, true)
    assert.equal(wrong.status, 401)
    assert.deepEqual(wrong.body, { message: 'Invalid credentials' })
    assert.equal(await app.failcount(), fails + 1)
    const html = await b.post('/otp', { otp: wrongOf(right) })
    assert.equal(html.status, 303)
    assert.equal(html.location, '/otp?error=1')
    assert.equal((await b.get('/profile', true)).status, 401)
    // The third wrong answer uses the attempts up: even the right OTP no longer opens this challenge.
    await b.post('/otp', { otp: wrongOf(right) }, true)
    assert.equal((await b.post('/otp', { otp: right }, true)).status, 401)
    await app.otp.tokens.reset({ serial: 'LSSM0001' })
  })

  it('threat: OTP replay from another session: a used OTP and a foreign transaction id open nothing', async () => {
    const victim = app.browser()
    await victim.post('/first', { user: 'alice' })
    app.clock.advance(61_000)
    const ch = await victim.get('/profile', true)
    const id = (ch.body as { challenge: { transactionId: string } }).challenge.transactionId
    const right = await app.lastOtp()
    // The attacker has a first factor for alice too, but a session of its own.
    const attacker = app.browser()
    await attacker.post('/first', { user: 'alice' })
    assert.equal((await attacker.post('/otp', { otp: right, transactionId: id }, true)).status, 401)
    assert.equal((await victim.post('/otp', { otp: right, transactionId: id }, true)).status, 200)
    assert.equal((await attacker.post('/otp', { otp: right, transactionId: id }, true)).status, 401)
    assert.equal((await attacker.get('/profile', true)).status, 401)
  })

  it('threat: verified marker reused for another user: a session whose user changes is challenged again', async () => {
    const b = app.browser()
    await b.post('/first', { user: 'alice' })
    app.clock.advance(61_000)
    await b.get('/profile')
    await b.post('/otp', { otp: await app.lastOtp() })
    assert.equal((await b.get('/profile', true)).status, 200)
    await b.post('/first', { user: 'bob' })
    const r = await b.get('/profile', true)
    assert.equal(r.status, 401)
    assert.ok((r.body as { challenge?: unknown }).challenge)
    assert.equal((await app.sms()).at(-1)?.phone, '+4915187654321')
  })

})

describe('requireSecondFactor() auto-enrolment', () => {
  it("enrols a user without a token with the phone getUser vouches for (an OIDC phone_number)", async () => {
    const app = await startApp({
      gate: { getUser: (req) => {
        const user = (req as unknown as { session?: { user?: string } }).session?.user
        return user === undefined ? undefined : { user, phone: '+4917612345678' }
      } },
    })
    try {
      await app.otp.policies.set({ name: 'ae', scope: 'enrollment', action: 'autoenrollment=sms', user: '*', realm: '*' })
      const b = app.browser()
      await b.post('/first', { user: 'erin' })
      const r = await b.get('/profile', true)
      assert.equal(r.status, 401)
      assert.match((r.body as { challenge: { maskedPhone: string } }).challenge.maskedPhone, /5678$/)
      // The OTP page drawn again after a reload reads the same challenge, sending nothing.
      assert.match(JSON.stringify((await b.get('/otp-state', true)).body), /"maskedPhone":"[^"]*5678"/)
      assert.equal((await app.sms()).at(-1)?.phone, '+4917612345678')
      assert.equal((await b.post('/otp', { otp: await app.lastOtp() }, true)).status, 200)
      assert.equal((await b.get('/profile', true)).status, 200)
    } finally {
      await app.close()
    }
  })
})

describe('requireSecondFactor() mounted app-wide', () => {
  let app: App
  before(async () => {
    app = await startApp({ global: true })
  })
  after(async () => {
    await app.close()
  })

  /** A GET with a raw request target (fetch would normalise it). */
  const rawGet = (target: string, cookie: string) => new Promise<{ status: number; location: string | undefined }>((ok, fail) => {
    const u = new URL(app.url)
    const r = request({ host: u.hostname, port: u.port, path: target, headers: { cookie, accept: 'text/html' } }, (res) => {
      res.resume()
      res.on('end', () => ok({ status: res.statusCode ?? 0, location: res.headers.location }))
    })
    r.on('error', fail)
    r.end()
  })

  it('threat: open redirect after the OTP: //evil.example, /\\evil.example and https://evil.example are not followed', async () => {
    for (const target of ['//evil.example/x', '/\\evil.example', 'https://evil.example/']) {
      const b = app.browser()
      await b.post('/first', { user: 'alice' })
      app.clock.advance(61_000)
      const sent = await rawGet(target, b.cookie() ?? '')
      assert.equal(sent.status, 303, target)
      assert.equal(sent.location, '/otp')
      const ok = await b.post('/otp', { otp: await app.lastOtp() })
      assert.equal(ok.status, 303)
      assert.equal(ok.location, '/', `${target} -> ${String(ok.location)}`)
    }
  })

  it('threat: gate bypass through the OTP path: /otp/../secret and encoded forms are guarded', async () => {
    const b = app.browser()
    await b.post('/first', { user: 'alice' })
    app.clock.advance(61_000)
    // express.static and other path-resolving handlers after an app-wide gate would serve /secret.
    for (const target of ['/otp/../secret', '/otp/%2e%2e/secret', '/otp/..%2fsecret', '/otp/.%2e/secret', '/otp//../secret', '/otp\\..\\secret']) {
      const r = await rawGet(target, b.cookie() ?? '')
      assert.equal(r.status, 303, target)
      assert.equal(r.location, '/otp', target)
    }
    // A plain path below the OTP page passes (the app's resend route lives there).
    assert.equal((await rawGet('/otp/resend', b.cookie() ?? '')).status, 200)
  })

  it('the OTP page and its POSTs stay reachable; a same-origin original URL is returned to', async () => {
    const b = app.browser()
    await b.post('/first', { user: 'alice' })
    app.clock.advance(61_000)
    assert.equal((await b.get('/otp')).status, 200)
    assert.equal((await b.get('/reports/7?tab=2')).location, '/otp')
    const ok = await b.post('/otp', { otp: await app.lastOtp() })
    assert.equal(ok.location, '/reports/7?tab=2')
    assert.deepEqual((await b.get('/reports/7?tab=2', true)).body, { path: '/reports/7?tab=2' })
  })
})

describe('requireSecondFactor() return path', () => {
  it('threat: open redirect via the remembered URL: only same-origin paths are remembered', async () => {
    const { safeReturnPath } = await import('../middleware/second-factor-options.js')
    for (const bad of ['//evil.example', 'https://evil.example', '/\\evil.example', '/\t/evil.example', 'javascript:alert(1)', '']) {
      assert.equal(safeReturnPath(bad), undefined, JSON.stringify(bad))
    }
    assert.equal(safeReturnPath('/profile?tab=1'), '/profile?tab=1')
  })
})

describe('requireSecondFactor() setup mistakes', () => {
  it('without a session middleware the request ends in a coded error', async () => {
    const app = await startApp({ session: false })
    try {
      const r = await app.browser().get('/profile', true)
      assert.equal(r.status, 500)
      assert.equal((r.body as { error: string }).error, 'ERR_OTP_INVALID_OPTION')
      assert.match((r.body as { message: string }).message, /express-session/)
      assert.equal((await app.sms()).length, 0)
    } finally {
      await app.close()
    }
  })

  it('an SMS that cannot be sent ends in a coded error, not in a challenge', async () => {
    const app = await startApp()
    try {
      // The outbox "file" is a directory: every send fails.
      await app.otp.providers.set({ name: 'outbox', className: 'FileSMSProvider', config: JSON.stringify({ file: tmpdir(), append: true }), timeout: 120 }, true)
      const b = app.browser()
      await b.post('/first', { user: 'alice' })
      const r = await b.get('/profile', true)
      assert.equal(r.status, 500)
      assert.equal((r.body as { error: string }).error, 'ERR_OTP_PROVIDER_UNAVAILABLE')
      assert.equal((await b.post('/otp', { otp: '123456' }, true)).status, 401)
    } finally {
      await app.close()
    }
  })

  it('bad options throw a coded TypeError naming the option', async () => {
    const otp = await createSmsOtp({ store: createMemoryStore(), secrets: Secrets.ephemeral() })
    try {
      const bad: Array<[unknown, unknown, RegExp]> = [
        [{}, { otpPath: '/otp' }, /^otp:/],
        [otp, undefined, /^options:/],
        [otp, { otpPath: '//evil.example' }, /^otpPath:/],
        [otp, { otpPath: 'https://evil.example/otp' }, /^otpPath:/],
        [otp, { otpPath: '/otp', successPath: '//x' }, /^successPath:/],
        [otp, { otpPath: '/otp', maxAttempts: 0 }, /^maxAttempts:/],
        [otp, { otpPath: '/otp', ttlSeconds: 1.5 }, /^ttlSeconds:/],
        [otp, { otpPath: '/otp', getUser: 'user' }, /^getUser:/],
        [otp, { otpPath: '/otp', sessionKey: 'cookie' }, /^sessionKey:/],
        [otp, { otpPath: '/otp', markerKey: 'smsOtp' }, /^sessionKey:/],
        [otp, { otpPath: '/otp', realm: '' }, /^realm:/],
      ]
      for (const [engine, options, message] of bad) {
        assert.throws(() => requireSecondFactor(engine as SmsOtp, options as GateOptions), (err: Error & { code?: string }) => {
          assert.ok(err instanceof TypeError)
          assert.equal(err.code, 'ERR_OTP_INVALID_OPTION')
          assert.match(err.message, message)
          return true
        })
      }
    } finally {
      await otp.close()
    }
  })
})
