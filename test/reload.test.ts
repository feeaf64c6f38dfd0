/**
 * Config reload (SIGHUP, `RunningSidecar.reload()`) and graceful shutdown (SIGTERM) of
 * `sms-otp serve`: a good file is applied, a broken one changes nothing and the log says why, the
 * sidecar keeps answering throughout; a request in flight when SIGTERM arrives gets its answer
 * and the process exits 0.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { serve, type RunningSidecar } from '../src/sidecar/serve.js'
import { startGateway, type Gateway } from './helpers/gateway.js'
import { recordingLogger } from './helpers/harness.js'
import { startServeProcess, type ServeProcess } from './helpers/serve-process.js'

const TOKEN = 'reload-test-admin-token-0123456789'

function config(blocking: string, providerTimeout: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    realms: [{ name: 'example', default: true }],
    providers: [{ name: 'gw', class: 'HttpSMSProvider', config: { URL: 'http://127.0.0.1:9/send', RETURN_SUCCESS: 'OK' }, timeout: providerTimeout, default: true }],
    config: { SMSBlockingTimeout: blocking },
    tokens: [{ serial: 'LSRELOAD1', user: 'alice', realm: 'example', phone: '+4915112345678', pin: '1234' }],
    ...extra,
  }
}

/** Polls until `check` holds (bounded by the test's own timeout, never by a wall-clock assertion). */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await check()) return
    await new Promise((ok) => setTimeout(ok, 20))
  }
  assert.fail(`gave up waiting for ${what}`)
}

async function admin(url: string, path: string, params: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: new URLSearchParams(params) })
  assert.equal(res.status, 200)
  return ((await res.json()) as { result: { value: Record<string, unknown> } }).result.value
}

describe('reload() in process', () => {
  let dir: string
  let file: string
  let running: RunningSidecar
  const lines: string[] = []
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-reload-'))
    file = join(dir, 'config.json')
    await writeFile(file, JSON.stringify(config('30', 120)))
    running = await serve({ port: 0, dataDir: join(dir, 'data'), configFile: file, logger: recordingLogger(lines), env: { SMS_OTP_ADMIN_TOKEN: TOKEN } })
  })
  after(async () => {
    await running?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('a good file is applied', async () => {
    await writeFile(file, JSON.stringify(config('45', 300)))
    assert.deepEqual(await running.reload(), { ok: true })
    assert.equal(running.otp.config.get().SMSBlockingTimeout, '45')
    assert.equal(running.otp.providers.list().find((p) => p.name === 'gw')?.timeout, 300)
    assert.ok(lines.some((l) => l.includes('"msg":"config reloaded"')))
  })

  it('a file that fails validation changes nothing and the reason is logged and returned', async () => {
    const bad = config('60', 600, { policies: [{ name: 'p', scope: 'authentication', action: 'sms_provider=' }] })
    await writeFile(file, JSON.stringify(bad))
    const r = await running.reload()
    assert.equal(r.ok, false)
    assert.match(r.error ?? '', /config\.json: policies: /)
    assert.equal(running.otp.config.get().SMSBlockingTimeout, '45', 'the config keys before the bad section were not applied')
    assert.equal(running.otp.providers.list().find((p) => p.name === 'gw')?.timeout, 300)
    const logged = lines.find((l) => l.includes('config reload refused'))
    assert.ok(logged)
    assert.match(logged, /policies/)

    await writeFile(file, '{"config": {"SMSBlockingTimeout": "60"},')
    const syntax = await running.reload()
    assert.equal(syntax.ok, false)
    assert.match(syntax.error ?? '', /not valid JSON/)
    assert.equal(running.otp.config.get().SMSBlockingTimeout, '45')
    await writeFile(file, '{}')
    await rm(file)
    assert.match((await running.reload()).error ?? '', /cannot read \(ENOENT\)/)
    // Still serving.
    assert.equal((await fetch(`${running.url}/healthz`)).status, 200)
  })

  it('refuses the reserved SMSAE serial prefix while validating, before anything is written', async () => {
    await writeFile(file, JSON.stringify(config('50', 300, { tokens: [{ serial: 'SMSAE0001', user: 'bob', realm: 'example', phone: '+4915187654321' }] })))
    const r = await running.reload()
    assert.equal(r.ok, false)
    assert.match(r.error ?? '', /SMSAE is reserved/)
    assert.notEqual(running.otp.config.get().SMSBlockingTimeout, '50', 'nothing was applied')
  })

  it('documents the limit: a store that fails while applying leaves the sections before the failure applied', async () => {
    await writeFile(file, JSON.stringify(config('50', 300, { tokens: [{ serial: 'LSSM0777', user: 'bob', realm: 'example', phone: '+4915187654321' }] })))
    const tokens = running.otp.core.store.tokens
    const create = tokens.create.bind(tokens)
    tokens.create = async () => {
      throw new Error('disk full')
    }
    try {
      const r = await running.reload()
      assert.equal(r.ok, false)
      assert.match(r.error ?? '', /disk full/)
    } finally {
      tokens.create = create
    }
    assert.equal(running.otp.config.get().SMSBlockingTimeout, '50', 'config keys were written before the store failed')
    assert.ok(lines.some((l) => l.includes('config reload failed while applying')))
  })

  it('reload without a config file is refused', async () => {
    const other = await serve({ port: 0, dataDir: join(dir, 'data2'), env: { LOG_LEVEL: 'silent' } })
    try {
      assert.deepEqual(await other.reload(), { ok: false, error: 'no config file to reload (start with --config FILE)' })
    } finally {
      await other.close()
    }
  })
})

describe('sms-otp serve --config: SIGHUP', () => {
  let dir: string
  let file: string
  let server: ServeProcess
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-sighup-'))
    file = join(dir, 'config.json')
    await writeFile(file, JSON.stringify(config('30', 120)))
    server = await startServeProcess(['--port', '0', '--data-dir', join(dir, 'data'), '--config', file], { cwd: dir, env: { SMS_OTP_ADMIN_TOKEN: TOKEN } })
  })
  after(async () => {
    await server?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const hups = (): number => server.stdout().match(/SIGHUP: /g)?.length ?? 0
  const hup = async (): Promise<string> => {
    const before = hups()
    process.kill(server.child.pid as number, 'SIGHUP')
    await until(() => hups() > before, 'the SIGHUP outcome')
    return server.stdout().split('\n').filter((l) => l.startsWith('SIGHUP: ')).at(-1) as string
  }

  it('a good file: the change is in force (getConfig, getProvider)', async () => {
    assert.deepEqual(await admin(server.url, '/system/getConfig', { key: 'SMSBlockingTimeout' }), { 'getConfig SMSBlockingTimeout': '30' })
    await writeFile(file, JSON.stringify(config('45', 300)))
    assert.equal(await hup(), 'SIGHUP: configuration reloaded')
    assert.deepEqual(await admin(server.url, '/system/getConfig', { key: 'SMSBlockingTimeout' }), { 'getConfig SMSBlockingTimeout': '45' })
    assert.equal(((await admin(server.url, '/system/getProvider', { name: 'gw' })).gw as { Timeout: string }).Timeout, '300')
  })

  it('a broken file: refused, the old values stay, the log names the reason, the process keeps serving', async () => {
    await writeFile(file, JSON.stringify(config('60', 600, { providers: [{ name: 'gw', class: 'NoSuchSMSProvider', config: {}, timeout: 600 }] })))
    assert.equal(await hup(), 'SIGHUP: configuration reload refused (see the log)')
    assert.deepEqual(await admin(server.url, '/system/getConfig', { key: 'SMSBlockingTimeout' }), { 'getConfig SMSBlockingTimeout': '45' })
    assert.equal(((await admin(server.url, '/system/getProvider', { name: 'gw' })).gw as { Timeout: string }).Timeout, '300')
    const logged = server.stdout().split('\n').find((l) => l.includes('config reload refused'))
    assert.ok(logged, 'a log line for the refusal')
    const entry = JSON.parse(logged) as { level: number; err: string; file: string }
    assert.equal(entry.level, 50)
    assert.equal(entry.file, file)
    assert.match(entry.err, /providers: gw: .*NoSuchSMSProvider/)
    assert.equal(server.child.exitCode, null)
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200)
  })
})

describe('sms-otp serve: SIGTERM drains', () => {
  let dir: string
  let gateway: Gateway
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-drain-'))
    // The gateway answers after a while, so the request is still running when SIGTERM arrives.
    gateway = await startGateway({ behaviour: { body: 'OK', delayMs: 1500 } })
    const cfg = config('30', 120)
    cfg.providers = [{ name: 'gw', class: 'HttpSMSProvider', config: { URL: gateway.url, HTTP_Method: 'POST', RETURN_SUCCESS: 'OK' }, timeout: 120, default: true }]
    await writeFile(join(dir, 'config.json'), JSON.stringify(cfg))
  })
  after(async () => {
    await gateway?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('a request in flight when SIGTERM arrives gets its answer; the process exits 0', { timeout: 60_000 }, async () => {
    const server = await startServeProcess(['--port', '0', '--data-dir', join(dir, 'data'), '--config', join(dir, 'config.json')], { cwd: dir, env: { SMS_OTP_ADMIN_TOKEN: TOKEN } })
    const exited = new Promise<number | null>((ok) => server.child.once('exit', (code) => ok(code)))
    const answer = fetch(`${server.url}/validate/check`, { method: 'POST', body: new URLSearchParams({ user: 'alice', pass: '1234' }) })
    await until(() => gateway.requests.length === 1, 'the SMS to reach the gateway')
    process.kill(server.child.pid as number, 'SIGTERM')
    await until(() => server.stdout().includes('SIGTERM: shutting down'), 'the shutdown to begin')
    // New connections are refused once the shutdown began...
    await assert.rejects(fetch(`${server.url}/healthz`))
    // ...but the running request is answered.
    const res = await answer
    assert.equal(res.status, 200)
    const body = (await res.json()) as { result: { value: boolean }; detail: { message: string } }
    assert.equal(body.detail.message, 'sms submitted')
    assert.equal(await gateway.requests[0]?.ended, 'answered')
    assert.equal(await exited, 0)
  })
})
