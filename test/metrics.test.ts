/**
 * Prometheus metrics (`sms-otp serve --metrics` / `--metrics-port`): scraped after real traffic
 * (SMS through a loopback HTTP gateway, a failover from a refusing gateway, a wrong and a right
 * OTP), the counters must say exactly what happened; the admin-side variant wants the admin token;
 * nothing is served unless asked for; no user, serial, phone or OTP ever becomes a label.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ManualClock } from '../src/clock.js'
import { createMetrics } from '../src/metrics/index.js'
import { Failover } from '../src/providers/failover.js'
import type { LoadedProvider } from '../src/providers/loader.js'
import type { SendResult } from '../src/providers/types.js'
import { serve, type RunningSidecar } from '../src/sidecar/serve.js'
import { createSidecar } from '../src/sidecar/app.js'
import { createSmsOtp } from '../src/sms-otp.js'
import { silentLogger } from '../src/logger.js'
import { startGateway, type Gateway } from './helpers/gateway.js'
import { startServeProcess } from './helpers/serve-process.js'

const TOKEN = 'metrics-test-admin-token-0123456789'
const PHONE = '+4915112345678'

interface Sample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

/** Parses the Prometheus text format (the sample lines). */
function parse(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    assert.ok(m, `not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string
    out.push({ name: m[1] as string, labels, value: Number(m[3]) })
  }
  return out
}

/** The value of the sample with exactly these labels; undefined when there is none. */
function value(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort())
  return samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value
}

/** A loopback port nobody listens on: connecting is refused at once. */
async function refusedUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const { port } = server.address() as AddressInfo
  await new Promise((ok) => server.close(ok))
  return `http://127.0.0.1:${port}/send`
}

function configFor(dead: string, live: string): Record<string, unknown> {
  const http = (url: string) => ({ URL: url, HTTP_Method: 'POST', RETURN_SUCCESS: 'OK', timeout: '5' })
  return {
    realms: [{ name: 'example', default: true }],
    providers: [
      { name: 'dead', class: 'HttpSMSProvider', config: http(dead), timeout: 120 },
      { name: 'live', class: 'HttpSMSProvider', config: http(live), timeout: 120, default: true },
    ],
    policies: [{ name: 'chain', scope: 'authentication', action: 'sms_provider=dead live', realm: 'example', user: '*', client: '*' }],
    tokens: [
      { serial: 'LSMET0001', user: 'alice', realm: 'example', phone: PHONE, pin: '1234' },
      { serial: 'LSMET0002', user: 'bob', realm: 'example', phone: '+4915187654321', pin: '5678' },
    ],
  }
}

async function post(url: string, params: Record<string, string>, token?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: new URLSearchParams(params),
  })
  return { status: res.status, text: await res.text() }
}

async function scrape(url: string, token?: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`${url}/metrics`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() }
}

describe('metrics on the admin side (serve --metrics)', () => {
  let dir: string
  let gateway: Gateway
  let running: RunningSidecar
  const otps: string[] = []
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-metrics-'))
    gateway = await startGateway({ behaviour: { body: 'OK' } })
    await writeFile(join(dir, 'config.json'), JSON.stringify(configFor(await refusedUrl(), gateway.url)))
    running = await serve({ port: 0, dataDir: join(dir, 'data'), configFile: join(dir, 'config.json'), metrics: true, env: { SMS_OTP_ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'silent' } })
  })
  after(async () => {
    await running?.close()
    await gateway?.close()
    await rm(dir, { recursive: true, force: true })
  })

  const otpOf = (i: number): string => gateway.requests[i]?.form.find(([k]) => k === 'sms')?.[1] ?? ''

  it('counts exactly the traffic that happened', async () => {
    // 1. alice: dead refuses the connection, live delivers (one failover dead → live).
    const first = JSON.parse((await post(`${running.url}/validate/check`, { user: 'alice', pass: '1234' })).text)
    assert.equal(first.detail.message, 'sms submitted')
    const tx = first.detail.transactionid as string
    assert.equal(gateway.requests.length, 1)
    otps.push(otpOf(0))
    // 2. a wrong OTP, then 3. the right one.
    const wrong = otps[0] === '000000' ? '111111' : '000000'
    assert.equal(JSON.parse((await post(`${running.url}/validate/check`, { user: 'alice', transactionid: tx, pass: `1234${wrong}` })).text).result.value, false)
    assert.equal(JSON.parse((await post(`${running.url}/validate/check`, { user: 'alice', transactionid: tx, pass: `1234${otps[0]}` })).text).result.value, true)
    // 4. bob: dead is backing off now, so it is passed over without a send (a second failover).
    const second = JSON.parse((await post(`${running.url}/validate/check`, { user: 'bob', pass: '5678' })).text)
    assert.equal(second.detail.message, 'sms submitted')
    assert.equal(gateway.requests.length, 2)
    otps.push(otpOf(1))
    // 5. simplecheck with a wrong PIN: rejected, no SMS.
    assert.equal((await post(`${running.url}/validate/simplecheck`, { user: 'bob', pass: '0000' })).text, ':-(')

    const r = await scrape(running.url, TOKEN)
    assert.equal(r.status, 200)
    assert.match(r.type ?? '', /^text\/plain; version=0\.0\.4/)
    const s = parse(r.text)
    assert.equal(value(s, 'sms_otp_sms_sent_total', { provider: 'dead', result: 'unavailable' }), 1)
    assert.equal(value(s, 'sms_otp_sms_sent_total', { provider: 'live', result: 'sent' }), 2)
    assert.deepEqual(s.filter((x) => x.name === 'sms_otp_sms_sent_total').length, 2, 'no other send results')
    assert.equal(value(s, 'sms_otp_sms_send_duration_seconds_count', { provider: 'dead' }), 1)
    assert.equal(value(s, 'sms_otp_sms_send_duration_seconds_count', { provider: 'live' }), 2)
    assert.equal(value(s, 'sms_otp_failovers_total', { from: 'dead', to: 'live' }), 2)
    assert.equal(value(s, 'sms_otp_provider_backoff', { provider: 'dead' }), 1)
    assert.equal(value(s, 'sms_otp_provider_backoff', { provider: 'live' }), 0)
    assert.equal(value(s, 'sms_otp_validate_requests_total', { endpoint: 'check', outcome: 'challenge' }), 2)
    assert.equal(value(s, 'sms_otp_validate_requests_total', { endpoint: 'check', outcome: 'rejected' }), 1)
    assert.equal(value(s, 'sms_otp_validate_requests_total', { endpoint: 'check', outcome: 'accepted' }), 1)
    assert.equal(value(s, 'sms_otp_validate_requests_total', { endpoint: 'simplecheck', outcome: 'rejected' }), 1)
    assert.equal(s.filter((x) => x.name === 'sms_otp_validate_requests_total').length, 4, 'no other endpoint/outcome pairs')
    // alice's challenge closed with her right answer; bob's is open.
    assert.equal(value(s, 'sms_otp_open_challenges'), 1)
    // Every trigger issued a challenge through the wrapped store, and each was timed.
    assert.equal(value(s, 'sms_otp_store_operation_duration_seconds_count', { op: 'challenges.issue' }), 2)
    assert.equal(value(s, 'sms_otp_store_operation_duration_seconds_count', { op: 'challenges.accept' }), 1)
    // Off unless asked for: no process metrics.
    assert.equal(s.some((x) => x.name.includes('process_cpu')), false)
  })

  it('no user, serial, phone, transaction id or OTP appears in the scrape', async () => {
    const { text } = await scrape(running.url, TOKEN)
    for (const secret of ['alice', 'bob', 'LSMET', PHONE, '4915112345678', '15112345678', ...otps]) {
      assert.ok(secret.length >= 3)
      assert.equal(text.includes(secret), false, `${secret} is in the scrape`)
    }
  })

  it('401 without the admin token, or with a wrong one', async () => {
    const none = await scrape(running.url)
    assert.equal(none.status, 401)
    assert.equal(none.text.includes('sms_otp_'), false)
    const wrong = await scrape(running.url, `${TOKEN}x`)
    assert.equal(wrong.status, 401)
  })
})

describe('metrics with --admin-port', () => {
  it('/metrics is on the admin listener, behind the token; the main listener answers 404', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sms-otp-metrics-admin-'))
    const running = await serve({ port: 0, adminPort: 0, metrics: true, dataDir: join(dir, 'data'), env: { SMS_OTP_ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'silent' } })
    try {
      assert.ok(running.adminUrl)
      assert.equal((await scrape(running.url, TOKEN)).status, 404)
      assert.equal((await scrape(running.adminUrl)).status, 401)
      const r = await scrape(running.adminUrl, TOKEN)
      assert.equal(r.status, 200)
      assert.equal(value(parse(r.text), 'sms_otp_open_challenges'), 0)
    } finally {
      await running.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('metrics are off by default', () => {
  let dir: string
  let running: RunningSidecar
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-metrics-off-'))
    running = await serve({ port: 0, dataDir: join(dir, 'data'), env: { SMS_OTP_ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'silent' } })
  })
  after(async () => {
    await running?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('/metrics answers 404, even with the admin token', async () => {
    assert.equal((await scrape(running.url, TOKEN)).status, 404)
    assert.equal(running.otp.metrics, undefined)
    assert.equal(running.metricsUrl, undefined)
  })

  it('--metrics without an admin token is refused at start', async () => {
    await assert.rejects(serve({ port: 0, dataDir: join(dir, 'data2'), metrics: true, env: { LOG_LEVEL: 'silent' } }), /--metrics/)
  })
})

describe('metrics on a listener of their own (serve --metrics-port)', () => {
  it('serves /metrics there without a credential; the main listener answers 404 for it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sms-otp-metrics-port-'))
    const running = await serve({ port: 0, metricsPort: 0, dataDir: join(dir, 'data'), env: { SMS_OTP_ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'silent' } })
    try {
      assert.ok(running.metricsUrl)
      const r = await scrape(running.metricsUrl)
      assert.equal(r.status, 200)
      assert.equal(value(parse(r.text), 'sms_otp_open_challenges'), 0)
      assert.equal((await scrape(running.url, TOKEN)).status, 404)
      assert.equal((await fetch(`${running.metricsUrl}/validate/check`)).status, 404, 'only /metrics there')
    } finally {
      await running.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('the CLI: --metrics-port and --process-metrics', { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sms-otp-metrics-cli-'))
    const server = await startServeProcess(['--port', '0', '--data-dir', join(dir, 'data'), '--metrics-port', '0', '--process-metrics'], { cwd: dir, ready: /metrics on http:\/\/\S+\/metrics/ })
    try {
      const url = /metrics on (http:\/\/\S+)\/metrics/.exec(server.stdout())?.[1]
      assert.ok(url)
      const r = await scrape(url)
      assert.equal(r.status, 200)
      const s = parse(r.text)
      assert.ok((value(s, 'sms_otp_process_cpu_user_seconds_total') ?? -1) >= 0)
      assert.equal(value(s, 'sms_otp_open_challenges'), 0)
    } finally {
      await server.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('createMetrics', () => {
  it('two engines in one process keep separate registries (no clash, no shared counts)', async () => {
    const a = createMetrics({ defaultMetrics: true })
    const b = createMetrics({ defaultMetrics: true })
    a.attempt('gw', 'sent', 0.01)
    a.validate('check', 'accepted')
    const sa = parse(await a.registry.metrics())
    const sb = parse(await b.registry.metrics())
    assert.equal(value(sa, 'sms_otp_sms_sent_total', { provider: 'gw', result: 'sent' }), 1)
    assert.equal(value(sb, 'sms_otp_sms_sent_total', { provider: 'gw', result: 'sent' }), undefined)
    assert.equal(value(sa, 'sms_otp_validate_requests_total', { endpoint: 'check', outcome: 'accepted' }), 1)
    assert.ok(sb.some((x) => x.name === 'sms_otp_process_cpu_user_seconds_total'))
  })
})

describe('docs/grafana-dashboard.json', () => {
  it('queries only series the engine exports, and each of them', async () => {
    const dashboard = await readFile(new URL('../docs/grafana-dashboard.json', import.meta.url), 'utf8')
    const used = new Set([...dashboard.matchAll(/\b(sms_otp_\w+?)(?:_bucket|_count|_sum)?\{/g)].map((m) => m[1] as string))
    const metrics = createMetrics()
    const exported = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name))
    assert.deepEqual([...used].sort(), [...exported].sort())
  })
})

describe('Failover instrumentation hooks', () => {
  const provider = (name: string, send: (signal: AbortSignal) => Promise<SendResult>): LoadedProvider => ({
    name, timeout: 120, rewrite: { msisdn: false, suppressPrefix: '' }, instance: { send: (_msg, signal) => send(signal) },
  })
  const msg = { phone: '+4915112345678', text: '123456', transactionId: '1' }

  it('timeout, unavailable, rejected and sent each count under their provider; failovers name both ends', async () => {
    const clock = new ManualClock()
    const metrics = createMetrics()
    // attemptMs 50: the deadline answers for a provider that ignores its signal.
    const failover = new Failover(clock, { attemptMs: 50 }, metrics)
    const hangs = provider('hangs', () => new Promise<SendResult>(() => {}))
    const down = provider('down', async () => ({ status: 'unavailable', reason: 'connection refused' }))
    const says = provider('says-no', async () => ({ status: 'rejected', reason: 'invalid destination' }))
    const ok = provider('ok', async () => ({ status: 'sent' }))
    assert.deepEqual(await failover.send([hangs, down, says, ok], msg), { status: 'rejected', provider: 'says-no', reason: 'invalid destination' })
    // Both failed providers back off now: the next send passes over them to ok.
    assert.deepEqual(await failover.send([hangs, down, ok], msg), { status: 'sent', provider: 'ok' })
    metrics.bind({ openChallenges: async () => 0, providers: () => ['hangs', 'down', 'says-no', 'ok'], blockedProviders: () => failover.blockedProviders() })
    const s = parse(await metrics.registry.metrics())
    assert.equal(value(s, 'sms_otp_sms_sent_total', { provider: 'hangs', result: 'timeout' }), 1)
    assert.equal(value(s, 'sms_otp_sms_sent_total', { provider: 'down', result: 'unavailable' }), 1)
    assert.equal(value(s, 'sms_otp_sms_sent_total', { provider: 'says-no', result: 'rejected' }), 1)
    assert.equal(value(s, 'sms_otp_sms_sent_total', { provider: 'ok', result: 'sent' }), 1)
    assert.equal(value(s, 'sms_otp_failovers_total', { from: 'hangs', to: 'down' }), 1)
    assert.equal(value(s, 'sms_otp_failovers_total', { from: 'down', to: 'says-no' }), 1)
    assert.equal(value(s, 'sms_otp_failovers_total', { from: 'down', to: 'ok' }), 1, 'passed over while backing off')
    assert.equal(s.filter((x) => x.name === 'sms_otp_failovers_total').length, 3)
    assert.deepEqual(['hangs', 'down', 'says-no', 'ok'].map((provider) => value(s, 'sms_otp_provider_backoff', { provider })), [1, 1, 0, 0])
    clock.advance(31_000)
    const later = parse(await metrics.registry.metrics())
    assert.equal(value(later, 'sms_otp_provider_backoff', { provider: 'hangs' }), 0, 'the gauge follows the clock, not events')
  })
})

describe('validate outcome error', () => {
  it('a store failure during /validate/check counts as outcome error', async () => {
    const metrics = createMetrics()
    const otp = await createSmsOtp({ metrics })
    await otp.tokens.init({ serial: 'LSERR1', user: 'carol', phone: '+4915112345678', pin: '1234' })
    const server = createSidecar({ otp, logger: silentLogger }).listen(0, '127.0.0.1')
    await new Promise((ok) => server.once('listening', ok))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      // The wrapped store's methods are plain properties: break token reads from now on.
      otp.core.store.tokens.list = async () => {
        throw new Error('disk on fire')
      }
      const r = await post(`${url}/validate/check`, { user: 'carol', pass: '1234' })
      assert.equal(JSON.parse(r.text).result.value ?? false, false)
      const s = parse(await metrics.registry.metrics())
      assert.equal(value(s, 'sms_otp_validate_requests_total', { endpoint: 'check', outcome: 'error' }), 1)
      assert.equal(s.filter((x) => x.name === 'sms_otp_validate_requests_total').length, 1)
    } finally {
      await new Promise((ok) => server.close(ok))
      await otp.close()
    }
  })
})
