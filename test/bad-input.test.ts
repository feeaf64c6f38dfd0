/**
 * Every bad input gets a clear error, the server keeps serving, nothing is half-written.
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { readConfigFile } from '../src/sidecar/config-file.js'
import { serve } from '../src/sidecar/serve.js'
import { silentLogger } from '../src/logger.js'
import { isOtpError } from '../src/errors.js'
import { ADMIN_TOKEN, enrolAlice, startHarness, type Harness } from './helpers/harness.js'

// Responses are arbitrary LinOTP JSON; `any` keeps the assertions readable.
/* eslint-disable @typescript-eslint/no-explicit-any */

/** Sends raw bytes (fetch would re-encode them). */
function raw(url: string, path: string, body: Buffer | string, contentType: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return new Promise((ok, fail) => {
    const req = request(`${url}${path}`, { method: 'POST', headers: { 'content-type': contentType, ...headers } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        try {
          ok({ status: res.statusCode ?? 0, body: JSON.parse(text) })
        } catch {
          ok({ status: res.statusCode ?? 0, body: text })
        }
      })
    })
    req.on('error', fail)
    req.end(body)
  })
}

describe('hostile requests', () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
    await enrolAlice(h)
  })
  after(() => h.close())

  /** After each hostile request the server must still authenticate normally. */
  async function stillServing(): Promise<void> {
    const r = await h.post('/validate/check', { user: 'alice', pass: 'wrong' })
    assert.equal(r.status, 200)
    assert.equal(r.body.result.status, true)
  }

  const cases: Array<[string, () => Promise<{ status: number; body: any }>, number, string, RegExp]> = [
    ['a 1 MB body', () => raw(h.url, '/validate/check', Buffer.alloc(1024 * 1024, 'a'), 'application/x-www-form-urlencoded'), 413, 'ERR_OTP_REQUEST_TOO_LARGE', /larger than 131072 bytes/],
    ['a 1 MB body without content-length (chunked)', () => new Promise((ok, fail) => {
      const req = request(`${h.url}/validate/check`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked' } }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => ok({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }))
      })
      req.on('error', fail)
      for (let i = 0; i < 16; i++) req.write(Buffer.alloc(64 * 1024, 'a'))
      req.end()
    }), 413, 'ERR_OTP_REQUEST_TOO_LARGE', /larger than/],
    ['raw invalid UTF-8 in a form body', () => raw(h.url, '/validate/check', Buffer.concat([Buffer.from('user=alice&pass='), Buffer.from([0xff, 0xfe, 0x31])]), 'application/x-www-form-urlencoded'), 400, 'ERR_OTP_INVALID_PARAMETER', /not valid UTF-8/],
    ['percent-encoded invalid UTF-8', () => raw(h.url, '/validate/check', 'user=alice&pass=%FF%FE', 'application/x-www-form-urlencoded'), 400, 'ERR_OTP_INVALID_PARAMETER', /not valid percent-encoded UTF-8/],
    ['invalid UTF-8 in the query string', () => h.get('/validate/check?user=%C3%28', {}), 400, 'ERR_OTP_INVALID_PARAMETER', /not valid percent-encoded UTF-8/],
    ['malformed JSON body', () => raw(h.url, '/validate/check', '{"user": "alice", ', 'application/json'), 400, 'ERR_OTP_INVALID_PARAMETER', /not valid JSON/],
    ['a JSON array body', () => raw(h.url, '/validate/check', '["alice"]', 'application/json'), 400, 'ERR_OTP_INVALID_PARAMETER', /must be an object/],
    ['an object where a string belongs', () => raw(h.url, '/validate/check', '{"user":{"$ne":null},"pass":"1234"}', 'application/json'), 400, 'ERR_OTP_INVALID_PARAMETER', /'user' must be a string/],
    ['a parameter given twice (pollution)', () => raw(h.url, '/validate/check', 'user=alice&user=bob&pass=1234', 'application/x-www-form-urlencoded'), 400, 'ERR_OTP_INVALID_PARAMETER', /given more than once/],
    ['the same parameter in query and body', () => raw(h.url, '/validate/check?user=bob', 'user=alice&pass=1234', 'application/x-www-form-urlencoded'), 400, 'ERR_OTP_INVALID_PARAMETER', /given more than once/],
    ['a __proto__ parameter', () => raw(h.url, '/validate/check', '{"__proto__":"x","user":"alice"}', 'application/json'), 400, 'ERR_OTP_INVALID_PARAMETER', /not allowed/],
    ['an over-long pass', () => h.post('/validate/check', { user: 'alice', pass: 'x'.repeat(257) }), 413, 'ERR_OTP_REQUEST_TOO_LARGE', /'pass' longer than 256/],
    ['an over-long user', () => h.post('/validate/check', { user: 'x'.repeat(300), pass: '1' }), 413, 'ERR_OTP_REQUEST_TOO_LARGE', /'user' longer than 256/],
    ['too many parameters', () => h.post('/validate/check', Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`p${i}`, 'x']))), 400, 'ERR_OTP_INVALID_PARAMETER', /more than 64 parameters/],
  ]
  for (const [label, send, status, code, message] of cases) {
    it(`${label} → ${status} ${code}`, async () => {
      const r = await send()
      assert.equal(r.status, status)
      assert.equal(r.body.result.status, false)
      assert.equal(r.body.result.error.code, code)
      assert.match(r.body.result.error.message, message)
      await stillServing()
    })
  }

  it('a malformed transaction id never authenticates and is not an error', async () => {
    for (const id of ["1' OR '1'='1", '%', '0', '1.2.3', '12345678901234567890123']) {
      const r = await h.post('/validate/check', { user: 'alice', transactionid: id, pass: '287082' })
      assert.equal(r.status, 200)
      assert.equal(r.body.result.value, false)
    }
  })
  it('an unknown endpoint answers 404 in the envelope', async () => {
    const r = await h.post('/validate/nope', {})
    assert.equal(r.status, 404)
    assert.equal(r.body.result.error.code, 'ERR_OTP_NOT_FOUND')
  })
})

describe('bad admin input leaves nothing half-written', () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
  })
  after(() => h.close())

  const provider = (config: string, cls = 'HttpSMSProvider') => ({ name: 'gw', type: 'sms', class: cls, config, timeout: '120' })
  const refusals: Array<[string, Record<string, string>, string, RegExp]> = [
    ['malformed provider JSON', provider('{"URL": "http://127.0.0.1:9/" "RETURN_SUCCESS": "OK"}'), 'ERR_OTP_INVALID_CONFIG', /invalid provider configuration at line 1 column \d+/],
    ['single-quoted provider JSON', provider("{'URL': 'http://127.0.0.1:9/'}"), 'ERR_OTP_INVALID_CONFIG', /use double quotes, not single quotes/],
    ['an unknown provider class', provider('{"URL":"http://127.0.0.1:9/"}', 'smsprovider.FaxSMSProvider.FaxSMSProvider'), 'ERR_OTP_UNKNOWN_PROVIDER_CLASS', /Unknown provider class: Identifier was "smsprovider.FaxSMSProvider.FaxSMSProvider"/],
    ['an SMTP provider without mailsender', provider('{"mailserver":"127.0.0.1","mailto":"gw@example.org"}', 'smsprovider.SmtpSMSProvider.SmtpSMSProvider'), 'ERR_OTP_INVALID_CONFIG', /provider 'gw' \(SmtpSMSProvider\): .*mailsender/],
    ['an SMPP provider with the placeholder port', provider('{"server":"127.0.0.1","port":"smmp-port","system_id":"a","password":"b","source_addr":"c"}', 'SMPPSMSProvider'), 'ERR_OTP_INVALID_CONFIG', /port: expected the SMSC's TCP port number/],
    ['a provider config missing its URL', provider('{"HTTP_Method":"GET"}'), 'ERR_OTP_INVALID_CONFIG', /provider 'gw' \(HttpSMSProvider\): missing required key 'URL'/],
    ['a bad provider name', { ...provider('{"URL":"http://127.0.0.1:9/"}'), name: 'a b' }, 'ERR_OTP_INVALID_CONFIG', /provider name/],
    ['a bad provider timeout', { ...provider('{"URL":"http://127.0.0.1:9/"}'), timeout: 'soon' }, 'ERR_OTP_INVALID_CONFIG', /timeout: expected the OTP validity in whole seconds from 1 to 86400, not "soon"/],
  ]
  for (const [label, params, code, message] of refusals) {
    it(`setProvider: ${label}`, async () => {
      const r = await h.admin('/system/setProvider', params)
      assert.equal(r.status, 400)
      assert.equal(r.body.result.error.code, code)
      assert.match(r.body.result.error.message, message)
      assert.deepEqual(h.otp.providers.list().map((p) => p.name), ['outbox'], 'nothing stored')
      assert.deepEqual([...(await h.otp.core.store.settings.list('provider')).keys()], ['outbox'])
    })
  }

  const policyRefusals: Array<[string, Record<string, string>, RegExp]> = [
    ['an unknown policy action', { name: 'p', scope: 'authentication', action: 'sms_provder=outbox' }, /unknown action 'sms_provder'/],
    ['a bad client network', { name: 'p', scope: 'authentication', action: 'sms_provider=outbox', client: '10.0.0.0/33' }, /client/],
    ['a bad otppin value', { name: 'p', scope: 'authentication', action: 'otppin=sometimes' }, /otppin/],
  ]
  for (const [label, params, message] of policyRefusals) {
    it(`setPolicy: ${label}`, async () => {
      const r = await h.admin('/system/setPolicy', params)
      assert.equal(r.status, 400)
      assert.equal(r.body.result.error.code, 'ERR_OTP_POLICY')
      assert.match(r.body.result.error.message, message)
      assert.equal(h.otp.policies.list().length, 0)
    })
  }

  const initRefusals: Array<[string, Record<string, string>, string, RegExp]> = [
    ['a non-hex otpkey', { otpkey: 'not-hex-at-all-zz' }, 'ERR_OTP_INVALID_PARAMETER', /otpkey: must be hexadecimal/],
    ['a short otpkey', { otpkey: '3132' }, 'ERR_OTP_INVALID_PARAMETER', /at least 16 bytes/],
    ['otpkey and genkey', { otpkey: '31'.repeat(20), genkey: '1' }, 'ERR_OTP_INVALID_PARAMETER', /either 'otpkey' or 'genkey'/],
    ['a missing phone', { phone: '' }, 'ERR_OTP_INVALID_PARAMETER', /Missing parameter: 'phone'/],
    ['a phone with an AT command', { phone: '+49170;AT+CMGS' }, 'ERR_OTP_INVALID_PHONE', /only digits/],
    ['a phone with CR/LF', { phone: '+49170\r\nBcc: x' }, 'ERR_OTP_INVALID_PHONE', /only digits/],
    ['otplen 7', { otplen: '7' }, 'ERR_OTP_INVALID_PARAMETER', /otplen: expected 6 or 8/],
    ['hashlib md5', { hashlib: 'md5' }, 'ERR_OTP_INVALID_PARAMETER', /hashlib/],
    ['type hotp', { type: 'hotp' }, 'ERR_OTP_INVALID_PARAMETER', /only 'sms' tokens/],
    ['an unknown realm', { realm: 'nowhere' }, 'ERR_OTP_INVALID_PARAMETER', /realm 'nowhere' does not exist/],
  ]
  for (const [label, extra, code, message] of initRefusals) {
    it(`init: ${label}`, async () => {
      const params = { type: 'sms', user: 'carol', phone: '+4915112345678', pin: '1', serial: 'LSSMBAD', ...extra }
      if (extra.phone === '') delete (params as Record<string, string>).phone
      const r = await h.admin('/admin/init', params)
      assert.equal(r.status, 400)
      assert.equal(r.body.result.error.code, code)
      assert.match(r.body.result.error.message, message)
      assert.equal(await h.otp.core.store.tokens.get('LSSMBAD'), undefined, 'no token written')
    })
  }
  it('errors never echo the phone number', async () => {
    const r = await h.admin('/admin/init', { user: 'carol', phone: '+49 170 98765x4321' })
    assert.ok(!JSON.stringify(r.body).includes('98765'))
  })
})

describe('sidecar config file', () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
  })
  after(() => h.close())

  const files: Array<[string, string, RegExp]> = [
    ['not JSON', '{"providers": [', /not valid JSON/],
    ['JSON that breaks next to a secret, without echoing it', '{"tokens": [{"serial": "T1", "pin": 4711secret}]}', /not valid JSON at line 1 column 41: Expected ',' or '}' after property value$/],
    ['JSON with a stray token next to a secret, without echoing it', '{"pin": secret4711}', /not valid JSON at line 1 column 9: unexpected character$/],
    ['an unknown top-level key', '{"provders": []}', /Unrecognized key/],
    ['single-quoted provider config', JSON.stringify({ providers: [{ name: 'gw', class: 'HttpSMSProvider', config: "{'URL':'http://x/'}" }] }), /use double quotes/],
    ['an unknown class', JSON.stringify({ providers: [{ name: 'gw', class: 'PigeonSMSProvider', config: {} }] }), /Unknown provider class/],
    ['an unknown policy action', JSON.stringify({ policies: [{ name: 'p', scope: 'authentication', action: 'fly' }] }), /unknown action 'fly'/],
    ['a token with a bad phone', JSON.stringify({ tokens: [{ serial: 'T1', user: 'a', phone: 'abc' }] }), /tokens: T1: phone/],
    ['a bad config key value', JSON.stringify({ config: { SMSBlockingTimeout: 'x' } }), /config: config key SMSBlockingTimeout/],
    ['a provider key among the config keys', JSON.stringify({ config: { SMSProviderConfig: '{}' } }), /config: config key SMSProviderConfig: use \/system\/setProvider/],
    ['a short admin token', JSON.stringify({ adminToken: 'short' }), /: adminToken: at least 16 characters \(line 1, column 2\)$/],
  ]
  for (const [label, text, message] of files) {
    it(`refuses ${label} with a message naming the problem`, async () => {
      const path = join(h.dir, 'bad.json')
      await writeFile(path, text)
      await assert.rejects(readConfigFile(path), (e: unknown) => isOtpError(e) && message.test(e.message) && e.message.startsWith(path))
    })
  }
  it('a config whose last part is bad writes nothing at start', async () => {
    const path = join(h.dir, 'half.json')
    const db = join(h.dir, 'half.db')
    await writeFile(path, JSON.stringify({
      realms: [{ name: 'r1', default: true }],
      providers: [{ name: 'ok', class: 'FileSMSProvider', config: { file: join(h.dir, 'o.log') } }],
      tokens: [{ serial: 'T1', user: 'a', phone: '+4915112345678' }, { serial: 'T2', user: 'b', phone: 'x' }],
    }))
    await assert.rejects(serve({ configFile: path, db, dataDir: h.dir, port: 0, logger: silentLogger, env: { SMS_OTP_ADMIN_TOKEN: ADMIN_TOKEN } }), /tokens: T2/)
    const { createSqliteStore } = await import('../src/stores/sqlite.js')
    const store = createSqliteStore({ path: db })
    await store.open()
    try {
      assert.equal((await store.settings.list('realm')).size, 0)
      assert.equal((await store.settings.list('provider')).size, 0)
      assert.equal((await store.tokens.list()).length, 0)
    } finally {
      await store.close()
    }
  })
})
