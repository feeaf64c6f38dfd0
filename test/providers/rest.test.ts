import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { after, before, describe, it } from 'node:test'
import { silentLogger } from '../../src/logger.js'
import { maskPhone } from '../../src/phone/index.js'
import { loadProvider, sendVia } from '../../src/providers/loader.js'
import { ProviderRegistry } from '../../src/providers/registry.js'
import { buildPayload, compilePayload } from '../../src/providers/rest/payload.js'
import { RestSmsProviderClass, type RestOptions } from '../../src/providers/rest/provider.js'
import type { SendResult, SmsMessage, SmsProvider } from '../../src/providers/types.js'
import { startGateway, type Gateway, type GatewayBehaviour } from '../helpers/gateway.js'
import { recordingLogger } from '../helpers/harness.js'
import { startProxy, type ForwardProxy } from '../helpers/proxy.js'
import { createTestPki, type TestPki } from '../helpers/tls.js'
import { CLX_EXAMPLE, SWISSCOM_EXAMPLE, point } from '../helpers/product-examples.js'
import { assertConfigError, assertReadTimeout, freePort } from '../helpers/assertions.js'

const PHONE = '+41791234567'
const OTP = '123456'
const MSG: SmsMessage = { phone: PHONE, text: OTP, transactionId: 'tx-1' }

/** The product document's examples, as users paste them; only the URL is replaced. */
const swisscomConfig = (url: string) => point(SWISSCOM_EXAMPLE, [['https://messagingproxy.swisscom.ch:4300/rest/1.0.0/submit_sm/123456', url]])
const clxConfig = (url: string) => point(CLX_EXAMPLE, [['https://api.clxcommunications.com/xms/v1/customer27421/batches', url]])

const SWISSCOM_BODY = JSON.stringify({
  destination_addr: PHONE,
  source_addr: '123456',
  short_message: `Your OTP is: ${OTP}`,
  source_addr_ton: 6,
  source_addr_npi: 0,
  dest_addr_ton: 1,
  dest_addr_npi: 1,
})
const CLX_BODY = JSON.stringify({ to: [PHONE], from: '123456789', body: `Your OTP is: ${OTP}` })
const CLASS_FORMS = [
  'RestSMSProvider',
  'smsprovider.RestSMSProvider',
  'smsprovider.RestSMSProvider.RestSMSProvider',
  'linotp.provider.smsprovider.RestSMSProvider',
  'linotp.provider.smsprovider.RestSMSProvider.RestSMSProvider',
]

const providers: SmsProvider[] = []
let gw: Gateway
let pki: TestPki
/** PEM files for CLIENT_CERTIFICATE_FILE. */
const pem = { combined: '', certOnly: '', keyOnly: '', mismatched: '', encrypted: '' }

const CLX_PAYLOAD = { to: ['<phone>'], from: '123456789', body: 'Your OTP is: <message>' }

function parse(config: Record<string, unknown>, warnings: string[] = []): RestOptions {
  return RestSmsProviderClass.parse(config, (w) => warnings.push(w))
}

/** A minimal valid config (the CLX payload) against the shared gateway, with overrides. */
function config(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { URL: `${gw.url}/send`, PAYLOAD: CLX_PAYLOAD, SMS_TEXT_KEY: 'body', SMS_PHONENUMBER_KEY: 'to', ...overrides }
}

function make(cfg: Record<string, unknown>, warnings: string[] = []): SmsProvider {
  const p = RestSmsProviderClass.create(parse(cfg, warnings), { name: 'test', logger: silentLogger })
  providers.push(p)
  return p
}

function send(p: SmsProvider, msg: SmsMessage = MSG, signal: AbortSignal = new AbortController().signal): Promise<SendResult> {
  return p.send(msg, signal)
}

async function sendWith(behaviour: GatewayBehaviour, overrides: Record<string, unknown> = {}): Promise<SendResult> {
  gw.reset(behaviour)
  return send(make(config(overrides)))
}

/** The JSON body of the n-th recorded request, parsed. */
function jsonBody(g: Gateway, n = 0): Record<string, unknown> {
  const req = g.requests[n]
  assert.ok(req, `no request ${n} recorded`)
  return JSON.parse(req.body) as Record<string, unknown>
}



before(async () => {
  gw = await startGateway()
  pki = createTestPki()
  const file = (name: string, text: string) => {
    const path = join(pki.dir, name)
    writeFileSync(path, text)
    return path
  }
  pem.combined = file('client-combined.pem', `${pki.clientCert}${pki.clientKey}`)
  pem.certOnly = pki.clientCertPath
  pem.keyOnly = pki.clientKeyPath
  pem.mismatched = file('client-mismatched.pem', `${pki.clientCert}${pki.serverKey}`)
  const encryptedKey = execFileSync('openssl', ['pkey', '-in', pki.clientKeyPath, '-aes256', '-passout', 'pass:secret'], { encoding: 'utf8' })
  pem.encrypted = file('client-encrypted.pem', `${pki.clientCert}${encryptedKey}`)
})

after(async () => {
  await Promise.all(providers.map((p) => p.close?.()))
  await gw.close()
  pki.cleanup()
})

describe('RestSMSProvider product document examples', () => {
  it('Swisscom: exact JSON body, Basic auth, JSON headers', async () => {
    gw.reset({ basic: { username: '123456', password: 'SECRET' } })
    const record = { name: 'swisscom', className: 'smsprovider.RestSMSProvider', config: swisscomConfig(`${gw.url}/rest/1.0.0/submit_sm/123456`), timeout: 120 }
    const loaded = loadProvider(record, new ProviderRegistry().register(RestSmsProviderClass), silentLogger)
    providers.push(loaded.instance)
    assert.deepEqual(await sendVia(loaded, MSG, new AbortController().signal), { status: 'sent' })
    assert.equal(gw.requests.length, 1)
    const req = gw.requests[0]!
    assert.equal(req.method, 'POST')
    assert.equal(req.path, '/rest/1.0.0/submit_sm/123456')
    assert.equal(req.body, SWISSCOM_BODY)
    assert.equal(req.auth, 'ok')
    assert.equal(req.headers['content-type'], 'application/json')
    assert.equal(req.headers.accept, 'application/json')
  })

  it('CLX: Bearer header from HEADERS, phone in a list, one Content-Type', async () => {
    gw.reset()
    const record = { name: 'clx', className: 'smsprovider.RestSMSProvider', config: clxConfig(`${gw.url}/xms/v1/customer27421/batches`), timeout: 120 }
    const loaded = loadProvider(record, new ProviderRegistry().register(RestSmsProviderClass), silentLogger)
    providers.push(loaded.instance)
    assert.deepEqual(await sendVia(loaded, MSG, new AbortController().signal), { status: 'sent' })
    const req = gw.requests[0]!
    assert.equal(req.path, '/xms/v1/customer27421/batches')
    assert.equal(req.body, CLX_BODY)
    assert.equal(req.headers.authorization, 'Bearer e215354ab28041daa3cbf2f11cbd1257')
    assert.equal(req.headers['content-type'], 'application/json')
    assert.equal(req.headers.accept, 'application/json')
  })

  it('both examples load through the loader under every class-name form and deliver, logging no secret', async () => {
    const lines: string[] = []
    const logger = recordingLogger(lines)
    const registry = new ProviderRegistry().register(RestSmsProviderClass)
    for (const className of CLASS_FORMS) {
      for (const [name, cfg, body, behaviour] of [
        ['swisscom', swisscomConfig(`${gw.url}/swisscom`), SWISSCOM_BODY, { basic: { username: '123456', password: 'SECRET' } }],
        ['clx', clxConfig(`${gw.url}/clx`), CLX_BODY, {}],
      ] as const) {
        gw.reset(behaviour)
        const loaded = loadProvider({ name, className, config: cfg, timeout: 120 }, registry, logger)
        providers.push(loaded.instance)
        assert.deepEqual(await sendVia(loaded, MSG, new AbortController().signal), { status: 'sent' }, `${className} ${name}`)
        assert.equal(gw.requests.length, 1, `${className} ${name}`)
        assert.equal(gw.requests[0]!.body, body, `${className} ${name}`)
        await loaded.instance.close?.()
      }
    }
    assert.ok(lines.length > 0, 'sends are logged at debug')
    for (const line of lines) {
      for (const secret of [OTP, PHONE, PHONE.slice(1), 'SECRET', 'e215354ab28041daa3cbf2f11cbd1257']) {
        assert.ok(!line.includes(secret), `log line leaks ${secret}: ${line}`)
      }
    }
    assert.ok(lines.some((l) => l.includes(maskPhone(PHONE))), 'the masked phone is logged')
  })

  it('MSISDN and SUPPRESS_PREFIX (applied by the loader) reach the payload', async () => {
    gw.reset()
    const cfg = JSON.stringify({ ...config(), MSISDN: 'True', SUPPRESS_PREFIX: '+' })
    const loaded = loadProvider({ name: 'clx', className: 'RestSMSProvider', config: cfg, timeout: 120 }, new ProviderRegistry().register(RestSmsProviderClass), silentLogger)
    providers.push(loaded.instance)
    const r = await sendVia(loaded, { ...MSG, phone: '+41 79 123-45-67' }, new AbortController().signal)
    assert.deepEqual(r, { status: 'sent' })
    assert.deepEqual(jsonBody(gw).to, ['41791234567'])
  })
})

describe('RestSMSProvider payload building', () => {
  it('an injection attempt in the text cannot change the JSON structure', async () => {
    const text = `","to":["+1"],"x":"\u0000 "quoted" back\\slash \\" $& $' $1 <phone> <message> \u2028 äü 😀`
    gw.reset()
    assert.deepEqual(await send(make(config()), { ...MSG, text }), { status: 'sent' })
    const received = jsonBody(gw)
    assert.deepEqual(Object.keys(received), ['to', 'from', 'body'])
    assert.deepEqual(received.to, [PHONE])
    assert.equal(received.body, `Your OTP is: ${text}`)
    assert.equal(gw.requests[0]!.body.match(/"to":/g)?.length, 1)
  })

  it('a phone with JSON syntax stays one string value', async () => {
    const phone = '+49"],"x":["1\\'
    gw.reset()
    assert.deepEqual(await send(make(config()), { ...MSG, phone }), { status: 'sent' })
    assert.deepEqual(jsonBody(gw), { to: [phone], from: '123456789', body: `Your OTP is: ${OTP}` })
  })

  it('the template is copied per send: a second send starts from the original PAYLOAD', async () => {
    gw.reset()
    const p = make(config({ PAYLOAD: { to: ['fixed'], body: '<message>' }, SMS_PHONENUMBER_KEY: 'to[9]' }))
    await send(p, { ...MSG, phone: '+111' })
    await send(p, { ...MSG, phone: '+222', text: 'second' })
    assert.deepEqual(jsonBody(gw, 0), { to: ['fixed', '+111'], body: OTP })
    assert.deepEqual(jsonBody(gw, 1), { to: ['fixed', '+222'], body: 'second' })
  })

  it('PAYLOAD given as a JSON string, nested paths a.b and a[0].b', async () => {
    gw.reset()
    const payload = JSON.stringify({ message: { text: 'ignored <message>', sender: 'ACME' }, recipients: [{ msisdn: '', type: 'mobile' }] })
    const warnings: string[] = []
    const p = make(config({ PAYLOAD: payload, SMS_TEXT_KEY: 'message.text', SMS_PHONENUMBER_KEY: 'recipients[0].msisdn' }), warnings)
    assert.deepEqual(await send(p), { status: 'sent' })
    // LinOTP reads the text template from a top-level key only: at a path the bare text is written.
    assert.deepEqual(jsonBody(gw), { message: { text: OTP, sender: 'ACME' }, recipients: [{ msisdn: PHONE, type: 'mobile' }] })
    assert.deepEqual(warnings, [
      "SMS_TEXT_KEY: the template at 'message.text' is not used: templates are read from a top-level PAYLOAD key only (as in LinOTP), so the bare SMS text is written there",
    ])
  })

  const noWarn = () => {}
  const cases: Array<[string, Record<string, unknown>, string, string, Record<string, unknown>]> = [
    ['a.1 replaces list element 1', { to: ['a', 'b', 'c'], t: '' }, 't', 'to.1', { to: ['a', PHONE, 'c'], t: OTP }],
    ['a[1] is the same as a.1', { to: ['a', 'b'], t: '' }, 't', 'to[1]', { to: ['a', PHONE], t: OTP }],
    ['an index ≥ length appends', { to: ['a'], t: '' }, 't', 'to[7]', { to: ['a', PHONE], t: OTP }],
    ['a.1 on an object names the key "1"', { to: { 1: 'x', 2: 'y' }, t: '' }, 't', 'to.1', { to: { 1: PHONE, 2: 'y' }, t: OTP }],
    ['a missing last key is created', { a: {} }, 'a.text', 'a.phone', { a: { text: OTP, phone: PHONE } }],
    ['a[0][1] nested lists', { m: [['x', 'y']], t: '' }, 't', 'm[0][1]', { m: [['x', PHONE]], t: OTP }],
    ['top-level keys missing from PAYLOAD are added', { from: 'A' }, 'text', 'to', { from: 'A', text: OTP, to: PHONE }],
    ['text template: every <message> replaced, other placeholders kept', { t: '<message>/<message> for <phone>', to: '' }, 't', 'to',
      { t: `${OTP}/${OTP} for <phone>`, to: PHONE }],
    ['text template without <message>: the bare text', { t: 'Hello', to: '' }, 't', 'to', { t: OTP, to: PHONE }],
    ['text template not a string: the bare text', { t: { a: 1 }, to: '' }, 't', 'to', { t: OTP, to: PHONE }],
    ['phone template string', { to: 'tel:<phone>;<phone>', t: '' }, 't', 'to', { to: `tel:${PHONE};${PHONE}`, t: OTP }],
    ['phone template list: strings with <phone> substituted, others kept', { to: ['<phone>', 5, 'x', null, { a: '<phone>' }, '00<phone>'], t: '' }, 't', 'to',
      { to: [PHONE, 5, 'x', null, { a: '<phone>' }, `00${PHONE}`], t: OTP }],
    ['phone template number: the bare phone', { to: 41, t: '' }, 't', 'to', { to: PHONE, t: OTP }],
    ['phone template null: the bare phone', { to: null, t: '' }, 't', 'to', { to: PHONE, t: OTP }],
    ['phone template without <phone>: the bare phone', { to: 'someone', t: '' }, 't', 'to', { to: PHONE, t: OTP }],
    ['<phone> elsewhere is not substituted', { to: '', t: '', note: 'call <phone> <message>' }, 't', 'to', { to: PHONE, t: OTP, note: 'call <phone> <message>' }],
  ]
  for (const [name, payload, textKey, phoneKey, expected] of cases) {
    it(`path/template: ${name}`, () => {
      const plan = compilePayload(payload, textKey, phoneKey, noWarn)
      assert.deepEqual(JSON.parse(JSON.stringify(buildPayload(plan, PHONE, OTP))), expected)
    })
  }

  it('warns about placeholders that stay literal and list templates at a path', () => {
    const warnings: string[] = []
    compilePayload({ to: '', t: '', note: 'call <phone>', deep: [{ x: '<message>' }], msg: { to: ['<phone>'] } }, 't', 'msg.to', (w) => warnings.push(w))
    assert.deepEqual(warnings, [
      "SMS_PHONENUMBER_KEY: the template at 'msg.to' is not used: templates are read from a top-level PAYLOAD key only (as in LinOTP), so the bare phone number is written there",
      'PAYLOAD.note contains <phone>, which is sent literally: placeholders are replaced only in the value of SMS_PHONENUMBER_KEY',
      'PAYLOAD.deep[0].x contains <message>, which is sent literally: placeholders are replaced only in the value of SMS_TEXT_KEY',
    ])
  })

  it('prototype pollution: a __proto__ path never reaches Object.prototype', () => {
    assertConfigError(() => compilePayload({ to: '' }, '__proto__.polluted', 'to', noWarn), "SMS_TEXT_KEY: cannot write at '__proto__.polluted' in PAYLOAD: PAYLOAD has no key '__proto__'")
    assertConfigError(() => compilePayload({ to: '' }, 'constructor.prototype.polluted', 'to', noWarn), /PAYLOAD has no key 'constructor'/)
    const plan = compilePayload(JSON.parse('{"__proto__": {"x": ""}, "to": ""}'), '__proto__.x', 'to', noWarn)
    const body = JSON.stringify(buildPayload(plan, PHONE, OTP))
    assert.equal(body, `{"__proto__":{"x":"${OTP}"},"to":"${PHONE}"}`)
    const top = compilePayload({ to: '' }, '__proto__', 'to', noWarn)
    assert.equal(JSON.stringify(buildPayload(top, PHONE, OTP)), `{"to":"${PHONE}","__proto__":"${OTP}"}`)
    assert.equal((Object.prototype as Record<string, unknown>).x, undefined)
    assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined)
  })
})

describe('RestSMSProvider authentication', () => {
  for (const algorithm of ['MD5', 'SHA-256']) {
    it(`digest auth ${algorithm}`, async () => {
      const digest = { username: 'carol', password: 'Circle of Life', realm: 'sms@gw', algorithm, opaque: 'op' }
      const r = await sendWith({ digest }, { USERNAME: 'carol', PASSWORD: 'Circle of Life', AUTHENTICATION: algorithm === 'MD5' ? 'digest' : 'Digest' })
      assert.deepEqual(r, { status: 'sent' })
      assert.deepEqual(gw.requests.map((q) => q.auth), ['missing', 'ok'])
      assert.equal(gw.requests[1]!.body, CLX_BODY)
    })
  }

  it('digest with a wrong password fails over after one retry', async () => {
    const r = await sendWith({ digest: { username: 'carol', password: 'right' } }, { USERNAME: 'carol', PASSWORD: 'wrong', AUTHENTICATION: 'DIGEST' })
    assert.deepEqual(r, { status: 'unavailable', reason: 'gateway cannot take messages (HTTP 401)' })
    assert.deepEqual(gw.requests.map((q) => q.auth), ['missing', 'wrong'])
  })

  it('basic is the default; AUTHENTICATION is case-insensitive', async () => {
    for (const AUTHENTICATION of [undefined, 'basic', 'BASIC', 'Basic']) {
      const r = await sendWith({ basic: { username: 'u', password: 'p' } }, { USERNAME: 'u', PASSWORD: 'p', ...(AUTHENTICATION && { AUTHENTICATION }) })
      assert.deepEqual(r, { status: 'sent' }, String(AUTHENTICATION))
      assert.equal(gw.requests[0]!.auth, 'ok')
    }
  })

  it('credentials in the URL are used without USERNAME; USERNAME alone sends an empty password', async () => {
    gw.reset({ basic: { username: 'bob', password: 's:cret' } })
    assert.deepEqual(await send(make(config({ URL: `http://bob:s%3Acret@127.0.0.1:${gw.port}/send` }))), { status: 'sent' })
    assert.equal(gw.requests[0]!.auth, 'ok')
    assert.equal(gw.requests[0]!.target, '/send')
    const warnings: string[] = []
    gw.reset({ basic: { username: 'bob', password: '' } })
    assert.deepEqual(await send(make(config({ USERNAME: 'bob' }), warnings)), { status: 'sent' })
    assert.ok(warnings.includes('USERNAME without PASSWORD: an empty password is sent'))
  })

  it('no USERNAME: no Authorization header', async () => {
    gw.reset()
    await send(make(config({ PASSWORD: 'x' })))
    assert.equal(gw.requests[0]!.headers.authorization, undefined)
  })
})

describe('RestSMSProvider headers and URL', () => {
  it('HEADERS merge over the JSON defaults case-insensitively', async () => {
    gw.reset()
    const p = make(config({ HEADERS: { 'content-TYPE': 'application/json; charset=utf-8', ACCEPT: 'application/vnd.api+json', 'X-Api-Key': 'k1' } }))
    assert.deepEqual(await send(p), { status: 'sent' })
    const h = gw.requests[0]!.headers
    assert.equal(h['content-type'], 'application/json; charset=utf-8')
    assert.equal(h.accept, 'application/vnd.api+json')
    assert.equal(h['x-api-key'], 'k1')
    assert.equal(h['user-agent'], 'sms-otp')
    assert.equal(gw.requests[0]!.body, CLX_BODY)
  })

  it('only the first of a comma-separated URL list is used, with a warning', async () => {
    gw.reset()
    const warnings: string[] = []
    const port = await freePort()
    const p = make(config({ URL: `${gw.url}/first , http://127.0.0.1:${port}/second,` }), warnings)
    assert.deepEqual(await send(p), { status: 'sent' })
    assert.deepEqual(gw.requests.map((q) => q.path), ['/first'])
    assert.deepEqual(warnings, ['URL: 1 further URL is ignored; only the first URL of the list is used'])
  })
})

describe('RestSMSProvider result mapping', () => {
  const cases: Array<[string, GatewayBehaviour, SendResult]> = [
    ['200 is sent', { status: 200 }, { status: 'sent' }],
    ['201 is sent', { status: 201, body: '{"id":"x"}' }, { status: 'sent' }],
    ['204 is sent', { status: 204, body: '' }, { status: 'sent' }],
    ['400 is rejected', { status: 400, body: `bad number ${PHONE}` }, { status: 'rejected', reason: 'gateway answered with an error status (HTTP 400)' }],
    ['403 (credentials refused) is unavailable', { status: 403 }, { status: 'unavailable', reason: 'gateway cannot take messages (HTTP 403)' }],
    ['429 (rate limit) is unavailable', { status: 429 }, { status: 'unavailable', reason: 'gateway cannot take messages (HTTP 429)' }],
    ['500 is unavailable', { status: 500 }, { status: 'unavailable', reason: 'gateway cannot take messages (HTTP 500)' }],
    ['503 is unavailable', { status: 503 }, { status: 'unavailable', reason: 'gateway cannot take messages (HTTP 503)' }],
    ['a redirect is not followed', { status: 307, headers: { location: '/elsewhere' } },
      { status: 'rejected', reason: 'gateway answered with a redirect (HTTP 307); redirects are not followed, configure the final URL' }],
  ]
  for (const [name, behaviour, expected] of cases) {
    it(name, async () => {
      assert.deepEqual(await sendWith(behaviour), expected)
      assert.equal(gw.requests.length, 1)
    })
  }

  it('a hanging gateway is unavailable after connect + read timeout, without a retry', async () => {
    // It answers 200 after 2.5 s: past connect + read (0.5 s), well inside the default 3 s + 30 s.
    // Had the configured TIMEOUT not applied, that late answer would make this a send.
    gw.reset({ delayMs: 2500 })
    const p = make(config({ TIMEOUT: '0.2,0.3' }))
    const started = Date.now()
    assertReadTimeout(await send(p))
    const elapsed = Date.now() - started
    assert.equal(await gw.requests[0]?.ended, 'aborted', 'the client hung up before the gateway answered')
    // The lower bound proves it waited; the upper one only catches a hang.
    assert.ok(elapsed >= 450 && elapsed < 10_000, `took ${elapsed} ms`)
    assert.equal(gw.requests.length, 1, 'LinOTP retries a timeout; we fail over instead')
  })

  it('TIMEOUT forms: "(5,20)", "5,20", [5,20], a number; default (3,30)', () => {
    for (const TIMEOUT of ['(5,20)', '5,20', ' ( 5 , 20 ) ', [5, 20], ['5', '20']]) {
      const o = parse(config({ TIMEOUT }))
      assert.deepEqual([o.connectTimeoutMs, o.readTimeoutMs], [5000, 20000], JSON.stringify(TIMEOUT))
    }
    const n = parse(config({ TIMEOUT: 7 }))
    assert.deepEqual([n.connectTimeoutMs, n.readTimeoutMs], [7000, 7000])
    const d = parse(config())
    assert.deepEqual([d.connectTimeoutMs, d.readTimeoutMs], [3000, 30000])
    const warnings: string[] = []
    const t = parse(config({ timeout: 1 }), warnings)
    assert.deepEqual([t.connectTimeoutMs, t.readTimeoutMs], [3000, 30000])
    assert.deepEqual(warnings, [
      "'timeout' in the config is ignored: RestSMSProvider reads its network timeout from 'TIMEOUT' (the provider Timeout is the OTP validity)",
    ])
  })

  it('connection refused is unavailable', async () => {
    const port = await freePort()
    const r = await send(make(config({ URL: `http://127.0.0.1:${port}/send` })))
    assert.equal(r.status, 'unavailable')
    assert.match(r.status === 'unavailable' ? r.reason : '', /ECONNREFUSED/)
  })

  it('an abort through the signal is unavailable, promptly', async () => {
    // The gateway would answer after 3 s, inside the default 30 s read timeout: an abort that is
    // not acted on shows as a send or an 'answered' exchange.
    gw.reset({ delayMs: 3000 })
    const p = make(config())
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 50)
    const started = Date.now()
    assert.deepEqual(await send(p, MSG, ac.signal), { status: 'unavailable', reason: 'request aborted' })
    assert.equal(await gw.requests[0]?.ended, 'aborted', 'the client hung up before the gateway answered')
    assert.ok(Date.now() - started < 10_000, 'hang guard')
    assert.deepEqual(await send(p, MSG, AbortSignal.abort()), { status: 'unavailable', reason: 'request aborted' })
  })

  it('close() is idempotent; a send after close is unavailable', async () => {
    gw.reset()
    const p = make(config())
    assert.deepEqual(await send(p), { status: 'sent' })
    await p.close?.()
    await p.close?.()
    assert.equal((await send(p)).status, 'unavailable')
  })
})

describe('RestSMSProvider through a forward proxy', () => {
  let proxy: ForwardProxy
  before(async () => {
    proxy = await startProxy({ username: 'pu', password: 'pp' })
  })
  after(async () => {
    await proxy.close()
  })

  it('PROXY as a scheme map and as a string: the JSON body passes the proxy', async () => {
    for (const PROXY of [{ http: `http://pu:pp@127.0.0.1:${proxy.port}` }, `http://pu:pp@127.0.0.1:${proxy.port}`]) {
      gw.reset()
      proxy.proxied.length = 0
      assert.deepEqual(await send(make(config({ PROXY }))), { status: 'sent' })
      assert.deepEqual(proxy.proxied.map((p) => [p.kind, p.method, p.target, p.allowed]), [['absolute', 'POST', `${gw.url}/send`, true]])
      assert.equal(gw.requests[0]!.body, CLX_BODY)
    }
  })

  it('an https-only proxy map leaves an http target direct', async () => {
    gw.reset()
    proxy.proxied.length = 0
    assert.deepEqual(await send(make(config({ PROXY: { https: proxy.url } }))), { status: 'sent' })
    assert.equal(proxy.proxied.length, 0)
  })
})

describe('RestSMSProvider over HTTPS with a client certificate', () => {
  let server: HttpsServer
  let url: string
  const seen: Array<{ cn: string; body: string }> = []
  before(async () => {
    server = createHttpsServer({ key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        seen.push({ cn: String((req.socket as TLSSocket).getPeerCertificate().subject?.CN), body: Buffer.concat(chunks).toString('utf8') })
        res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}')
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `https://127.0.0.1:${(server.address() as { port: number }).port}/sms`
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('mutual TLS with CLIENT_CERTIFICATE_FILE (certificate and key in one PEM)', async () => {
    seen.length = 0
    const r = await send(make(config({ URL: url, SERVER_CERTIFICATE: pki.caCertPath, CLIENT_CERTIFICATE_FILE: pem.combined })))
    assert.deepEqual(r, { status: 'sent' })
    assert.deepEqual(seen, [{ cn: 'sms-otp test client', body: CLX_BODY }])
  })

  it('without CLIENT_CERTIFICATE_FILE the handshake fails: unavailable', async () => {
    seen.length = 0
    const r = await send(make(config({ URL: url, SERVER_CERTIFICATE: pki.caCertPath })))
    assert.equal(r.status, 'unavailable')
    assert.equal(seen.length, 0)
  })

  it('without SERVER_CERTIFICATE the private CA is not trusted: unavailable', async () => {
    seen.length = 0
    const r = await send(make(config({ URL: url, CLIENT_CERTIFICATE_FILE: pem.combined })))
    assert.equal(r.status, 'unavailable')
    assert.match(r.status === 'unavailable' ? r.reason : '', /^TLS failure/)
    assert.equal(seen.length, 0)
  })

  it('the Swisscom example over https with mutual TLS, through a CONNECT proxy', async () => {
    const proxy = await startProxy()
    try {
      seen.length = 0
      const cfg = JSON.parse(swisscomConfig(url)) as Record<string, unknown>
      const loaded = loadProvider(
        {
          name: 'swisscom',
          className: 'smsprovider.RestSMSProvider',
          config: JSON.stringify({ ...cfg, SERVER_CERTIFICATE: pki.caCertPath, CLIENT_CERTIFICATE_FILE: pem.combined, PROXY: { https: proxy.url } }),
          timeout: 120,
        },
        new ProviderRegistry().register(RestSmsProviderClass),
        silentLogger,
      )
      providers.push(loaded.instance)
      assert.deepEqual(await sendVia(loaded, MSG, new AbortController().signal), { status: 'sent' })
      assert.deepEqual(seen, [{ cn: 'sms-otp test client', body: SWISSCOM_BODY }])
      assert.deepEqual(proxy.proxied.map((p) => p.kind), ['connect'])
    } finally {
      await proxy.close()
    }
  })
})

describe('RestSMSProvider config errors', () => {
  it('missing configuration and missing required keys', () => {
    assertConfigError(() => parse({}), 'missing configuration')
    for (const key of ['URL', 'PAYLOAD', 'SMS_TEXT_KEY', 'SMS_PHONENUMBER_KEY']) {
      const cfg = config()
      delete cfg[key]
      assertConfigError(() => parse(cfg), `missing required key '${key}'`)
      assertConfigError(() => parse({ ...cfg, [key]: '' }), `missing required key '${key}'`)
    }
  })

  it('bad URL', () => {
    assertConfigError(() => parse(config({ URL: 'not a url' })), 'URL: not a valid URL')
    assertConfigError(() => parse(config({ URL: 'ftp://h/x' })), 'URL: must be an http or https URL')
    assertConfigError(() => parse(config({ URL: ',http://h/x' })), 'URL: the first URL of the list is empty')
    assertConfigError(() => parse(config({ URL: 'http://useronly@h/x' })), /user:password@host/)
    assertConfigError(() => parse(config({ URL: 'http://u:%zz@h/x' })), /not validly percent-encoded/)
  })

  it('bad PAYLOAD', () => {
    assertConfigError(() => parse(config({ PAYLOAD: '{"to": ' })), 'PAYLOAD: the string is not valid JSON')
    assertConfigError(() => parse(config({ PAYLOAD: '["<phone>"]' })), 'PAYLOAD: expected a JSON object, got a list')
    assertConfigError(() => parse(config({ PAYLOAD: 5 })), 'PAYLOAD: expected a JSON object, got number 5')
    assertConfigError(() => parse(config({ PAYLOAD: { to: '', x: new Date(0) } })), 'PAYLOAD.x: object is not a JSON value')
    let deep: unknown = {}
    for (let i = 0; i < 70; i++) deep = { d: deep }
    assertConfigError(() => parse(config({ PAYLOAD: { to: '', deep } })), 'PAYLOAD: nested deeper than 64 levels')
  })

  it('bad AUTHENTICATION', () => {
    assertConfigError(() => parse(config({ USERNAME: 'u', PASSWORD: 'p', AUTHENTICATION: 'NTLM' })), "AUTHENTICATION: no valid Authentication type provided: 'NTLM' (BASIC or DIGEST)")
    assertConfigError(() => parse(config({ AUTHENTICATION: 'bearer' })), /no valid Authentication type provided/)
  })

  it('bad path syntax', () => {
    for (const path of ['a..b', 'a.', '.a', '[0]', 'a[x]', 'a[0', 'a]', 'a[0]b', 'a.[0]']) {
      assertConfigError(() => parse(config({ SMS_TEXT_KEY: path })), `SMS_TEXT_KEY: '${path}' is not a valid path (use a, a.b, a[0].b or a.1)`)
      assertConfigError(() => parse(config({ SMS_PHONENUMBER_KEY: path })), `SMS_PHONENUMBER_KEY: '${path}' is not a valid path (use a, a.b, a[0].b or a.1)`)
    }
  })

  it('paths that do not fit PAYLOAD', () => {
    const payload = { to: ['x'], msg: { text: 'hi' }, n: null, list: [{ a: 1 }] }
    const check = (textKey: string, phoneKey: string, message: string) =>
      assertConfigError(() => parse(config({ PAYLOAD: payload, SMS_TEXT_KEY: textKey, SMS_PHONENUMBER_KEY: phoneKey })), message)
    check('missing.text', 'to', "SMS_TEXT_KEY: cannot write at 'missing.text' in PAYLOAD: PAYLOAD has no key 'missing'")
    check('msg.text.deeper', 'to', "SMS_TEXT_KEY: cannot write at 'msg.text.deeper' in PAYLOAD: 'msg.text' is string \"hi\", not an object or a list")
    check('n.x', 'to', "SMS_TEXT_KEY: cannot write at 'n.x' in PAYLOAD: 'n' is null, not an object or a list")
    check('msg.text', 'list[3].a', "SMS_PHONENUMBER_KEY: cannot write at 'list[3].a' in PAYLOAD: 'list' has no element 3 (it has 1)")
    check('msg.text', 'to.first', "SMS_PHONENUMBER_KEY: cannot write at 'to.first' in PAYLOAD: 'to' is a list, 'first' is not an index")
    check('msg.text', 'list.x.a', "SMS_PHONENUMBER_KEY: cannot write at 'list.x.a' in PAYLOAD: 'list' is a list, 'x' is not an index")
  })

  it('paths that would overwrite each other', () => {
    assertConfigError(() => parse(config({ SMS_TEXT_KEY: 'to', SMS_PHONENUMBER_KEY: 'to' })), 'SMS_TEXT_KEY and SMS_PHONENUMBER_KEY must differ')
    assertConfigError(() => parse(config({ SMS_TEXT_KEY: 'to.0', SMS_PHONENUMBER_KEY: 'to[0]' })), 'SMS_TEXT_KEY and SMS_PHONENUMBER_KEY must differ')
    assertConfigError(
      () => parse(config({ SMS_TEXT_KEY: 'to[0]', SMS_PHONENUMBER_KEY: 'to' })),
      "SMS_TEXT_KEY 'to[0]' and SMS_PHONENUMBER_KEY 'to' overlap: one would be written inside the other",
    )
    // The text appends at index 1 of a one-element list; the phone then replaces index 1.
    assertConfigError(
      () => parse(config({ SMS_TEXT_KEY: 'to[5]', SMS_PHONENUMBER_KEY: 'to[1]' })),
      "SMS_PHONENUMBER_KEY 'to[1]' overwrites the SMS text written at SMS_TEXT_KEY 'to[5]'",
    )
  })

  it('PROXY: socks5/socks5h are accepted (see providers/socks.test.ts); socks4 and other schemes are refused', () => {
    assert.deepEqual(parse(config({ PROXY: { http: 'socks5://user:pass@host:1080' } })).proxy, {
      http: { uri: 'socks5://host:1080', socks: { scheme: 'socks5', host: 'host', port: 1080, username: 'user', password: 'pass' } },
    })
    assertConfigError(() => parse(config({ PROXY: { https: 'socks5h://user:pass@host:port' } })), /^PROXY\.https: not a valid proxy URL$/)
    assertConfigError(() => parse(config({ PROXY: 'SOCKS4://host:1080' })), /^PROXY: unsupported proxy scheme socks4: \(SOCKS4 has no password authentication/)
    assertConfigError(() => parse(config({ PROXY: 'ftp://host:21' })), /^PROXY: unsupported proxy scheme ftp: \(http, https, socks5 or socks5h\)$/)
    assertConfigError(() => parse(config({ PROXY: { ftp: 'http://p:1' } })), /^PROXY\.ftp/)
  })

  it('CLIENT_CERTIFICATE_FILE must exist and hold a certificate and its unencrypted key', () => {
    const missing = join(pki.dir, 'nope.pem')
    const base = config({ URL: 'https://127.0.0.1/sms' })
    const check = (file: unknown, message: RegExp | string) => assertConfigError(() => parse({ ...base, CLIENT_CERTIFICATE_FILE: file }), message)
    check(missing, `CLIENT_CERTIFICATE_FILE: file not found: ${missing}`)
    check(pki.dir, `CLIENT_CERTIFICATE_FILE: '${pki.dir}' is not a file (a directory)`)
    check(pem.certOnly, /^CLIENT_CERTIFICATE_FILE: no PEM private key .* the file must hold the certificate and its key$/)
    check(pem.keyOnly, /^CLIENT_CERTIFICATE_FILE: no PEM certificate/)
    check(pem.mismatched, /^CLIENT_CERTIFICATE_FILE: the private key in .* does not belong to its first certificate$/)
    check(pem.encrypted, /^CLIENT_CERTIFICATE_FILE: the private key in .* is encrypted/)
    check(42, 'CLIENT_CERTIFICATE_FILE: expected the path of a PEM file')
    assert.equal(parse({ ...base, CLIENT_CERTIFICATE_FILE: '' }).tls.cert, undefined)
    assert.equal(parse({ ...base, CLIENT_CERTIFICATE_FILE: pem.combined }).tls.key, pki.clientKey.trim())
  })

  it('SERVER_CERTIFICATE: a missing file is refused, false disables verification with a warning', () => {
    const missing = join(pki.dir, 'none.crt')
    assertConfigError(
      () => parse(config({ SERVER_CERTIFICATE: missing })),
      `server certificate verification could not be made as certificate could not be found: ${missing}`,
    )
    const warnings: string[] = []
    assert.equal(parse(config({ SERVER_CERTIFICATE: 'False' }), warnings).tls.rejectUnauthorized, false)
    assert.deepEqual(warnings, ['SERVER_CERTIFICATE is false: the gateway certificate is not verified'])
    assert.equal(parse(config()).tls.rejectUnauthorized, true)
  })

  it('bad HEADERS and TIMEOUT', () => {
    assertConfigError(() => parse(config({ HEADERS: 'X: y' })), /^HEADERS: expected an object/)
    assertConfigError(() => parse(config({ HEADERS: { 'X-A': 'a\r\nInjected: 1' } })), /line breaks/)
    assertConfigError(() => parse(config({ HEADERS: { 'Content-Length': '5' } })), /managed by the HTTP client/)
    assertConfigError(() => parse(config({ HEADERS: { 'x-a': '1', 'X-A': '2' } })), "HEADERS: 'X-A' is given twice")
    assertConfigError(() => parse(config({ TIMEOUT: 'abc' })), /^TIMEOUT: expected seconds/)
    assertConfigError(() => parse(config({ TIMEOUT: '1,2,3' })), /^TIMEOUT: expected seconds/)
    assertConfigError(() => parse(config({ TIMEOUT: 0 })), /^TIMEOUT: expected seconds/)
  })

  it('returns frozen options and warns about unknown keys only', () => {
    const warnings: string[] = []
    const o = parse(config({ MSISDN: 'True', SUPPRESS_PREFIX: '+', EXTRA: 1 }), warnings)
    assert.deepEqual(warnings, ["unknown key 'EXTRA' ignored"])
    assert.ok(Object.isFrozen(o) && Object.isFrozen(o.headers) && Object.isFrozen(o.plan) && Object.isFrozen(o.plan.payload))
    assert.ok(Object.isFrozen(o.plan.payload.to))
    assert.deepEqual(o.headers, { 'content-type': 'application/json', accept: 'application/json', 'user-agent': 'sms-otp' })
  })
})
