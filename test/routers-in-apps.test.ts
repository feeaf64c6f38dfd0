/**
 * The LinOTP routers mounted inside a host application, as a new user writes it: an Express 5 app
 * that already runs `express.json()` and `express.urlencoded()` before `validateRouter()` and
 * `adminRouter()`, and one with no body parser. Real HTTP on loopback, a FileSMSProvider outbox.
 */
import assert from 'node:assert/strict'
import express from 'express'
import { mkdtemp, rm } from 'node:fs/promises'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { adminRouter, errorHandler, validateRouter } from '../middleware/index.js'
import { Secrets } from '../src/crypto/secrets.js'
import { createSmsOtp, type SmsOtp } from '../src/sms-otp.js'
import { readOutbox, type Body } from './helpers/harness.js'

const TOKEN = 'routers-in-apps-admin-token-0123'
const ALICE = '+4915112345678'

interface App {
  readonly url: string
  readonly outbox: string
  readonly otp: SmsOtp
  /** Sends a body of the given content type (`undefined`: none); returns status and JSON. */
  send(path: string, body: string | FormData | undefined, type: string | undefined, admin?: boolean): Promise<{ status: number; body: Body }>
  form(path: string, params: Record<string, string>, admin?: boolean): Promise<{ status: number; body: Body }>
  json(path: string, value: unknown, admin?: boolean): Promise<{ status: number; body: Body }>
  close(): Promise<void>
}

async function startApp(withParsers: boolean): Promise<App> {
  const dir = await mkdtemp(join(tmpdir(), 'sms-otp-apps-'))
  const outbox = join(dir, 'outbox.log')
  const otp = await createSmsOtp({ secrets: Secrets.ephemeral() })
  await otp.realms.set('example', true)
  await otp.providers.set({ name: 'outbox', className: 'FileSMSProvider', config: JSON.stringify({ file: outbox, append: true }), timeout: 120 })
  const app = express()
  if (withParsers) {
    app.use(express.json())
    app.use(express.urlencoded())
  }
  app.use(validateRouter(otp))
  app.use(adminRouter(otp, { token: TOKEN }))
  app.use(errorHandler(() => {}))
  const server: Server = await new Promise((ok) => {
    const s = app.listen(0, '127.0.0.1', () => ok(s))
  })
  const address = server.address()
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  const send: App['send'] = async (path, body, type, admin = false) => {
    const headers: Record<string, string> = admin ? { authorization: `Bearer ${TOKEN}` } : {}
    if (type !== undefined) headers['content-type'] = type
    const res = await fetch(`${url}${path}`, { method: 'POST', headers, ...(body !== undefined && { body }) })
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {
      // a non-JSON answer is asserted as text
    }
    return { status: res.status, body: parsed }
  }
  return {
    url, outbox, otp, send,
    form: (path, params, admin) => send(path, new URLSearchParams(params).toString(), 'application/x-www-form-urlencoded', admin),
    json: (path, value, admin) => send(path, JSON.stringify(value), 'application/json', admin),
    async close() {
      server.closeAllConnections()
      await new Promise((ok) => server.close(ok))
      await otp.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

for (const withParsers of [true, false]) {
  describe(`routers in an Express 5 app ${withParsers ? 'with express.json() and express.urlencoded() before them' : 'without body parsers'}`, () => {
    let app: App
    before(async () => {
      app = await startApp(withParsers)
    })
    after(() => app.close())

    it('/admin/init takes phone and the other parameters from a form body', async () => {
      const r = await app.form('/admin/init', { type: 'sms', user: 'alice', realm: 'example', phone: ALICE, pin: '1234', serial: 'LSSMAPP1' }, true)
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.equal(r.body.result.value, true)
      assert.equal(r.body.detail.serial, 'LSSMAPP1')
    })

    it('/admin/init takes a JSON body', async () => {
      const r = await app.json('/admin/init', { type: 'sms', user: 'bob', realm: 'example', phone: '+4915187654321', pin: '5678', serial: 'LSSMAPP2' }, true)
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.equal(r.body.detail.serial, 'LSSMAPP2')
    })

    it('threat: /admin/show with serial=X in the body lists only X (a lost body listed every token)', async () => {
      for (const send of [() => app.form('/admin/show', { serial: 'LSSMAPP2' }, true), () => app.json('/admin/show', { serial: 'LSSMAPP2' }, true)]) {
        const r = await send()
        assert.equal(r.status, 200)
        assert.equal(r.body.result.value.resultset.tokens, 1)
        assert.deepEqual(r.body.result.value.data.map((t: Body) => t['LinOtp.TokenSerialnumber']), ['LSSMAPP2'])
      }
    })

    it('/validate/check with the PIN (form) sends the SMS; PIN + OTP (JSON) authenticates', async () => {
      const before = (await readOutbox(app.outbox)).length
      const first = await app.form('/validate/check', { user: 'alice', pass: '1234' })
      assert.equal(first.status, 200)
      assert.equal(first.body.result.value, false)
      const txid = first.body.detail?.transactionid
      assert.match(String(txid), /^[1-9][0-9]{16}$/, JSON.stringify(first.body))
      const sent = await readOutbox(app.outbox)
      assert.equal(sent.length, before + 1)
      assert.equal(sent.at(-1)?.phone, ALICE)
      const code = /\d{6}/.exec(sent.at(-1)?.text ?? '')?.[0]
      assert.ok(code, 'the SMS carries the OTP')
      const second = await app.json('/validate/check', { user: 'alice', transactionid: txid, pass: `1234${code}` })
      assert.equal(second.status, 200)
      assert.equal(second.body.result.value, true)
    })

    const unsupported: Array<[string, () => Promise<{ status: number; body: Body }>]> = [
      ['text/plain', () => app.send('/validate/check', 'user=alice&pass=1234', 'text/plain')],
      ['multipart/form-data', () => {
        const fd = new FormData()
        fd.set('user', 'alice')
        fd.set('pass', '1234')
        return app.send('/validate/check', fd, undefined) // fetch sets multipart/form-data; boundary=…
      }],
      ['application/xml', () => app.send('/validate/check', '<user>alice</user>', 'application/xml')],
    ]
    for (const [label, send] of unsupported) {
      it(`threat: a ${label} body gets 415 ERR_OTP_UNSUPPORTED_MEDIA_TYPE and sends nothing (not a silent false)`, async () => {
        const before = (await readOutbox(app.outbox)).length
        const r = await send()
        assert.equal(r.status, 415, JSON.stringify(r.body))
        assert.equal(r.body.result.status, false)
        assert.equal(r.body.result.error.code, 'ERR_OTP_UNSUPPORTED_MEDIA_TYPE')
        assert.match(r.body.result.error.message, /send application\/x-www-form-urlencoded or application\/json/)
        assert.equal((await readOutbox(app.outbox)).length, before)
      })
    }

    it('an admin request with an unsupported body gets 415 too', async () => {
      const r = await app.send('/admin/show', 'serial=LSSMAPP2', 'text/plain', true)
      assert.equal(r.status, 415)
      assert.equal(r.body.result.error.code, 'ERR_OTP_UNSUPPORTED_MEDIA_TYPE')
    })

    it('an unsupported content type without a body is no error', async () => {
      const r = await app.send('/admin/show?serial=LSSMAPP1', undefined, 'text/plain', true)
      assert.equal(r.status, 200)
      assert.equal(r.body.result.value.resultset.tokens, 1)
    })

    const hostile: Array<[string, () => Promise<{ status: number; body: Body }>, number, RegExp]> = [
      ['a JSON array value', () => app.json('/validate/check', { user: ['alice'], pass: '1234' }), 400, /'user' must be a string/],
      ['a JSON object value', () => app.json('/validate/check', { user: { $ne: null }, pass: '1234' }), 400, /'user' must be a string/],
      ['a form parameter given twice', () => app.send('/validate/check', 'user=alice&user=bob&pass=1234', 'application/x-www-form-urlencoded'), 400, /'user' (given more than once|must be a string)/],
      ['the same parameter in query and body', () => app.form('/validate/check?user=bob', { user: 'alice', pass: '1234' }), 400, /'user' given more than once/],
      ['a __proto__ parameter', () => app.send('/validate/check', '{"__proto__":"x","user":"alice","pass":"1234"}', 'application/json'), 400, /'__proto__' is not allowed/],
      ['an over-long pass', () => app.json('/validate/check', { user: 'alice', pass: 'x'.repeat(257) }), 413, /'pass' longer than 256/],
      ['too many parameters', () => app.json('/validate/check', Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`p${i}`, 'x']))), 400, /more than 64 parameters/],
    ]
    for (const [label, send, status, message] of hostile) {
      it(`threat: ${label} is refused with ${status} and sends nothing`, async () => {
        const before = (await readOutbox(app.outbox)).length
        const r = await send()
        assert.equal(r.status, status, JSON.stringify(r.body))
        assert.equal(r.body.result.status, false)
        assert.match(r.body.result.error.message, message)
        assert.equal((await readOutbox(app.outbox)).length, before)
      })
    }
  })
}

describe('routers behind other stream consumers', () => {
  let server: Server
  let url = ''
  let otp: SmsOtp
  const errors: unknown[] = []
  before(async () => {
    otp = await createSmsOtp({ secrets: Secrets.ephemeral() })
    const app = express()
    app.use(express.text({ type: 'text/plain' }))
    app.use(express.raw({ type: 'application/json' }))
    // A middleware that reads the body for itself and leaves no req.body.
    app.use('/drained', (req, _res, next) => {
      req.resume()
      req.once('end', () => next())
    })
    app.use(validateRouter(otp))
    app.use('/drained', validateRouter(otp))
    app.use(errorHandler((err) => errors.push(err)))
    server = await new Promise((ok) => {
      const s = app.listen(0, '127.0.0.1', () => ok(s))
    })
    const address = server.address()
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise((ok) => server.close(ok))
    await otp.close()
  })
  const post = async (path: string, body: string, type: string) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': type }, body })
    return { status: res.status, body: (await res.json()) as Body }
  }

  it('threat: a text body express.text() consumed still gets 415 (not a silent false)', async () => {
    const r = await post('/validate/check', 'user=alice&pass=1234', 'text/plain')
    assert.equal(r.status, 415)
    assert.equal(r.body.result.error.code, 'ERR_OTP_UNSUPPORTED_MEDIA_TYPE')
  })

  it('threat: a JSON body express.raw() kept as bytes passes the same checks', async () => {
    const r = await post('/validate/check', '{"user":["alice"],"pass":"1234"}', 'application/json')
    assert.equal(r.status, 400)
    assert.match(r.body.result.error.message, /'user' must be a string/)
  })

  it('threat: a body consumed without a req.body is an error, not a check without parameters', async () => {
    const r = await post('/drained/validate/check', 'user=alice&pass=1234', 'application/x-www-form-urlencoded')
    assert.equal(r.status, 500)
    assert.equal(r.body.result.error.code, 'ERR_OTP_INTERNAL')
    assert.match(String(errors.at(-1)), /consumed by an earlier middleware/)
  })
})
