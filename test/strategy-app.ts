/**
 * A real Express 5 app with real passport 0.7 (and express-session when asked) around one
 * SmsOtpStrategy, on a loopback port, with an engine over a memory store and a FileSMSProvider
 * outbox. Requests go over real HTTP with a tiny cookie jar per browser.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express from 'express'
import session from 'express-session'
import passport from 'passport'
import { Strategy as LocalStrategy } from 'passport-local'
import { ManualClock } from '../src/clock.js'
import { Secrets } from '../src/crypto/secrets.js'
import { createSmsOtp, type SmsOtp } from '../src/sms-otp.js'
import { createMemoryStore } from '../src/stores/memory.js'
import type { Store } from '../src/stores/types.js'
import { SmsOtpStrategy } from '../strategies/index.js'
import type { SmsOtpStrategyOptions } from '../strategies/index.js'
import { readOutbox, type Body } from './helpers/harness.js'

export interface AppOptions {
  /** Strategy options besides `otp`. */
  readonly strategy?: Omit<SmsOtpStrategyOptions, 'otp'>
  /** Mount express-session. @default true */
  readonly session?: boolean
  /** Let `/login` use passport's own answers (redirect, 401) instead of a JSON callback. */
  readonly plain?: boolean
}

export interface Browser {
  post(path: string, form: Record<string, string | string[]>, json?: boolean): Promise<{ status: number; body: Body; location: string | null }>
  get(path: string): Promise<{ status: number; body: Body }>
  /** POST raw bytes (invalid UTF-8 and other things a form cannot express). */
  raw(path: string, contentType: string, body: Buffer): Promise<{ status: number; body: Body }>
  readonly cookie: () => string | undefined
}

export interface StrategyApp {
  readonly otp: SmsOtp
  readonly clock: ManualClock
  /** Makes every store call throw until set back to false. */
  broken: boolean
  browser(): Browser
  sms(): Promise<Array<{ phone: string; text: string }>>
  lastOtp(): Promise<string>
  failcount(): Promise<number>
  close(): Promise<void>
}

/** A store whose token and challenge calls throw while `flag.broken` is set. */
function breakable(inner: Store, flag: { broken: boolean }): Store {
  const wrap = <T extends object>(obj: T): T => new Proxy(obj, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver) as unknown
      if (typeof v !== 'function') return v
      return (...args: unknown[]) => {
        if (flag.broken) throw new Error('store is down')
        return (v as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { tokens: wrap(inner.tokens), challenges: wrap(inner.challenges), settings: inner.settings, open: () => inner.open(), close: () => inner.close() }
}

export async function startApp(options: AppOptions = {}): Promise<StrategyApp> {
  const dir = await mkdtemp(join(tmpdir(), 'sms-otp-strategy-'))
  const outbox = join(dir, 'outbox.log')
  const clock = new ManualClock()
  const flag = { broken: false }
  const otp = await createSmsOtp({ store: breakable(createMemoryStore(), flag), secrets: Secrets.ephemeral(), clock })
  await otp.realms.set('example', true)
  await otp.providers.set({ name: 'outbox', className: 'FileSMSProvider', config: JSON.stringify({ file: outbox, append: true }), timeout: 120 }, true)
  await otp.tokens.init({ user: 'alice', phone: '+4915112345678', pin: '1234', serial: 'LSSM0001' })

  const pp = new passport.Passport()
  pp.serializeUser((user, done) => done(null, JSON.stringify(user)))
  pp.deserializeUser((raw: string, done) => done(null, JSON.parse(raw) as Express.User))
  const strategy = new SmsOtpStrategy({ otp, ...options.strategy })
  pp.use(strategy)
  // The first factor of the external mode: passport-local with a fixed directory.
  pp.use(new LocalStrategy((username, password, done) => done(null, password === `${username}-password` ? { username } : false)))

  const app = express()
  if (options.session !== false) {
    app.use(session({ secret: 'test-session-secret', resave: false, saveUninitialized: false }))
    app.use(pp.session())
  }
  app.use(express.urlencoded({ extended: false, limit: '2mb' }))
  app.use(express.json({ limit: '2mb' }))
  const name = options.strategy?.name ?? 'sms-otp'
  app.post('/first', pp.authenticate('local', { failWithError: true }), (_req, res) => {
    res.json({ ok: true })
  })
  // Plain: passport answers itself (redirect, bare 401) and logs in through the session when there
  // is one, so passport 0.7 regenerates the session id on success.
  if (options.plain) app.post('/login', pp.authenticate(name, { session: options.session !== false }), (req, res) => {
    res.json({ ok: true, user: req.user })
  })
  else app.post('/login', (req, res, next) => {
    pp.authenticate(name, { session: false }, (err: (Error & { code?: string }) | null, user: Express.User | false, info: unknown, status?: number) => {
      if (err) return res.status(500).json({ error: err.code, message: err.message })
      if (!user) return res.status(status ?? 401).json(info ?? {})
      res.json({ ok: true, user })
    })(req, res, next)
  })
  app.get('/challenge', (req, res) => {
    res.json({ challenge: strategy.challenge(req, typeof req.query.handle === 'string' ? req.query.handle : undefined) ?? null })
  })
  app.get('/state', (req, res) => {
    res.json({ pending: (req as unknown as { session?: Record<string, unknown> }).session?.smsOtp ?? null })
  })
  const server: Server = await new Promise((ok) => {
    const s = app.listen(0, '127.0.0.1', () => ok(s))
  })
  const address = server.address()
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`

  const browser = (): Browser => {
    let cookie: string | undefined
    const remember = (res: Response) => {
      const set = res.headers.get('set-cookie')
      if (set) cookie = set.split(';')[0]
    }
    const parse = async (res: Response) => {
      const text = await res.text()
      try {
        return JSON.parse(text) as Body
      } catch {
        return text
      }
    }
    return {
      cookie: () => cookie,
      async post(path, form, json = false) {
        const body = json ? JSON.stringify(form) : new URLSearchParams(Object.entries(form).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x): [string, string] => [k, x]) : [[k, v] as [string, string]]))).toString()
        const res = await fetch(url + path, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
          body,
        })
        remember(res)
        return { status: res.status, body: await parse(res), location: res.headers.get('location') }
      },
      async raw(path, contentType, body) {
        const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': contentType, ...(cookie ? { cookie } : {}) }, body })
        remember(res)
        return { status: res.status, body: await parse(res) }
      },
      async get(path) {
        const res = await fetch(url + path, { headers: cookie ? { cookie } : {} })
        remember(res)
        return { status: res.status, body: await parse(res) }
      },
    }
  }
  const sms = () => readOutbox(outbox)
  return {
    otp, clock, browser, sms,
    get broken() {
      return flag.broken
    },
    set broken(v: boolean) {
      flag.broken = v
    },
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
