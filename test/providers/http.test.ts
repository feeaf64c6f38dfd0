import type { TLSSocket } from 'node:tls'
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { maskPhone } from '../../src/phone/mask.js'
import { silentLogger, type Logger } from '../../src/logger.js'
import { createDispatcher, httpRequest } from '../../src/providers/net/http-client.js'
import { digestAuthorization, parseAuthChallenges } from '../../src/providers/net/http-digest.js'
import { HttpSmsProviderClass, type HttpOptions } from '../../src/providers/http/provider.js'
import type { SendResult, SmsMessage, SmsProvider } from '../../src/providers/types.js'
import { startGateway, type Gateway, type GatewayBehaviour } from '../helpers/gateway.js'
import { startProxy, type ForwardProxy } from '../helpers/proxy.js'
import { createTestPki, type TestPki } from '../helpers/tls.js'
import { assertConfigError, assertReadTimeout, freePort } from '../helpers/assertions.js'

const PHONE = '+491701234567'
const TEXT = 'Your OTP: 123456 & more = äöü ß/?#+%'
const MSG: SmsMessage = { phone: PHONE, text: TEXT, transactionId: 'tx-1' }

const providers: SmsProvider[] = []
let gw: Gateway

function parse(config: Record<string, unknown>, warnings: string[] = []): HttpOptions {
  return HttpSmsProviderClass.parse(config, (w) => warnings.push(w))
}

function make(config: Record<string, unknown>, warnings: string[] = []): SmsProvider {
  const p = HttpSmsProviderClass.create(parse(config, warnings), { name: 'test', logger: silentLogger })
  providers.push(p)
  return p
}

function send(p: SmsProvider, signal: AbortSignal = new AbortController().signal, msg: SmsMessage = MSG): Promise<SendResult> {
  return p.send(msg, signal)
}

/** Sends once against the shared gateway with the given behaviour and config. */
async function sendWith(behaviour: GatewayBehaviour, config: Record<string, unknown>): Promise<SendResult> {
  gw.reset(behaviour)
  return send(make({ URL: `${gw.url}/send`, ...config }))
}



before(async () => {
  gw = await startGateway()
})

after(async () => {
  await Promise.all(providers.map((p) => p.close?.()))
  await gw.close()
})

describe('HttpSMSProvider request encoding', () => {
  it('GET puts UTF-8 parameters into the query, appended to the existing one', async () => {
    gw.reset({ body: 'OK' })
    const r = await send(make({ URL: `${gw.url}/api/send?account=acme&x=1`, HTTP_Method: 'get', RETURN_SUCCESS: 'OK' }))
    assert.deepEqual(r, { status: 'sent' })
    assert.equal(gw.requests.length, 1)
    const req = gw.requests[0]!
    assert.equal(req.method, 'GET')
    assert.equal(req.path, '/api/send')
    assert.deepEqual(req.query, [['account', 'acme'], ['x', '1'], ['phone', PHONE], ['sms', TEXT]])
    assert.ok(req.rawQuery.startsWith('account=acme&x=1&phone=%2B491701234567&sms='), req.rawQuery)
    assert.ok(req.rawQuery.includes('%C3%A4%C3%B6%C3%BC'), 'umlauts are UTF-8 percent-encoded')
    assert.ok(!req.rawQuery.includes('&more'), '& inside the text is encoded')
    assert.equal(req.body, '')
  })

  it('POST (the default) sends an application/x-www-form-urlencoded body with default keys', async () => {
    gw.reset()
    const r = await send(make({ URL: `${gw.url}/send?fixed=1` }))
    assert.deepEqual(r, { status: 'sent' })
    const req = gw.requests[0]!
    assert.equal(req.method, 'POST')
    assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded')
    assert.deepEqual(req.form, [['phone', PHONE], ['sms', TEXT]])
    assert.deepEqual(req.query, [['fixed', '1']])
  })

  it('custom keys, PARAMETER merged after phone and text (PARAMETER wins on a clash)', async () => {
    const warnings: string[] = []
    gw.reset()
    const p = make(
      { URL: `${gw.url}/send`, SMS_PHONENUMBER_KEY: 'to', SMS_TEXT_KEY: 'text', PARAMETER: { from: 'ACME', text: 'fixed', n: 5 } },
      warnings,
    )
    assert.deepEqual(await send(p), { status: 'sent' })
    assert.deepEqual(gw.requests[0]!.form, [['to', PHONE], ['text', 'fixed'], ['from', 'ACME'], ['n', '5']])
    assert.ok(warnings.some((w) => w.includes('PARAMETER.text')))
  })

  it('HEADERS are sent; Content-Type from HEADERS is kept', async () => {
    gw.reset()
    await send(make({ URL: `${gw.url}/send`, HEADERS: { 'X-Api-Key': 'k-1', 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8' } }))
    const req = gw.requests[0]!
    assert.equal(req.headers['x-api-key'], 'k-1')
    assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded; charset=utf-8')
    assert.deepEqual(req.form, [['phone', PHONE], ['sms', TEXT]])
  })

  it('two sends reuse one pooled keep-alive socket', async () => {
    gw.reset()
    const p = make({ URL: `${gw.url}/send` })
    assert.deepEqual(await send(p), { status: 'sent' })
    // undici re-validates an idle socket in a setImmediate before reuse; sends are never
    // back-to-back within one tick in production.
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(await send(p), { status: 'sent' })
    assert.equal(gw.requests.length, 2)
    assert.ok(gw.requests[0]!.socketId > 0)
    assert.equal(gw.requests[0]!.socketId, gw.requests[1]!.socketId)
  })
})

describe('HttpSMSProvider authentication', () => {
  const basic = { username: 'alice', password: 'pä:ss' }

  it('basic auth with USERNAME/PASSWORD', async () => {
    const r = await sendWith({ basic }, { USERNAME: 'alice', PASSWORD: 'pä:ss', RETURN_SUCCESS: 'OK' })
    assert.deepEqual(r, { status: 'sent' })
    assert.equal(gw.requests.length, 1)
    assert.equal(gw.requests[0]!.auth, 'ok')
    assert.equal(gw.requests[0]!.headers.authorization, `Basic ${Buffer.from('alice:pä:ss').toString('base64')}`)
  })

  it('basic auth with a wrong password: the unmatched rule and the 401 make it unavailable (fail over)', async () => {
    const r = await sendWith({ basic }, { USERNAME: 'alice', PASSWORD: 'nope', AUTH_TYPE: ' Basic ', RETURN_SUCCESS: 'OK' })
    assert.deepEqual(r, { status: 'unavailable', reason: 'gateway cannot take messages (HTTP 401)' })
    assert.equal(gw.requests[0]!.auth, 'wrong')
  })

  it('credentials from the URL userinfo (percent-decoded) when USERNAME/PASSWORD are absent', async () => {
    gw.reset({ basic: { username: 'bob', password: 's:cret' } })
    const r = await send(make({ URL: `http://bob:s%3Acret@127.0.0.1:${gw.port}/send` }))
    assert.deepEqual(r, { status: 'sent' })
    assert.equal(gw.requests[0]!.auth, 'ok')
  })

  it('configured USERNAME/PASSWORD win over URL userinfo, which is stripped', async () => {
    gw.reset({ basic })
    const r = await send(make({ URL: `http://bob:x@127.0.0.1:${gw.port}/send`, USERNAME: 'alice', PASSWORD: 'pä:ss' }))
    assert.deepEqual(r, { status: 'sent' })
    assert.equal(gw.requests[0]!.auth, 'ok')
  })

  it('USERNAME without PASSWORD sends no credentials (LinOTP) and warns', async () => {
    const warnings: string[] = []
    gw.reset({ basic })
    const r = await send(make({ URL: `${gw.url}/send`, USERNAME: 'alice' }, warnings))
    assert.equal(r.status, 'unavailable', 'the 401 fails over')
    assert.equal(gw.requests[0]!.auth, 'missing')
    assert.ok(warnings.some((w) => w.includes('USERNAME without PASSWORD')))
  })

  const variants: Array<{ algorithm?: string; qop?: 'auth' | 'none'; method: string }> = [
    { algorithm: 'MD5', method: 'GET' },
    { algorithm: 'SHA-256', method: 'POST' },
    { algorithm: 'MD5-sess', method: 'POST' },
    { algorithm: 'SHA-256-sess', method: 'GET' },
    { method: 'POST' }, // no algorithm announced → MD5
    { algorithm: 'MD5', qop: 'none', method: 'GET' }, // RFC 2069 form
  ]
  for (const v of variants) {
    it(`digest auth ${v.algorithm ?? '(default)'} qop=${v.qop ?? 'auth'} ${v.method}`, async () => {
      const digest = { username: 'carol', password: 'Circle of Life', realm: 'gw@example', opaque: 'op/aque', ...v }
      const r = await sendWith({ digest }, { USERNAME: 'carol', PASSWORD: 'Circle of Life', AUTH_TYPE: 'DIGEST', HTTP_Method: v.method })
      assert.deepEqual(r, { status: 'sent' })
      assert.deepEqual(gw.requests.map((q) => q.auth), ['missing', 'ok'])
      const second = gw.requests[1]!
      if (v.method === 'GET') assert.deepEqual(second.query, [['phone', PHONE], ['sms', TEXT]])
      else assert.deepEqual(second.form, [['phone', PHONE], ['sms', TEXT]])
      assert.equal(gw.requests[0]!.socketId, second.socketId, 'the retry reuses the socket')
    })
  }

  it('digest with a wrong password retries exactly once and fails over', async () => {
    const digest = { username: 'carol', password: 'right', algorithm: 'SHA-256' }
    const r = await sendWith({ digest }, { USERNAME: 'carol', PASSWORD: 'wrong', AUTH_TYPE: 'digest' })
    assert.deepEqual(r, { status: 'unavailable', reason: 'gateway cannot take messages (HTTP 401)' })
    assert.deepEqual(gw.requests.map((q) => q.auth), ['missing', 'wrong'])
  })

  it('digest response matches the RFC 7616 §3.9.1 examples (MD5 and SHA-256)', () => {
    const base = {
      username: 'Mufasa',
      password: 'Circle of Life',
      method: 'GET',
      uri: '/dir/index.html',
      body: '',
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    }
    const header = (alg: string) =>
      `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${alg}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`
    const md5 = digestAuthorization(parseAuthChallenges(header('MD5'))[0]!, base)
    assert.match(md5 ?? '', /response="8ca523f5e9506fed4657c9700eebdbec"/)
    assert.match(md5 ?? '', /qop=auth, nc=00000001, cnonce="f2\/wE4q74E6zIJEtWaHKaf5wv\/H5QzzpXusqGemxURZJ"/)
    assert.match(md5 ?? '', /opaque="FQhe\/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"/)
    const sha = digestAuthorization(parseAuthChallenges(header('SHA-256'))[0]!, base)
    assert.match(sha ?? '', /response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"/)
  })

  it('parses several challenges in one WWW-Authenticate value', () => {
    const cs = parseAuthChallenges('Basic realm="a, b", Digest realm="r", nonce="n\\"x", qop="auth,auth-int"')
    assert.deepEqual(cs.map((c) => c.scheme), ['basic', 'digest'])
    assert.equal(cs[0]!.params.get('realm'), 'a, b')
    assert.equal(cs[1]!.params.get('nonce'), 'n"x')
    assert.equal(cs[1]!.params.get('qop'), 'auth,auth-int')
  })
})

describe('HttpSMSProvider reply rules', () => {
  const cases: Array<[string, Record<string, unknown>, GatewayBehaviour, SendResult]> = [
    ['SUCCESS_REGEX matches anywhere', { RETURN_SUCCESS_REGEX: '(result:0|success)' }, { body: 'id=5 result:0' }, { status: 'sent' }],
    ['SUCCESS_REGEX no match', { RETURN_SUCCESS_REGEX: '(result:0|success)' }, { body: 'result:1' },
      { status: 'rejected', reason: 'gateway reply did not match RETURN_SUCCESS_REGEX (HTTP 200)' }],
    ['SUCCESS_REGEX with Python (?i)', { RETURN_SUCCESS_REGEX: '(?i)^ok' }, { body: 'Ok 17' }, { status: 'sent' }],
    ['FAIL_REGEX matches', { RETURN_FAIL_REGEX: 'ERR\\d' }, { body: 'x ERR5' },
      { status: 'rejected', reason: 'gateway reply matched RETURN_FAIL_REGEX (HTTP 200)' }],
    ['FAIL_REGEX no match', { RETURN_FAIL_REGEX: 'ERR\\d' }, { body: 'OK ERR' }, { status: 'sent' }],
    ['RETURN_SUCCESS prefix', { RETURN_SUCCESS: 'ID' }, { body: 'ID: 1234' }, { status: 'sent' }],
    ['RETURN_SUCCESS is a prefix, not a search', { RETURN_SUCCESS: 'ID' }, { body: ' ID: 1234' },
      { status: 'rejected', reason: 'gateway reply did not match RETURN_SUCCESS (HTTP 200)' }],
    ['empty RETURN_SUCCESS always succeeds', { RETURN_SUCCESS: '' }, { body: 'anything', status: 500 }, { status: 'sent' }],
    ['RETURN_FAIL prefix', { RETURN_FAIL: 'ERR' }, { body: 'ERR: bad number' },
      { status: 'rejected', reason: 'gateway reply matched RETURN_FAIL (HTTP 200)' }],
    ['RETURN_FAIL not at the start', { RETURN_FAIL: 'ERR' }, { body: 'OK ERR' }, { status: 'sent' }],
    ['with a rule the HTTP status is ignored', { RETURN_SUCCESS: 'OK' }, { body: 'OK', status: 500 }, { status: 'sent' }],
    ['precedence: SUCCESS_REGEX over FAIL_REGEX (both match)', { RETURN_SUCCESS_REGEX: 'OK', RETURN_FAIL_REGEX: 'OK' }, { body: 'OK' },
      { status: 'sent' }],
    ['precedence: SUCCESS_REGEX decides alone (neither matches)', { RETURN_SUCCESS_REGEX: 'OK', RETURN_FAIL_REGEX: 'ERR' }, { body: 'xx' },
      { status: 'rejected', reason: 'gateway reply did not match RETURN_SUCCESS_REGEX (HTTP 200)' }],
    ['precedence: FAIL_REGEX over RETURN_SUCCESS', { RETURN_FAIL_REGEX: 'ERR', RETURN_SUCCESS: 'XYZ' }, { body: 'OK' }, { status: 'sent' }],
    ['precedence: RETURN_SUCCESS over RETURN_FAIL', { RETURN_SUCCESS: 'OK', RETURN_FAIL: 'OK' }, { body: 'OK' }, { status: 'sent' }],
    ['precedence: regex over prefix', { RETURN_FAIL: 'OK', RETURN_SUCCESS_REGEX: 'OK' }, { body: 'OK' }, { status: 'sent' }],
    ['no rule: HTTP 200 is success', {}, { body: 'whatever' }, { status: 'sent' }],
    ['no rule: HTTP 500 is unavailable (fail over)', {}, { body: 'OK', status: 500 },
      { status: 'unavailable', reason: 'gateway cannot take messages (HTTP 500)' }],
    ['no rule: HTTP 429 is unavailable (fail over)', {}, { body: 'slow down', status: 429 },
      { status: 'unavailable', reason: 'gateway cannot take messages (HTTP 429)' }],
    ['RETURN_SUCCESS unmatched on a 503 error page: unavailable, not rejected', { RETURN_SUCCESS: 'ID' }, { body: '<html>Service Unavailable</html>', status: 503 },
      { status: 'unavailable', reason: 'gateway cannot take messages (HTTP 503)' }],
    ['RETURN_FAIL unmatched on a 503 error page: unavailable, not a silent "sent"', { RETURN_FAIL: 'ERR' }, { body: '<html>Service Unavailable</html>', status: 503 },
      { status: 'unavailable', reason: 'gateway cannot take messages (HTTP 503)' }],
    ['RETURN_FAIL_REGEX unmatched on a 502: unavailable', { RETURN_FAIL_REGEX: 'ERR' }, { body: 'Bad Gateway', status: 502 },
      { status: 'unavailable', reason: 'gateway cannot take messages (HTTP 502)' }],
    ['RETURN_SUCCESS_REGEX matched decides even on a 503', { RETURN_SUCCESS_REGEX: 'queued' }, { body: 'queued 17', status: 503 }, { status: 'sent' }],
    ['no rule: HTTP 400 is rejected', {}, { body: 'OK', status: 400 },
      { status: 'rejected', reason: 'gateway answered with an error status (HTTP 400)' }],
    ['unknown RETURN_FAILED is ignored', { RETURN_FAILED: 'FAILED' }, { body: 'FAILED' }, { status: 'sent' }],
    ['a redirect is not followed', { RETURN_SUCCESS: '' }, { status: 302, headers: { location: '/elsewhere' } },
      { status: 'rejected', reason: 'gateway answered with a redirect (HTTP 302); redirects are not followed, configure the final URL' }],
  ]
  for (const [name, config, behaviour, expected] of cases) {
    it(name, async () => {
      assert.deepEqual(await sendWith(behaviour, config), expected)
      assert.equal(gw.requests.length, 1)
    })
  }

  it('warns at parse when no RETURN_* rule is set, and for unknown keys', () => {
    const warnings: string[] = []
    parse({ URL: 'http://127.0.0.1/x', RETURN_FAILED: 'x', MSISDN: 'True', SUPPRESS_PREFIX: '+', PREFERRED_HTTPLIB: 'urllib' }, warnings)
    assert.ok(warnings.some((w) => w.startsWith('no RETURN_* rule configured')))
    assert.ok(warnings.some((w) => w.includes("'RETURN_FAILED'")))
    assert.ok(!warnings.some((w) => /MSISDN|SUPPRESS_PREFIX|PREFERRED_HTTPLIB/.test(w)), warnings.join('; '))
    const w2: string[] = []
    parse({ URL: 'http://127.0.0.1/x', RETURN_SUCCESS: 'OK', PREFERRED_HTTPLIB: 'curl' }, w2)
    assert.deepEqual(w2, ["PREFERRED_HTTPLIB 'curl' is unknown (and ignored: one HTTP client is used)"])
  })

  it('reasons never contain the reply body (gateways echo the phone and the text)', async () => {
    const echo = `ERROR phone=${PHONE} sms=${TEXT}`
    for (const config of [{ RETURN_SUCCESS: 'OK' }, { RETURN_FAIL: 'ERROR' }, { RETURN_FAIL_REGEX: 'ERR' }, {}]) {
      const r = await sendWith({ body: echo, status: 400 }, config)
      assert.equal(r.status, 'rejected')
      const reason = r.status === 'rejected' ? r.reason : ''
      assert.ok(!reason.includes(PHONE) && !reason.includes('123456') && !reason.includes('ERROR'), reason)
    }
  })

  it('logs neither the SMS text, the OTP nor the full phone number', async () => {
    const lines: string[] = []
    const logger: Logger = {
      debug: (o, m) => lines.push(JSON.stringify([o, m])),
      info: (o, m) => lines.push(JSON.stringify([o, m])),
      warn: (o, m) => lines.push(JSON.stringify([o, m])),
      error: (o, m) => lines.push(JSON.stringify([o, m])),
      child: () => logger,
    }
    gw.reset({ body: `OK ${PHONE} ${TEXT}` })
    const p = HttpSmsProviderClass.create(parse({ URL: `${gw.url}/send`, HTTP_Method: 'GET', RETURN_SUCCESS: 'OK' }), { name: 't', logger })
    providers.push(p)
    assert.deepEqual(await send(p), { status: 'sent' })
    const port = await freePort()
    const q = HttpSmsProviderClass.create(parse({ URL: `http://127.0.0.1:${port}/send?x=1`, HTTP_Method: 'GET' }), { name: 't', logger })
    providers.push(q)
    assert.equal((await send(q)).status, 'unavailable')
    assert.equal(lines.length, 2)
    for (const line of lines) {
      assert.ok(!line.includes('123456') && !line.includes('1701234567') && !line.includes('OTP'), line)
    }
    assert.ok(lines[0]!.includes(`"phone":"${maskPhone(PHONE)}"`), lines[0])
  })

  it('decodes the reply with the charset of Content-Type', async () => {
    const r = await sendWith(
      { body: 'Gr\u00f6\u00dfe', headers: { 'content-type': 'text/plain; charset=utf-8' } },
      { RETURN_SUCCESS: 'Größe' },
    )
    assert.deepEqual(r, { status: 'sent' })
  })

  it('bounds the reply read to 64 KiB', async () => {
    gw.reset({ body: `${'a'.repeat(70 * 1024)}TAIL` })
    const dispatcher = createDispatcher({ connectTimeoutMs: 2000, readTimeoutMs: 2000 })
    try {
      const res = await httpRequest(dispatcher, { method: 'GET', url: `${gw.url}/big` })
      assert.equal(res.status, 200)
      assert.equal(res.truncated, true)
      assert.equal(res.bodyText.length, 64 * 1024)
    } finally {
      await dispatcher.close()
    }
    assert.deepEqual(await sendWith({ body: `${'a'.repeat(70 * 1024)}TAIL` }, { RETURN_FAIL_REGEX: 'TAIL' }), { status: 'sent' })
  })
})

describe('HttpSMSProvider network failures', () => {
  it('a hanging gateway is unavailable within the configured timeout', async () => {
    // It answers 200 OK after 2.5 s: past connect + read (0.6 s), well inside the default 5 s + 5 s.
    // Had the configured timeout not applied, that late OK would make this a send.
    gw.reset({ delayMs: 2500 })
    const p = make({ URL: `${gw.url}/send`, timeout: 0.3 })
    const started = Date.now()
    const r = await send(p)
    const elapsed = Date.now() - started
    assertReadTimeout(r)
    assert.equal(await gw.requests[0]?.ended, 'aborted', 'the client hung up before the gateway answered')
    // The lower bound proves it waited; the upper one only catches a hang.
    assert.ok(elapsed >= 250 && elapsed < 10_000, `took ${elapsed} ms`)
  })

  it('the "connect,read" pair form and TIMEOUT are accepted', async () => {
    gw.reset({ delayMs: 2500 }) // a late 200 OK: a send had TIMEOUT been ignored (see above)
    const started = Date.now()
    const r = await send(make({ URL: `${gw.url}/send`, TIMEOUT: '0.2,0.3' }))
    assertReadTimeout(r)
    assert.equal(await gw.requests[0]?.ended, 'aborted')
    assert.ok(Date.now() - started < 10_000, 'hang guard')
    const pair = parse({ URL: 'http://h/', TIMEOUT: '0.2,0.3' })
    assert.deepEqual([pair.connectTimeoutMs, pair.readTimeoutMs], [200, 300])
    const o = parse({ URL: 'http://h/', timeout: '(3, 30)' })
    assert.equal(o.connectTimeoutMs, 3000)
    assert.equal(o.readTimeoutMs, 30000)
    assert.equal(parse({ URL: 'http://h/' }).readTimeoutMs, 5000)
    assert.equal(parse({ URL: 'http://h/', timeout: 0 }).readTimeoutMs, 5000)
  })

  it('connection refused is unavailable', async () => {
    const port = await freePort()
    const r = await send(make({ URL: `http://127.0.0.1:${port}/send` }))
    assert.equal(r.status, 'unavailable')
    assert.match(r.status === 'unavailable' ? r.reason : '', /ECONNREFUSED/)
  })

  it('an abort through the signal is unavailable, promptly', async () => {
    // The gateway would answer OK after 3 s and the timeouts are 30 s: an abort that is not
    // acted on shows as a send, an 'answered' exchange or a wait past the hang guard.
    gw.reset({ delayMs: 3000 })
    const p = make({ URL: `${gw.url}/send`, timeout: 30 })
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 50)
    const started = Date.now()
    assert.deepEqual(await send(p, ac.signal), { status: 'unavailable', reason: 'request aborted' })
    assert.equal(await gw.requests[0]?.ended, 'aborted', 'the client hung up before the gateway answered')
    assert.ok(Date.now() - started < 10_000, 'hang guard')
    assert.deepEqual(await send(p, AbortSignal.abort()), { status: 'unavailable', reason: 'request aborted' })
  })

  it('close() waits 2 s for a hanging exchange, then aborts it (a settings change never waits out a gateway)', async () => {
    gw.reset({ hang: true })
    const p = make({ URL: `${gw.url}/send`, timeout: 30 })
    const pending = send(p)
    await new Promise((r) => setTimeout(r, 100)) // the request is at the gateway
    const started = Date.now()
    await p.close?.()
    const closedAfter = Date.now() - started
    // The lower bound proves the grace; the upper one catches a close that waits out the 30 s timeout.
    assert.ok(closedAfter >= 1900 && closedAfter < 10_000, `close took ${closedAfter} ms`)
    const r = await pending
    assert.equal(r.status, 'unavailable')
    assert.equal(await gw.requests[0]?.ended, 'aborted')
    assert.ok(Date.now() - started < 10_000, 'the hanging send ended with the close, not after its 30 s timeout')
  })

  it('close() is idempotent; a send after close is unavailable', async () => {
    gw.reset()
    const p = make({ URL: `${gw.url}/send` })
    assert.deepEqual(await send(p), { status: 'sent' })
    await p.close?.()
    await p.close?.()
    const r = await send(p)
    assert.equal(r.status, 'unavailable')
  })
})

describe('HttpSMSProvider through a forward proxy', () => {
  let proxy: ForwardProxy
  let authProxy: ForwardProxy
  before(async () => {
    proxy = await startProxy()
    authProxy = await startProxy({ username: 'pu', password: 'p@ss' })
  })
  after(async () => {
    await proxy.close()
    await authProxy.close()
  })

  it('an http target goes through the proxy in absolute form', async () => {
    gw.reset()
    proxy.proxied.length = 0
    const r = await send(make({ URL: `${gw.url}/send?a=1`, PROXY: proxy.url, HTTP_Method: 'GET' }))
    assert.deepEqual(r, { status: 'sent' })
    assert.equal(proxy.proxied.length, 1)
    assert.equal(proxy.proxied[0]!.kind, 'absolute')
    assert.ok(proxy.proxied[0]!.target.startsWith(`${gw.url}/send?a=1&phone=`))
    assert.deepEqual(gw.requests[0]!.query, [['a', '1'], ['phone', PHONE], ['sms', TEXT]])
  })

  it('proxy credentials from the proxy URL become Proxy-Authorization: Basic', async () => {
    gw.reset()
    authProxy.proxied.length = 0
    const r = await send(make({ URL: `${gw.url}/send`, PROXY: `http://pu:p%40ss@127.0.0.1:${authProxy.port}` }))
    assert.deepEqual(r, { status: 'sent' })
    assert.equal(authProxy.proxied[0]!.proxyAuthorization, `Basic ${Buffer.from('pu:p@ss').toString('base64')}`)
    assert.deepEqual(gw.requests[0]!.form, [['phone', PHONE], ['sms', TEXT]])
    assert.equal(gw.requests[0]!.headers['proxy-authorization'], undefined)
  })

  it('wrong proxy credentials are unavailable (fail over)', async () => {
    gw.reset()
    const r = await send(make({ URL: `${gw.url}/send`, PROXY: `http://pu:bad@127.0.0.1:${authProxy.port}` }))
    assert.deepEqual(r, { status: 'unavailable', reason: 'proxy refused the request (HTTP 407)' })
    assert.equal(gw.requests.length, 0)
  })

  it('a scheme map picks the proxy by the target scheme', async () => {
    gw.reset()
    proxy.proxied.length = 0
    assert.deepEqual(await send(make({ URL: `${gw.url}/send`, PROXY: { https: proxy.url } })), { status: 'sent' })
    assert.equal(proxy.proxied.length, 0, 'http target with only an https proxy goes direct')
    assert.deepEqual(await send(make({ URL: `${gw.url}/send`, PROXY: { http: proxy.url, https: 'http://127.0.0.1:9' } })), {
      status: 'sent',
    })
    assert.equal(proxy.proxied.length, 1)
    assert.equal(gw.requests.length, 2)
  })
})

describe('HttpSMSProvider over HTTPS', () => {
  let pki: TestPki
  let tgw: Gateway
  let proxy: ForwardProxy
  before(async () => {
    pki = createTestPki()
    tgw = await startGateway({ tls: { key: pki.serverKey, cert: pki.serverCert } })
    proxy = await startProxy()
  })
  after(async () => {
    await tgw.close()
    await proxy.close()
    pki.cleanup()
  })

  it('verifies the gateway with the CA file from SERVER_CERTIFICATE', async () => {
    tgw.reset()
    const r = await send(make({ URL: `${tgw.url}/send`, SERVER_CERTIFICATE: pki.caCertPath }))
    assert.deepEqual(r, { status: 'sent' })
    assert.deepEqual(tgw.requests[0]!.form, [['phone', PHONE], ['sms', TEXT]])
  })

  it('accepts a directory of *.pem/*.crt files', async () => {
    const dir = join(pki.dir, 'cadir')
    mkdirSync(dir)
    copyFileSync(pki.caCertPath, join(dir, 'test-ca.pem'))
    tgw.reset()
    assert.deepEqual(await send(make({ URL: `${tgw.url}/send`, SERVER_CERTIFICATE: dir })), { status: 'sent' })
  })

  it('without SERVER_CERTIFICATE the self-signed CA fails verification → unavailable', async () => {
    tgw.reset()
    const r = await send(make({ URL: `${tgw.url}/send` }))
    assert.equal(r.status, 'unavailable')
    assert.match(r.status === 'unavailable' ? r.reason : '', /^TLS failure \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)\)$/)
    assert.equal(tgw.requests.length, 0)
  })

  it('SERVER_CERTIFICATE "false" (any case) or false disables verification', async () => {
    for (const value of ['false', 'FALSE', false]) {
      tgw.reset()
      const warnings: string[] = []
      assert.deepEqual(await send(make({ URL: `${tgw.url}/send`, SERVER_CERTIFICATE: value }, warnings)), { status: 'sent' })
      assert.ok(warnings.some((w) => w.includes('not verified')))
    }
  })

  it('a missing certificate path is a ConfigError at parse', () => {
    const path = join(pki.dir, 'nope.pem')
    assertConfigError(
      () => parse({ URL: 'https://127.0.0.1/', SERVER_CERTIFICATE: path }),
      `server certificate verification could not be made as certificate could not be found: ${path}`,
    )
    assertConfigError(() => parse({ URL: 'https://127.0.0.1/', SERVER_CERTIFICATE: 42 }), /SERVER_CERTIFICATE/)
    assertConfigError(() => parse({ URL: 'https://127.0.0.1/', SERVER_CERTIFICATE: pki.serverKeyPath }), /no PEM certificate/)
  })

  it('an https target goes through the proxy with CONNECT', async () => {
    tgw.reset()
    proxy.proxied.length = 0
    const r = await send(make({ URL: `${tgw.url}/send`, PROXY: proxy.url, SERVER_CERTIFICATE: pki.caCertPath }))
    assert.deepEqual(r, { status: 'sent' })
    assert.deepEqual(
      proxy.proxied.map((p) => [p.kind, p.target]),
      [['connect', `127.0.0.1:${tgw.port}`]],
    )
    assert.deepEqual(tgw.requests[0]!.form, [['phone', PHONE], ['sms', TEXT]])
  })

  it('createDispatcher presents a client certificate when given one', async () => {
    const { createServer: createHttpsServer } = await import('node:https')
    const server = createHttpsServer(
      { key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true, rejectUnauthorized: true },
      (req, res) => res.end(`CN=${(req.socket as TLSSocket).getPeerCertificate().subject.CN}`),
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    const dispatcher = createDispatcher({
      tls: { rejectUnauthorized: true, ca: [pki.caCert], cert: pki.clientCert, key: pki.clientKey },
      connectTimeoutMs: 2000,
      readTimeoutMs: 2000,
    })
    try {
      const res = await httpRequest(dispatcher, { method: 'GET', url: `https://127.0.0.1:${port}/` })
      assert.equal(res.bodyText, 'CN=sms-otp test client')
    } finally {
      await dispatcher.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})

describe('HttpSMSProvider config parsing', () => {
  it('returns frozen options', () => {
    const o = parse({ URL: 'http://u:p@127.0.0.1:8080/x?y=1#frag', PARAMETER: { a: 'b' }, HEADERS: { 'X-A': '1' } })
    assert.ok(Object.isFrozen(o))
    assert.ok(Object.isFrozen(o.parameters))
    assert.ok(Object.isFrozen(o.headers))
    assert.equal(o.url, 'http://127.0.0.1:8080/x?y=1')
    assert.deepEqual(o.auth, { username: 'u', password: 'p', type: 'basic' })
    assert.equal(o.method, 'POST')
  })

  it('refuses a missing or bad URL', () => {
    assertConfigError(() => parse({}), "missing required key 'URL'")
    assertConfigError(() => parse({ URL: '  ' }), "missing required key 'URL'")
    assertConfigError(() => parse({ URL: 'not a url' }), 'URL: not a valid URL')
    assertConfigError(() => parse({ URL: 'ftp://h/x' }), 'URL: must be an http or https URL')
    assertConfigError(() => parse({ URL: 'http://useronly@h/x' }), /user:password@host/)
  })

  it('refuses a bad HTTP_Method', () => {
    assertConfigError(
      () => parse({ URL: 'http://h/', HTTP_Method: 'PUT' }),
      'Method for HttpSmsProvider method must be GET or POST - unsupported method: PUT',
    )
    assert.equal(parse({ URL: 'http://h/', HTTP_Method: 'Get' }).method, 'GET')
  })

  it('refuses bad regexes naming the key', () => {
    assertConfigError(() => parse({ URL: 'http://h/', RETURN_SUCCESS_REGEX: '(' }), /^RETURN_SUCCESS_REGEX: invalid regular expression/)
    assertConfigError(() => parse({ URL: 'http://h/', RETURN_FAIL_REGEX: '[a-' }), /^RETURN_FAIL_REGEX: invalid regular expression/)
    assert.equal(parse({ URL: 'http://h/', RETURN_SUCCESS_REGEX: '(?P<id>\\d+) (?P=id)' }).rule.kind, 'RETURN_SUCCESS_REGEX')
  })

  it('refuses bad timeouts', () => {
    assertConfigError(() => parse({ URL: 'http://h/', timeout: 'abc' }), /^timeout: expected seconds/)
    assertConfigError(() => parse({ URL: 'http://h/', timeout: -1 }), /^timeout: expected seconds/)
    assertConfigError(() => parse({ URL: 'http://h/', TIMEOUT: '1,2,3' }), /^TIMEOUT: expected seconds/)
  })

  it('refuses PARAMETER / HEADERS that are not objects of strings', () => {
    assertConfigError(() => parse({ URL: 'http://h/', PARAMETER: 'a=b' }), /^PARAMETER: expected an object/)
    assertConfigError(() => parse({ URL: 'http://h/', PARAMETER: ['a'] }), /^PARAMETER: expected an object/)
    assertConfigError(() => parse({ URL: 'http://h/', PARAMETER: { a: { b: 1 } } }), /^PARAMETER\.a: expected a string/)
    assertConfigError(() => parse({ URL: 'http://h/', HEADERS: 'X: y' }), /^HEADERS: expected an object/)
    assertConfigError(() => parse({ URL: 'http://h/', HEADERS: { 'Bad Name': 'x' } }), /not a valid header name/)
    assertConfigError(() => parse({ URL: 'http://h/', HEADERS: { 'X-A': 'a\r\nInjected: 1' } }), /line breaks/)
    assertConfigError(() => parse({ URL: 'http://h/', HEADERS: { 'Content-Length': '5' } }), /managed by the HTTP client/)
    assertConfigError(() => parse({ URL: 'http://h/', HEADERS: { 'Proxy-Authorization': 'x' } }), /PROXY URL/)
  })

  it('refuses a bad AUTH_TYPE, PROXY, or clashing key names', () => {
    assertConfigError(() => parse({ URL: 'http://h/', USERNAME: 'a', PASSWORD: 'b', AUTH_TYPE: 'ntlm' }), "AUTH_TYPE: must be basic or digest, got 'ntlm'")
    assertConfigError(() => parse({ URL: 'http://h/', PROXY: 'socks4://p:1080' }), /unsupported proxy scheme socks4:/)
    assertConfigError(() => parse({ URL: 'http://h/', PROXY: { ftp: 'http://p:1' } }), /^PROXY\.ftp/)
    assertConfigError(() => parse({ URL: 'http://h/', PROXY: 7 }), /^PROXY:/)
    assertConfigError(() => parse({ URL: 'http://h/', SMS_TEXT_KEY: 'phone' }), /must differ/)
    assert.deepEqual(parse({ URL: 'http://h/', PROXY: 'proxy.local:3128' }).proxy, {
      http: { uri: 'http://proxy.local:3128' },
      https: { uri: 'http://proxy.local:3128' },
    })
  })

  it("warns that 'Timeout' inside the config is not the network timeout", () => {
    const warnings: string[] = []
    parse({ URL: 'http://h/', RETURN_SUCCESS: 'OK', Timeout: 10 }, warnings)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0]!, /'Timeout' in the config is ignored/)
  })
})
