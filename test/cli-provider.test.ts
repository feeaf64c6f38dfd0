/**
 * Issue 10: `sms-otp provider list` and `sms-otp provider test NAME --to NUMBER`, on the local data
 * directory and through a running sidecar (`--url`). A loopback HTTP gateway answers; a dead one
 * (a closed port) gives the classified error and exit code 1. Configs and full numbers never show.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { silentLogger } from '../src/logger.js'
import { serve, type RunningSidecar } from '../src/sidecar/serve.js'
import { startGateway, type Gateway } from './helpers/gateway.js'
import { cli, runInProcess as run } from './helpers/cli.js'

const PHONE = '+4915112345678'
const MASKED = '+49*******5678'
const TOKEN = 'cli-provider-test-admin-token'

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const { port } = server.address() as { port: number }
  await new Promise((ok) => server.close(ok))
  return port
}

let dir = ''
let dataDir = ''
let configFile = ''
let gw: Gateway
let refusing: Gateway

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sms-otp-cli-provider-'))
  dataDir = join(dir, 'data')
  gw = await startGateway({ behaviour: { body: 'ID: 4711' } })
  refusing = await startGateway({ behaviour: { body: 'ERROR: no credit' } })
  const http = (url: string) => ({ URL: `${url}/send`, PARAMETER: { password: 'gw-secret-password' }, SMS_TEXT_KEY: 'text', SMS_PHONENUMBER_KEY: 'to', HTTP_Method: 'GET', RETURN_SUCCESS: 'ID' })
  configFile = join(dir, 'sms-otp.json')
  await writeFile(configFile, JSON.stringify({
    providers: [
      { name: 'gw', class: 'HttpSMSProvider', config: http(gw.url), timeout: 120, default: true },
      { name: 'refusing', class: 'HttpSMSProvider', config: http(refusing.url), timeout: 300 },
      { name: 'dead', class: 'HttpSMSProvider', config: http(`http://127.0.0.1:${await closedPort()}`), timeout: 60 },
    ],
  }))
  // A first start creates the database and its key, with the providers in it.
  const first = await serve({ port: 0, host: '127.0.0.1', dataDir, configFile, logger: silentLogger, env: {} })
  await first.close()
})
after(async () => {
  await gw.close()
  await refusing.close()
  await rm(dir, { recursive: true, force: true })
})

describe('sms-otp provider, local data directory', () => {
  it('list (a process): name, class, timeout, default; never the config', async () => {
    const r = await cli(['provider', 'list', '--data-dir', dataDir])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^gw \(default\) {2}HttpSMSProvider {2}timeout 120s$/m)
    assert.match(r.stdout, /^refusing {2}HttpSMSProvider {2}timeout 300s$/m)
    assert.doesNotMatch(r.stdout, /gw-secret-password|PARAMETER|127\.0\.0\.1/)
  })

  it('list --json', async () => {
    const r = await run(['provider', 'list', '--data-dir', dataDir, '--json'])
    assert.equal(r.error, undefined)
    const rows = (JSON.parse(r.stdout) as Array<{ name: string }>).sort((a, b) => a.name.localeCompare(b.name))
    assert.deepEqual(rows, [
      { name: 'dead', class: 'HttpSMSProvider', timeout: 60, default: false },
      { name: 'gw', class: 'HttpSMSProvider', timeout: 120, default: true },
      { name: 'refusing', class: 'HttpSMSProvider', timeout: 300, default: false },
    ])
    assert.doesNotMatch(r.stdout, /gw-secret-password/)
  })

  it('test (a process): ONE SMS at the gateway, its answer and the time, the number masked', async () => {
    gw.reset({ body: 'ID: 4711' })
    const r = await cli(['provider', 'test', 'gw', '--to', PHONE, '--data-dir', dataDir])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(gw.requests.length, 1, 'one SMS')
    assert.deepEqual(gw.requests[0]?.query.find(([k]) => k === 'to'), ['to', PHONE])
    assert.match(r.stdout, new RegExp(`^provider gw → ${MASKED.replace(/[+*]/g, '\\$&')}: sent \\(\\d+ ms\\)\\n$`))
    assert.doesNotMatch(r.stdout + r.stderr, /4915112345678/)
  })

  it('test a gateway that refuses: rejected with its reason, exit code 1', async () => {
    const r = await run(['provider', 'test', 'refusing', '--to', PHONE, '--data-dir', dataDir, '--json'])
    assert.match(String(r.error?.message), /provider refusing: test SMS not sent \(rejected\)/)
    const out = JSON.parse(r.stdout) as { status: string; reason: string; to: string; ms: number }
    assert.equal(out.status, 'rejected')
    assert.match(out.reason, /did not match RETURN_SUCCESS/)
    assert.equal(out.to, MASKED)
    assert.equal(typeof out.ms, 'number')
    assert.equal(refusing.requests.length, 1)
  })

  it('test a dead gateway (a process): unavailable with the reason, exit code 1', async () => {
    const r = await cli(['provider', 'test', 'dead', '--to', PHONE, '--data-dir', dataDir])
    assert.equal(r.code, 1)
    assert.match(r.stdout, /^provider dead → \+49\*{7}5678: unavailable: .*(ECONNREFUSED|refused|connect)/im)
    assert.match(r.stderr, /provider dead: test SMS not sent \(unavailable\)/)
    assert.doesNotMatch(r.stdout + r.stderr, /4915112345678/)
  })

  it('an unknown provider or a bad number: a clear error, nothing sent', async () => {
    gw.reset({ body: 'ID: 1' })
    const unknown = await run(['provider', 'test', 'nope', '--to', PHONE, '--data-dir', dataDir])
    assert.match(String(unknown.error?.message), /nope/)
    const bad = await run(['provider', 'test', 'gw', '--to', 'call me', '--data-dir', dataDir])
    assert.ok(bad.error !== undefined)
    assert.equal(gw.requests.length, 0)
  })
})

describe('sms-otp provider --url (a running sidecar)', () => {
  let running: RunningSidecar
  before(async () => {
    running = await serve({ port: 0, host: '127.0.0.1', dataDir, logger: silentLogger, env: { SMS_OTP_ADMIN_TOKEN: TOKEN } })
  })
  after(() => running.close())
  const remote = () => ['--url', running.url, '--token', TOKEN]

  it('list: the same rows, no config', async () => {
    const r = await run(['provider', 'list', ...remote(), '--json'])
    assert.equal(r.error, undefined)
    const rows = JSON.parse(r.stdout) as Array<{ name: string; class: string; timeout: number; default: boolean }>
    assert.deepEqual(rows.find((x) => x.name === 'gw'), { name: 'gw', class: 'HttpSMSProvider', timeout: 120, default: true })
    assert.equal(rows.length, 3)
    assert.doesNotMatch(r.stdout, /gw-secret-password/)
  })

  it('test: sent through /system/testProvider', async () => {
    gw.reset({ body: 'ID: 4712' })
    const r = await run(['provider', 'test', 'gw', '--to', PHONE, ...remote()])
    assert.equal(r.error, undefined, String(r.error))
    assert.equal(gw.requests.length, 1)
    assert.match(r.stdout, /^provider gw → \+49\*{7}5678: sent \(\d+ ms\)$/m)
  })

  it('test a dead gateway: unavailable, exit code 1', async () => {
    const r = await run(['provider', 'test', 'dead', '--to', PHONE, ...remote(), '--json'])
    assert.match(String(r.error?.message), /\(unavailable\)/)
    const out = JSON.parse(r.stdout) as { status: string; reason?: string }
    assert.equal(out.status, 'unavailable')
    assert.ok((out.reason ?? '') !== '', 'the reason is shown')
    assert.doesNotMatch(r.stdout, /4915112345678/)
  })
})
