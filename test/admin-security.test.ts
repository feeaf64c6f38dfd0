/**
 * Security review finding 4 (admin audit, throttling, separate admin listener), finding 8 (requests
 * that must not act: HEAD, admin deadlines) and finding 9 (`--no-get`). Everything runs the real
 * sidecar on loopback; the throttle runs on the harness's manual clock, so no test sleeps.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Agent, fetch as undiciFetch } from 'undici'
import { addressKey, FailureThrottle } from '../middleware/throttle.js'
import { ManualClock } from '../src/clock.js'
import { silentLogger } from '../src/logger.js'
import { serve } from '../src/sidecar/serve.js'
import type { AuditRecord } from '../src/validate/types.js'
import { ADMIN_TOKEN, enrolAlice, startHarness, type Harness } from './helpers/harness.js'

const PIN = '90817'
const OTPKEY = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678'
const PHONE = '+4917098765432'
const GATEWAY_SECRET = 'gw-pa55word-s3cret'
const WRONG = 'guess-guess-guess-0123456789'

const adminRecords = (h: Harness): AuditRecord[] => h.audit.filter((a) => /^(admin|system)\//.test(a.endpoint))

/** Raw HTTP for methods and headers the harness does not cover. */
async function raw(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; dispatcher?: Agent } = {}) {
  const res = await undiciFetch(url, { ...init, signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // HEAD and plain-text answers
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- LinOTP JSON, asserted on its shape
  return { status: res.status, headers: res.headers, body: body as any }
}

const form = { 'content-type': 'application/x-www-form-urlencoded' }
const bearer = (token: string) => ({ ...form, authorization: `Bearer ${token}` })

describe('admin audit', () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
  })
  after(() => h.close())

  it('threat: admin actions leave no trace — every admin call is audited with what it did, never the token, PIN, otpkey, gateway credentials or full phone', async () => {
    const init = await h.admin('/admin/init', { type: 'sms', user: 'carol', realm: 'example', phone: PHONE, pin: PIN, otpkey: OTPKEY, serial: 'LSSMCAROL1' })
    assert.equal(init.body.result.value, true)
    await h.admin('/admin/set', { serial: 'LSSMCAROL1', pin: `${PIN}9`, phone: PHONE.replace('2', '3') })
    await h.admin('/admin/disable', { serial: 'LSSMCAROL1' })
    await h.admin('/admin/reset', { user: 'carol', realm: 'example' })
    await h.admin('/admin/show', { serial: 'LSSMCAROL1' })
    // Never contacted; a loopback URL would be refused for an admin-defined provider (security-resources).
    const gw = { URL: 'http://gw.example.net:9/send', USERNAME: 'acme', PASSWORD: GATEWAY_SECRET, PARAMETER: { phone: '<phone>', sms: '<message>' } }
    const setProvider = await h.admin('/system/setProvider', { name: 'gw', type: 'sms', class: 'HttpSMSProvider', config: JSON.stringify(gw), timeout: '60' })
    assert.equal(setProvider.status, 200, JSON.stringify(setProvider.body))
    await h.admin('/system/getProvider', { type: 'sms', name: 'gw' })
    await h.admin('/system/testProvider', { name: 'outbox', phone: PHONE })
    await h.admin('/system/setPolicy', { name: 'p1', scope: 'authentication', action: 'otppin=token_pin', realm: '*', user: '*', client: '*' })
    await h.admin('/system/setConfig', { SMSBlockingTimeout: '45', 'custom.key': 'x' })
    await h.admin('/system/delConfig', { key: 'custom.key' })
    const refused = await h.admin('/admin/remove', { serial: 'NO-SUCH-TOKEN' })
    assert.equal(refused.status, 404)
    await h.admin('/admin/remove', { serial: 'LSSMCAROL1' })

    const records = adminRecords(h)
    const find = (endpoint: string) => records.filter((r) => r.endpoint === endpoint)
    const initRecord = find('admin/init')[0]
    assert.ok(initRecord, `no audit record for admin/init in ${JSON.stringify(h.audit)}`)
    assert.equal(initRecord.result, true)
    assert.equal(initRecord.serial, 'LSSMCAROL1')
    assert.equal(initRecord.user, 'carol')
    assert.equal(initRecord.realm, 'example')
    assert.equal(initRecord.action, 'token enrolled')
    assert.equal(initRecord.client, '127.0.0.1')
    assert.ok(Number.isFinite(Date.parse(initRecord.time)))
    assert.equal(find('admin/set')[0]?.action, 'token changed')
    assert.equal(find('admin/set')[0]?.target?.fields, 'pin,phone')
    assert.equal(find('admin/disable')[0]?.action, 'tokens disabled')
    assert.equal(find('admin/reset')[0]?.user, 'carol')
    assert.equal(find('admin/reset')[0]?.action, 'failcount reset')
    assert.equal(find('system/setProvider')[0]?.target?.name, 'gw')
    assert.equal(find('system/setProvider')[0]?.target?.class, 'HttpSMSProvider')
    assert.equal(find('system/setPolicy')[0]?.target?.name, 'p1')
    assert.equal(find('system/setConfig')[0]?.target?.keys, 'SMSBlockingTimeout,custom.key')
    assert.equal(find('system/delConfig')[0]?.target?.key, 'custom.key')
    assert.equal(find('system/testProvider')[0]?.target?.phone, '+49*******5432')
    const failed = find('admin/remove').find((r) => r.serial === 'NO-SUCH-TOKEN')
    assert.equal(failed?.result, false)
    assert.match(failed?.reason ?? '', /ERR_OTP_TOKEN_NOT_FOUND/)
    assert.equal(find('admin/remove').find((r) => r.serial === 'LSSMCAROL1')?.result, true)
    assert.equal(records.length, 13, 'one record per admin call')

    for (const record of records) {
      const line = JSON.stringify(record)
      for (const secret of [ADMIN_TOKEN, PIN, OTPKEY, GATEWAY_SECRET, '17098765432', '17098765433']) {
        assert.equal(line.includes(secret), false, `${secret} leaked: ${line}`)
      }
    }
  })

  it('threat: admin token guessing goes unnoticed — every refused credential is audited, without the credential', async () => {
    const r = await raw(`${h.url}/admin/show`, { method: 'POST', headers: bearer(WRONG), body: 'serial=LSSM0001' })
    assert.equal(r.status, 401)
    const none = await raw(`${h.url}/system/getConfig`, { method: 'POST', headers: form, body: '' })
    assert.equal(none.status, 401)
    const records = adminRecords(h).slice(-2)
    assert.deepEqual(records.map((a) => [a.endpoint, a.result, a.action, a.client]), [
      ['admin/show', false, 'credential refused', '127.0.0.1'],
      ['system/getConfig', false, 'credential refused', '127.0.0.1'],
    ])
    assert.match(records[0]?.reason ?? '', /wrong/)
    assert.match(records[1]?.reason ?? '', /missing/)
    assert.equal(JSON.stringify(records).includes(WRONG), false, 'the guessed token is not recorded')
    assert.equal(records[0]?.serial, '', 'an unauthenticated request is not parsed')
  })
})

describe('admin throttling', () => {
  let h: Harness
  let other: Agent
  before(async () => {
    h = await startHarness()
    other = new Agent({ localAddress: '127.0.0.2' })
  })
  after(async () => {
    await other.close()
    await h.close()
  })

  const show = (token: string, dispatcher?: Agent) =>
    raw(`${h.url}/admin/show`, { method: 'POST', headers: bearer(token), body: 'realm=example', ...(dispatcher ? { dispatcher } : {}) })

  it('threat: admin token guessing — repeated refusals from one address get 429 with Retry-After, another address is unaffected, success after the block clears it', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await show(WRONG)).status, 401, `guess ${i + 1}`)
    const blocked = await show(WRONG)
    assert.equal(blocked.status, 429)
    assert.equal(blocked.body.result.error.code, 'ERR_OTP_RATE_LIMITED')
    const retryAfter = Number(blocked.headers.get('retry-after'))
    assert.ok(retryAfter >= 1, `Retry-After: ${blocked.headers.get('retry-after')}`)
    assert.equal((await show(ADMIN_TOKEN)).status, 429, 'while blocked even the right token is not tried')

    const fromOther = await show(ADMIN_TOKEN, other)
    assert.equal(fromOther.status, 200, 'another address is not blocked')
    assert.equal(adminRecords(h).at(-1)?.client, '127.0.0.2')

    // A burst of blocked requests is summarised in the audit, not one record each.
    const before = adminRecords(h).length
    for (let i = 0; i < 16; i++) assert.equal((await show(WRONG)).status, 429)
    const summaries = adminRecords(h).slice(before)
    assert.ok(summaries.length >= 1 && summaries.length <= 5, `${summaries.length} records for 16 blocked requests`)
    assert.ok(summaries.every((a) => a.action === 'credential refused' && /rate limited/.test(a.reason) && a.client === '127.0.0.1'))

    h.clock.advance(retryAfter * 1000)
    assert.equal((await show(ADMIN_TOKEN)).status, 200, 'after the block the right token works')
    for (let i = 0; i < 5; i++) assert.equal((await show(WRONG)).status, 401, `success cleared the count: guess ${i + 1} is a plain 401`)
    assert.equal((await show(WRONG)).status, 429)
  })
})

describe('FailureThrottle', () => {
  const failTimes = (t: FailureThrottle, key: string, n: number) => Array.from({ length: n }, () => t.fail(key))

  it('threat: a patient guesser waits out each block — every further block of the address doubles, up to maxBlockMs', () => {
    const clock = new ManualClock()
    const t = new FailureThrottle({ maxFailures: 3, windowMs: 60_000, blockMs: 10_000, maxBlockMs: 35_000, clock })
    const blocks: Array<number | undefined> = []
    for (let round = 0; round < 4; round++) {
      const results = failTimes(t, 'a', 3)
      assert.deepEqual(results.slice(0, 2), [undefined, undefined])
      blocks.push(results[2])
      const state = t.check('a')
      assert.ok(state.blocked && state.retryAfterMs === results[2], `round ${round}`)
      clock.advance(results[2] ?? 0)
      assert.equal(t.check('a').blocked, false)
    }
    assert.deepEqual(blocks, [10_000, 20_000, 35_000, 35_000])
    t.succeed('a')
    assert.deepEqual(failTimes(t, 'a', 3), [undefined, undefined, 10_000], 'a success starts the address afresh')
  })
  it('refusals spread wider than the window do not block', () => {
    const clock = new ManualClock()
    const t = new FailureThrottle({ maxFailures: 3, windowMs: 1_000, clock })
    for (let i = 0; i < 10; i++) {
      assert.equal(t.fail('a'), undefined)
      if (i % 2 === 1) clock.advance(1_000)
    }
  })
  it('threat: a flood of source addresses exhausts memory — at most maxAddresses are remembered', () => {
    const t = new FailureThrottle({ maxAddresses: 100, clock: new ManualClock() })
    for (let i = 0; i < 5_000; i++) t.fail(`10.0.${i >> 8}.${i & 255}`)
    assert.equal(t.size, 100)
  })
  it('threat: an IPv6 host rotates addresses inside its /64 for a fresh budget — IPv6 is keyed by /64', () => {
    assert.equal(addressKey('2001:db8:1:2::1'), addressKey('2001:0db8:0001:0002:ffff:1:2:3'))
    assert.equal(addressKey('2001:db8:1:2::1'), '2001:0db8:0001:0002::/64')
    assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'))
    assert.equal(addressKey('::1'), '0000:0000:0000:0000::/64')
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0000:0000:0000::/64')
    assert.equal(addressKey('127.0.0.1'), '127.0.0.1')
  })
  it('bad options are coded TypeErrors', () => {
    assert.throws(() => new FailureThrottle({ maxFailures: 0 }), { code: 'ERR_OTP_INVALID_OPTION' })
    assert.throws(() => new FailureThrottle({ blockMs: 10_000, maxBlockMs: 5_000 }), /maxBlockMs/)
  })
})

describe('admin deadline', () => {
  let h: Harness
  before(async () => {
    h = await startHarness({ sidecar: { adminTimeoutMs: 300 } })
  })
  after(() => h.close())

  it('threat: a hanging admin operation (testProvider on a path that never settles) holds the request forever — it answers 504 within its deadline', async () => {
    h.otp.providers.test = () => new Promise(() => {}) // a provider operation that never settles
    const started = Date.now()
    const r = await raw(`${h.url}/system/testProvider`, { method: 'POST', headers: bearer(ADMIN_TOKEN), body: 'name=outbox' })
    assert.equal(r.status, 504)
    assert.equal(r.body.result.error.code, 'ERR_OTP_TIMEOUT')
    assert.ok(Date.now() - started >= 290, 'not before the deadline')
    const record = adminRecords(h).at(-1)
    assert.equal(record?.endpoint, 'system/testProvider')
    assert.equal(record?.result, false)
    assert.match(record?.reason ?? '', /ERR_OTP_TIMEOUT/)
    assert.equal((await h.admin('/admin/show', {})).status, 200, 'the admin API still answers')
  })
  it('an operation that finishes after its 504 leaves a second audit record and nothing breaks', async () => {
    let release: (value: []) => void = () => {}
    const show = h.otp.tokens.show
    h.otp.tokens.show = () => new Promise((ok) => (release = ok))
    try {
      const r = await raw(`${h.url}/admin/show`, { method: 'POST', headers: bearer(ADMIN_TOKEN), body: 'serial=LSSM0001' })
      assert.equal(r.status, 504)
      release([])
      for (let i = 0; i < 1000 && !/after its deadline/.test(adminRecords(h).at(-1)?.reason ?? ''); i++) await new Promise((ok) => setTimeout(ok, 5))
      const late = adminRecords(h).at(-1)
      assert.equal(late?.endpoint, 'admin/show')
      assert.equal(late?.result, true)
      assert.match(late?.reason ?? '', /finished after its deadline/)
    } finally {
      h.otp.tokens.show = show
    }
    assert.equal((await h.admin('/admin/show', {})).status, 200)
  })
})

describe('requests that must not act', () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
    await enrolAlice(h)
  })
  after(() => h.close())

  for (const endpoint of ['/validate/check', '/validate/simplecheck', '/validate/smspin', '/validate/check_s']) {
    it(`threat: a HEAD request (link prefetcher, monitoring probe) to ${endpoint} sends an SMS — it is refused with 405`, async () => {
      const r = await raw(`${h.url}${endpoint}?user=alice&serial=LSSM0001&pass=1234`, { method: 'HEAD' })
      assert.equal(r.status, 405)
      assert.equal(r.headers.get('allow'), 'GET, POST')
      assert.deepEqual(await h.sms(), [], 'no SMS')
      assert.equal((await h.otp.tokens.show({ serial: 'LSSM0001' }))[0]?.failcount, 0, 'nothing counted')
    })
  }
  it('threat: other methods (OPTIONS preflight, PUT) act like POST — refused with 405 and a coded error', async () => {
    for (const method of ['OPTIONS', 'PUT', 'DELETE']) {
      const r = await raw(`${h.url}/validate/check?user=alice&pass=1234`, { method })
      assert.equal(r.status, 405, method)
      assert.equal(r.body.result.error.code, 'ERR_OTP_METHOD_NOT_ALLOWED', method)
    }
    assert.deepEqual(await h.sms(), [])
  })
  it('threat: a HEAD request to an admin endpoint acts — refused with 405 after authentication', async () => {
    await h.post('/validate/check', { user: 'alice', pass: '9999' }) // one failure to reset
    const r = await raw(`${h.url}/admin/reset?serial=LSSM0001`, { method: 'HEAD', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    assert.equal(r.status, 405)
    assert.equal((await h.otp.tokens.show({ serial: 'LSSM0001' }))[0]?.failcount, 1, 'not reset')
  })
  it('GET and POST keep working (LinOTP clients use both)', async () => {
    const got = await h.get('/validate/check', { user: 'alice', pass: '1234' })
    assert.equal(got.body.detail?.message, 'sms submitted')
    assert.equal((await h.sms()).length, 1)
  })
})

describe('--no-get', () => {
  let h: Harness
  before(async () => {
    h = await startHarness({ sidecar: { noGet: true } })
    await enrolAlice(h)
  })
  after(() => h.close())

  it('threat: credentials in URLs end up in proxy and access logs — under noGet a GET carrying pass is refused and sends nothing', async () => {
    const r = await raw(`${h.url}/validate/check?user=alice&pass=1234`)
    assert.equal(r.status, 405)
    assert.equal(r.headers.get('allow'), 'POST')
    assert.equal(r.body.result.error.code, 'ERR_OTP_METHOD_NOT_ALLOWED')
    assert.deepEqual(await h.sms(), [])
    const inQuery = await raw(`${h.url}/validate/check?pass=1234`, { method: 'POST', headers: form, body: 'user=alice' })
    assert.equal(inQuery.status, 400, 'a POST with pass in the URL is refused too')
    assert.deepEqual(await h.sms(), [])
    const admin = await raw(`${h.url}/admin/set?serial=LSSM0001&pin=4321`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    assert.equal(admin.status, 405, 'an admin GET carrying a PIN')
  })
  it('GET without a credential and POST with one still work', async () => {
    const plain = await h.get('/validate/check', { user: 'alice' })
    assert.equal(plain.status, 200)
    assert.equal(plain.body.result.value, false)
    const posted = await h.post('/validate/check', { user: 'alice', pass: '1234' })
    assert.equal(posted.body.detail?.message, 'sms submitted')
    assert.equal((await h.sms()).length, 1)
  })
})

describe('separate admin listener', () => {
  let dir = ''
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-admin-port-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('threat: the admin API is reachable wherever validate is — with adminPort the main listener answers 404 for /admin and /system, the admin listener serves them', async () => {
    const running = await serve({ port: 0, adminPort: 0, dataDir: dir, logger: silentLogger, env: { SMS_OTP_ADMIN_TOKEN: ADMIN_TOKEN } })
    try {
      assert.ok(running.adminUrl && running.adminUrl !== running.url, `admin url ${running.adminUrl}`)
      for (const path of ['/admin/show', '/system/getConfig']) {
        const main = await raw(`${running.url}${path}`, { method: 'POST', headers: bearer(ADMIN_TOKEN), body: '' })
        assert.equal(main.status, 404, `main ${path}`)
        assert.equal(main.body.result.error.code, 'ERR_OTP_NOT_FOUND')
        assert.equal((await raw(`${running.adminUrl}${path}`, { method: 'POST', headers: bearer(ADMIN_TOKEN), body: '' })).status, 200, `admin ${path}`)
      }
      assert.equal((await raw(`${running.url}/validate/check`, { method: 'POST', headers: form, body: 'user=nobody&pass=x' })).status, 200)
      assert.equal((await raw(`${running.adminUrl}/validate/check`, { method: 'POST', headers: form, body: 'user=nobody&pass=x' })).status, 404)
    } finally {
      await running.close()
    }
    assert.equal(running.server.listening, false)
    assert.equal(running.adminServer?.listening, false, 'both listeners are closed')
  })
})
