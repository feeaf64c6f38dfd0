/**
 * A real Express 5 app behind requireSecondFactor() with express-session, on loopback, for the
 * remembered-device and review tests: `/first` puts any user into the session (the first factor is
 * not under test), `/otp` answers, `/profile` is guarded. alice and bob own tokens. The engine
 * runs over a memory store unless one is given; SMS go to a FileSMSProvider outbox. Plus a browser
 * with a cookie jar that keeps every cookie the app sets.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express from 'express'
import session from 'express-session'
import { ManualClock } from '../../src/clock.js'
import { Secrets } from '../../src/crypto/secrets.js'
import { createSmsOtp, type SmsOtp } from '../../src/sms-otp.js'
import type { Store } from '../../src/stores/types.js'
import { requireSecondFactor, type GateOptions } from '../../middleware/index.js'
import { readOutbox } from './harness.js'

export const DEVICE_SECRET = 'a device-cookie secret of at least 32 bytes'

export interface GateApp {
  readonly otp: SmsOtp
  readonly clock: ManualClock
  readonly url: string
  lastOtp(): Promise<string>
  smsCount(): Promise<number>
  close(): Promise<void>
}

export interface GateAppOptions {
  /** @default { days: 30, secret: DEVICE_SECRET, secure: false }; `false` for none */
  readonly remember?: GateOptions['rememberDevice'] | false
  readonly store?: Store
  readonly secrets?: Secrets
  readonly clock?: ManualClock
}

export async function startGateApp(o: GateAppOptions = {}): Promise<GateApp> {
  const dir = await mkdtemp(join(tmpdir(), 'sms-otp-gate-app-'))
  const outbox = join(dir, 'outbox.log')
  const clock = o.clock ?? new ManualClock()
  const otp = await createSmsOtp({ secrets: o.secrets ?? Secrets.ephemeral(), clock, ...(o.store ? { store: o.store } : {}) })
  await otp.providers.set({ name: 'outbox', className: 'FileSMSProvider', config: JSON.stringify({ file: outbox, append: true }), timeout: 120 }, true)
  await otp.tokens.init({ user: 'alice', phone: '+4915112345678', pin: '1234' })
  await otp.tokens.init({ user: 'bob', phone: '+4915187654321', pin: '5678' })
  const remember = o.remember === undefined ? { days: 30, secret: DEVICE_SECRET, secure: false } : o.remember
  const e = express()
  e.use(session({ secret: 'test-session-secret', resave: false, saveUninitialized: false }))
  e.use(express.urlencoded({ extended: false }))
  const gate = requireSecondFactor(otp, { otpPath: '/otp', getUser: (req) => (req.session as unknown as { user?: string }).user, ...(remember ? { rememberDevice: remember } : {}) })
  e.post('/first', (req, res) => {
    (req.session as unknown as { user?: string }).user = (req.body as { user: string }).user
    res.json({ ok: true })
  })
  e.get('/otp', (_req, res) => {
    res.send('otp page')
  })
  e.post('/otp', gate.verify)
  e.get('/profile', gate, (req, res) => {
    res.json({ profile: (req.session as unknown as { user: string }).user })
  })
  // Errors (the gate's 403 when the user has no usable token) as their status.
  e.use((err: { status?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(err.status ?? 500).json({ error: true })
  })
  const server: Server = await new Promise((ok) => {
    const s = e.listen(0, '127.0.0.1', () => ok(s))
  })
  const sms = () => readOutbox(outbox)
  return {
    otp,
    clock,
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    lastOtp: async () => /\d{6}/.exec((await sms()).at(-1)?.text ?? '')?.[0] ?? '',
    smsCount: async () => (await sms()).length,
    async close() {
      server.closeAllConnections()
      await new Promise((ok) => server.close(ok))
      await otp.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** A browser with a cookie jar (name → value), as many cookies as the app sets. */
export function cookieBrowser(a: GateApp) {
  const jar = new Map<string, string>()
  const call = async (method: string, path: string, form?: Record<string, string>) => {
    const headers: Record<string, string> = { accept: 'text/html' }
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded'
    const res = await fetch(a.url + path, { method, redirect: 'manual', headers, ...(form ? { body: new URLSearchParams(form).toString() } : {}) })
    for (const c of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = c.split(';')
      const eq = pair.indexOf('=')
      jar.set(pair.slice(0, eq), pair.slice(eq + 1))
      if (attrs.some((x) => /max-age=0|expires=thu, 01 jan 1970/i.test(x))) jar.delete(pair.slice(0, eq))
    }
    await res.text()
    return { status: res.status, location: res.headers.get('location'), setCookies: res.headers.getSetCookie() }
  }
  return {
    jar,
    get: (path: string) => call('GET', path),
    post: (path: string, form: Record<string, string>) => call('POST', path, form),
    /** Password, SMS, OTP: a full login, optionally remembering the device. */
    async login(user: string, remember: boolean) {
      await call('POST', '/first', { user })
      assert.equal((await call('GET', '/profile')).location, '/otp')
      const done = await call('POST', '/otp', { otp: await a.lastOtp(), ...(remember ? { remember: 'on' } : {}) })
      assert.equal(done.status, 303)
      if (remember) assert.ok(jar.has('smsOtpDevice'), 'the device cookie is set')
      return done
    },
  }
}
