/**
 * Issue 6, finding 1 (and the deadline part of finding 8): a leaked admin token must not equal a
 * shell on the host. Every test drives the real sidecar over HTTP; the admin API is the attacker's
 * door, the library / config file the operator's. Files live in mkdtemp directories; the gateway
 * is a real HTTP server on loopback; DNS answers come from an injected resolver (`resources.lookup`)
 * so that a name can "resolve" to a link-local or loopback address without touching real DNS.
 */
import assert from 'node:assert/strict'
import type { LookupAddress } from 'node:dns'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startServeProcess, type ServeProcess } from './helpers/serve-process.js'
import { withDeadline } from '../src/providers/deadline.js'
import { classifyAddress } from '../src/providers/destinations.js'
import { ProviderRegistry } from '../src/providers/registry.js'
import { parseConfig } from '../src/sidecar/config-file.js'
import { createSmsOtp } from '../src/sms-otp.js'
import type { ProviderClass } from '../src/providers/types.js'
import { startGateway, type Gateway } from './helpers/gateway.js'
import { enrolAlice, startHarness, type Harness, type Reply } from './helpers/harness.js'

const PHONE = '+4915112345678'

/** A 403 ERR_OTP_RESOURCE_NOT_ALLOWED whose message matches `message`. */
function assertRefused(r: Reply, message: RegExp): void {
  assert.equal(r.status, 403, JSON.stringify(r.body))
  assert.equal(r.body.result.status, false)
  assert.equal(r.body.result.error.code, 'ERR_OTP_RESOURCE_NOT_ALLOWED', JSON.stringify(r.body))
  assert.match(r.body.result.error.message, message)
}

function setProvider(h: Harness, className: string, config: Record<string, unknown>, name = 'p', isDefault = false): Promise<Reply> {
  return h.admin('/system/setProvider', { name, type: 'sms', class: className, config: JSON.stringify(config), timeout: '120', ...(isDefault && { default: 'true' }) })
}

/** A resolver (node:dns lookup signature) that knows only `table`. */
function fakeLookup(table: Record<string, string>) {
  return (hostname: string, options: unknown, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void => {
    const address = table[hostname.toLowerCase()]
    const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true
    setImmediate(() => {
      if (address === undefined) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), all ? [] : '')
      const family = address.includes(':') ? 6 : 4
      if (all) callback(null, [{ address, family }])
      else callback(null, address, family)
    })
  }
}

/** Every file below `dir` (names relative to it). */
async function listAll(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true })
  return entries.map(String).sort()
}

describe('admin-defined providers cannot run programs or touch files outside the allow-lists', () => {
  let h: Harness
  let outside = ''
  before(async () => {
    outside = await mkdtemp(join(tmpdir(), 'sms-otp-outside-'))
    h = await startHarness()
    await enrolAlice(h)
  })
  after(async () => {
    await h.close()
    await rm(outside, { recursive: true, force: true })
  })

  it('threat: admin token → program execution: DeviceSMSProvider with GNOKII=<script> or /bin/sh is refused and nothing runs', async () => {
    const marker = join(outside, 'program-ran')
    const script = join(outside, 'gnokii')
    await writeFile(script, `#!/bin/sh\ntouch '${marker}'\n`)
    await chmod(script, 0o755)
    const rc = join(h.dir, 'gnokiirc') // inside the harness's allowed directory: GNOKII is what is refused
    await writeFile(rc, '[global]\nport = /dev/null\nmodel = AT\nconnection = serial\n')

    assertRefused(await setProvider(h, 'DeviceSMSProvider', { CONFIGFILE: rc, GNOKII: script }, 'dev', true), /^provider 'dev' \(DeviceSMSProvider\): GNOKII: .*--allow-program/)
    assertRefused(await setProvider(h, 'DeviceSMSProvider', { CONFIGFILE: rc, GNOKII: '/bin/sh' }, 'dev', true), /GNOKII: .*--allow-program/)
    // Without GNOKII the program is `gnokii` from PATH: a program too, and not allowed either.
    assertRefused(await setProvider(h, 'DeviceSMSProvider', { CONFIGFILE: rc }, 'dev', true), /GNOKII: .*--allow-program/)
    assertRefused(await setProvider(h, 'DeviceSMSProvider', { CONFIGFILE: join(outside, 'rc'), GNOKII: script }, 'dev', true), /CONFIGFILE: .*--allow-path/)
    assertRefused(await setProvider(h, 'DeviceSMSProvider', { PORT: '/dev/ttyS0' }, 'dev', true), /PORT: .*--allow-path/)

    const r = await h.post('/validate/check', { user: 'alice', pass: '1234' })
    assert.equal(r.body.detail?.message, 'sms submitted', 'the harness outbox still delivers')
    assert.equal(existsSync(marker), false, 'no program ran')
    assert.deepEqual(h.otp.providers.list().map((p) => p.name), ['outbox'])
  })

  it('threat: admin token → arbitrary file write: FileSMSProvider outside the allowed directory, with .., or through a symlink is refused', async () => {
    const victim = join(outside, 'victim.txt')
    await writeFile(victim, 'precious')
    await mkdir(join(h.dir, 'sub'), { recursive: true })
    await symlink(outside, join(h.dir, 'sub', 'escape-dir'))
    await symlink(victim, join(h.dir, 'sub', 'escape-file'))
    const before = await listAll(outside)

    const cases: Array<Record<string, unknown>> = [
      { file: join(outside, 'x.log') },
      { file: '/etc/sms-otp-test.log' },
      { file: `${h.dir}/../${outside.split('/').at(-1)}/dotdot.log` },
      { file: '../dotdot2.log', here: join(h.dir, 'sub') },
      { file: 'x.log', here: outside },
      { file: join(h.dir, 'sub', 'escape-dir', 'through-link.log') },
      { file: join(h.dir, 'sub', 'escape-file') },
    ]
    for (const config of cases) {
      assertRefused(await setProvider(h, 'FileSMSProvider', { ...config, append: true }, 'evil', true), /^provider 'evil' \(FileSMSProvider\): (file|here): .*--allow-path/)
    }
    const r = await h.post('/validate/check', { user: 'alice', pass: '1234' })
    assert.ok(r.status === 200)
    assert.deepEqual(await listAll(outside), before, 'nothing was created outside the allowed directory')
    assert.equal(await readFile(victim, 'utf8'), 'precious')
  })

  it('threat: a symlink planted after setProvider does not redirect the write (checked again at write time, final link not followed)', async () => {
    const victim = join(outside, 'victim2.txt')
    await writeFile(victim, 'precious')
    const before = await listAll(outside)
    const ok = await setProvider(h, 'FileSMSProvider', { file: join(h.dir, 'late', 'x.log'), append: true }, 'late', true)
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    await symlink(outside, join(h.dir, 'late'))
    h.clock.advance(60_000)
    const r1 = await h.post('/validate/check', { user: 'alice', pass: '1234' })
    assert.notEqual(r1.body.detail?.message, 'sms submitted', JSON.stringify(r1.body))

    const ok2 = await setProvider(h, 'FileSMSProvider', { file: join(h.dir, 'final.log') }, 'final', true)
    assert.equal(ok2.status, 200, JSON.stringify(ok2.body))
    await symlink(victim, join(h.dir, 'final.log'))
    h.clock.advance(60_000)
    const r2 = await h.post('/validate/check', { user: 'alice', pass: '1234' })
    assert.notEqual(r2.body.detail?.message, 'sms submitted', JSON.stringify(r2.body))

    assert.deepEqual(await listAll(outside), before, 'nothing was written through the links')
    assert.equal(await readFile(victim, 'utf8'), 'precious')
    await h.admin('/system/setDefaultProvider', { name: 'outbox' })
  })

  it('threat: path-valued keys tell whether a file exists — existing and missing paths get the same refusal', async () => {
    const existing = join(outside, 'exists.pem')
    await writeFile(existing, 'not a certificate')
    const missing = join(outside, 'missing.pem')
    const probes: Array<[string, string, (path: string) => Record<string, unknown>]> = [
      ['DeviceSMSProvider', 'CONFIGFILE', (p) => ({ CONFIGFILE: p })],
      ['HttpSMSProvider', 'SERVER_CERTIFICATE', (p) => ({ URL: 'https://gw.example.net/send', SERVER_CERTIFICATE: p })],
      ['RestSMSProvider', 'SERVER_CERTIFICATE', (p) => ({ URL: 'https://gw.example.net/send', PAYLOAD: { to: '', text: '' }, SMS_TEXT_KEY: 'text', SMS_PHONENUMBER_KEY: 'to', SERVER_CERTIFICATE: p })],
      ['RestSMSProvider', 'CLIENT_CERTIFICATE_FILE', (p) => ({ URL: 'https://gw.example.net/send', PAYLOAD: { to: '', text: '' }, SMS_TEXT_KEY: 'text', SMS_PHONENUMBER_KEY: 'to', CLIENT_CERTIFICATE_FILE: p })],
      ['SmtpSMSProvider', 'certfile', (p) => ({ mailserver: 'mail.example.net', mailsender: 'a@example.net', mailto: '<phone>@example.net', start_tls: true, certfile: p })],
      ['SmtpSMSProvider', 'SERVER_CERTIFICATE', (p) => ({ mailserver: 'mail.example.net', mailsender: 'a@example.net', mailto: '<phone>@example.net', start_tls: true, SERVER_CERTIFICATE: p })],
    ]
    for (const [cls, key, config] of probes) {
      const a = await setProvider(h, cls, config(existing), 'probe')
      const b = await setProvider(h, cls, config(missing), 'probe')
      assertRefused(a, new RegExp(`${key}: .*--allow-path`))
      assert.deepEqual(a, b, `${cls} ${key}: same answer for an existing and a missing file`)
      assert.doesNotMatch(a.body.result.error.message, /exists\.pem|ENOENT|not found/)
    }
  })

  it('threat: setConfig vouches for an admin-defined legacy provider — the legacy SMSProvider* keys, SMSProviderOrigin included, are refused', async () => {
    for (const [key, value] of [['SMSProvider', 'DeviceSMSProvider'], ['SMSProviderConfig', '{"CONFIGFILE":"/etc/passwd"}'], ['SMSProviderOrigin', 'local']]) {
      const r = await h.admin('/system/setConfig', { [key as string]: value as string })
      assert.equal(r.status, 400, JSON.stringify(r.body))
      assert.match(r.body.result.error.message, /use \/system\/setProvider/)
      const d = await h.admin('/system/delConfig', { key: key as string })
      assert.equal(d.status, 400, JSON.stringify(d.body))
    }
    // The legacy provider set through the admin API is read back as admin-defined.
    const set = await setProvider(h, 'HttpSMSProvider', { URL: 'http://gw.example.net/send' }, 'imported_default')
    assert.equal(set.status, 200, JSON.stringify(set.body))
    assert.equal(h.otp.providers.list().find((p) => p.name === 'imported_default')?.origin, 'admin')
    assert.equal((await h.otp.core.store.settings.list('config')).get('SMSProviderOrigin'), 'admin')
    assert.equal(await h.otp.providers.delete('imported_default'), undefined)
  })
})

describe('destinations: link-local, metadata and hosts the operator did not allow', () => {
  let h: Harness
  let gw: Gateway
  before(async () => {
    gw = await startGateway()
    const lookup = fakeLookup({ 'meta.rebind.test': '169.254.169.254', 'loop.rebind.test': '127.0.0.1', 'mapped.rebind.test': '::ffff:169.254.169.254' })
    h = await startHarness({ resources: { lookup } })
  })
  after(async () => {
    await h.close()
    await gw.close()
  })

  it('threat: HTTP and REST providers aimed at cloud metadata or link-local addresses are refused (admin and library alike)', async () => {
    const urls = [
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'http://169.254.169.254./latest/',
      'http://0xa9fea9fe/latest/',
      'http://[::ffff:169.254.169.254]/latest/',
      'http://[fe80::1]/',
      'http://[fd00:ec2::254]/latest/',
      'http://metadata.google.internal/computeMetadata/v1/',
      'http://METADATA.google.internal./computeMetadata/v1/',
    ]
    for (const URL of urls) {
      assertRefused(await setProvider(h, 'HttpSMSProvider', { URL, RETURN_SUCCESS_REGEX: 'AccessKeyId' }), /URL: .*(link-local|metadata)/)
      assertRefused(
        await setProvider(h, 'RestSMSProvider', { URL, PAYLOAD: { to: '', text: '' }, SMS_TEXT_KEY: 'text', SMS_PHONENUMBER_KEY: 'to' }),
        /URL: .*(link-local|metadata)/,
      )
    }
    assertRefused(await setProvider(h, 'HttpSMSProvider', { URL: 'http://gw.example.net/send', PROXY: 'http://169.254.169.254:3128' }), /PROXY: .*link-local|PROXY: .*metadata/)
    assertRefused(await setProvider(h, 'HttpSMSProvider', { URL: 'http://gw.example.net/send', PROXY: 'socks5h://[fe80::1]:1080' }), /PROXY: .*link-local/)
    assertRefused(
      await setProvider(h, 'SmtpSMSProvider', { mailserver: '169.254.169.254:25', mailsender: 'a@example.net', mailto: '<phone>@example.net' }),
      /mailserver: .*metadata/,
    )
    assertRefused(
      await setProvider(h, 'SMPPSMSProvider', { server: 'metadata.google.internal', port: 2775, system_id: 'a', password: 'b', source_addr: 'c' }),
      /server: .*metadata/,
    )
    // A trusted (library) definition is refused too: nothing on this host should talk to metadata by accident.
    await assert.rejects(
      h.otp.providers.set({ name: 'm', className: 'HttpSMSProvider', config: JSON.stringify({ URL: 'http://169.254.169.254/' }), timeout: 120 }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_OTP_RESOURCE_NOT_ALLOWED',
    )
  })

  it('threat: a gateway name that resolves to a link-local or internal address (DNS rebinding) is caught at connect time', async () => {
    for (const host of ['meta.rebind.test', 'mapped.rebind.test']) {
      const set = await setProvider(h, 'HttpSMSProvider', { URL: `http://${host}:${gw.port}/send` }, 'rebind')
      assert.equal(set.status, 200, JSON.stringify(set.body))
      const t = await h.admin('/system/testProvider', { name: 'rebind', phone: PHONE })
      assert.equal(t.body.result.value, false, JSON.stringify(t.body))
      assert.equal(t.body.detail.status, 'unavailable')
      assert.match(t.body.detail.reason, /169\.254\.169\.254.*not allowed/)
    }
    // Loopback is internal: an admin-defined provider may not reach it unless the operator allowed it.
    gw.reset()
    const set = await setProvider(h, 'HttpSMSProvider', { URL: `http://loop.rebind.test:${gw.port}/send` }, 'rebind')
    assert.equal(set.status, 200, JSON.stringify(set.body))
    const t = await h.admin('/system/testProvider', { name: 'rebind', phone: PHONE })
    assert.equal(t.body.detail.status, 'unavailable', JSON.stringify(t.body))
    assert.match(t.body.detail.reason, /127\.0\.0\.1.*not allowed.*--allow-host/)
    assert.equal(gw.requests.length, 0, 'the internal service never saw a request')
    assertRefused(await setProvider(h, 'HttpSMSProvider', { URL: `http://127.0.0.1:${gw.port}/send` }, 'rebind'), /URL: .*127\.0\.0\.1.*--allow-host/)
  })
})

describe('destinations: allowHosts limits admin-defined providers', () => {
  let h: Harness
  let gw: Gateway
  before(async () => {
    gw = await startGateway()
    const lookup = fakeLookup({ 'gw.allowed.test': '127.0.0.1', 'other.test': '127.0.0.1' })
    h = await startHarness({ resources: { allowHosts: ['gw.allowed.test', '192.0.2.0/24'], lookup } })
  })
  after(async () => {
    await h.close()
    await gw.close()
  })

  it('threat: with allowHosts set, an admin-defined provider to another host is refused', async () => {
    assertRefused(await setProvider(h, 'HttpSMSProvider', { URL: `http://127.0.0.1:${gw.port}/send` }), /URL: .*--allow-host/)
    assertRefused(await setProvider(h, 'HttpSMSProvider', { URL: `http://gw.allowed.test:${gw.port}/send`, PROXY: `http://127.0.0.1:${gw.port}` }), /PROXY: .*--allow-host/)

    // A name not on the list cannot be judged from its text while the list holds networks (it might
    // resolve into one): it is refused when it resolves.
    const other = await setProvider(h, 'HttpSMSProvider', { URL: `http://other.test:${gw.port}/send` }, 'other')
    assert.equal(other.status, 200, JSON.stringify(other.body))
    const t = await h.admin('/system/testProvider', { name: 'other', phone: PHONE })
    assert.equal(t.body.detail.status, 'unavailable', JSON.stringify(t.body))
    assert.match(t.body.detail.reason, /not allowed/)
    assert.equal(gw.requests.length, 0)

    const ok = await setProvider(h, 'HttpSMSProvider', { URL: `http://gw.allowed.test:${gw.port}/send` }, 'allowed')
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    const sent = await h.admin('/system/testProvider', { name: 'allowed', phone: PHONE })
    assert.equal(sent.body.detail.status, 'sent', JSON.stringify(sent.body))
    assert.equal(gw.requests.length, 1)

    // The operator's own (library) definitions are not limited by the list.
    await h.otp.providers.set({ name: 'local', className: 'HttpSMSProvider', config: JSON.stringify({ URL: `http://127.0.0.1:${gw.port}/send` }), timeout: 120 })
    const local = await h.admin('/system/testProvider', { name: 'local', phone: PHONE })
    assert.equal(local.body.detail.status, 'sent', JSON.stringify(local.body))

    // SmtpSMSProvider connects through nodemailer, which resolves names itself: with a list, its
    // server must be on it by name (it cannot be judged after DNS).
    assertRefused(
      await setProvider(h, 'SmtpSMSProvider', { mailserver: 'other.test', mailsender: 'a@example.net', mailto: '<phone>@example.net' }),
      /mailserver: other\.test is not allowed/,
    )

    // With names only on the list, any other name is refused as soon as it is set.
    const names = await startHarness({ resources: { allowHosts: ['gw.allowed.test'] } })
    try {
      assertRefused(await setProvider(names, 'HttpSMSProvider', { URL: 'http://other.test/send' }), /URL: other\.test is not allowed.*--allow-host other\.test/)
    } finally {
      await names.close()
    }
  })
})

describe('the resource policy itself', () => {
  it('a config file is checked with the allow-lists the sidecar runs with', () => {
    const config = { providers: [{ name: 'gw', class: 'HttpSMSProvider', config: { URL: 'http://169.254.10.10/send', RETURN_SUCCESS: 'OK' }, timeout: 60 }] }
    assert.throws(() => parseConfig(config, 'sms-otp.json'), /sms-otp\.json: providers: gw: .*169\.254\.10\.10/)
    assert.equal(parseConfig(config, 'sms-otp.json', { allowHosts: ['169.254.10.10'] }).providers.length, 1)
  })

  it('resources are validated at start: a missing path, a relative program, a bad host entry, an unknown key', async () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ allowPaths: ['/no/such/sms-otp-dir'] }, /resources\.allowPaths\[0\]: .*must exist/],
      [{ allowPrograms: ['gnokii'] }, /resources\.allowPrograms\[0\]: .*absolute path/],
      [{ allowHosts: ['http://gw.example.net/'] }, /resources\.allowHosts: .*no scheme, port or path/],
      [{ allowHosts: ['10.0.0.0/33'] }, /resources\.allowHosts: .*CIDR/],
      [{ allowPath: ['/tmp'] }, /resources: .*allowPath/],
    ]
    for (const [resources, message] of bad) {
      await assert.rejects(createSmsOtp({ resources: resources as never }), (e: unknown) => {
        assert.equal((e as { code?: string }).code, 'ERR_OTP_INVALID_OPTION')
        assert.match((e as Error).message, message)
        return true
      })
    }
  })

  it('addresses are classified through every IPv6 spelling of an IPv4 address', () => {
    const table: Array<[string, string]> = [
      ['169.254.169.254', 'metadata'], ['::ffff:169.254.169.254', 'metadata'], ['::ffff:a9fe:a9fe', 'metadata'],
      ['64:ff9b::a9fe:a9fe', 'metadata'], ['2002:a9fe:a9fe::1', 'metadata'], ['fd00:ec2:0:0:0:0:0:254', 'metadata'],
      ['169.254.1.2', 'link-local'], ['fe80::1%eth0', 'link-local'], ['[fe80::1]', 'link-local'],
      ['127.0.0.1', 'internal'], ['10.1.2.3', 'internal'], ['100.64.0.1', 'internal'], ['::1', 'internal'], ['fd12::1', 'internal'],
      ['::ffff:127.0.0.1', 'internal'], ['0.0.0.0', 'internal'], ['192.0.2.1', 'public'], ['2001:db8::1', 'public'],
    ]
    for (const [address, kind] of table) assert.equal(classifyAddress(address), kind, address)
  })

  it('withDeadline answers, clears its timer, and aborts the signal it handed out', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
    const before = timers()
    assert.equal(await withDeadline(60_000, async () => 'done'), 'done')
    await assert.rejects(withDeadline(60_000, async () => Promise.reject(new Error('boom'))), /boom/)
    assert.equal(timers(), before, 'no timer left behind')
    let seen: AbortSignal | undefined
    await assert.rejects(
      withDeadline(20, (signal) => {
        seen = signal
        return new Promise(() => {})
      }, 'the probe'),
      (e: unknown) => (e as { code?: string }).code === 'ERR_OTP_TIMEOUT' && /the probe did not finish within 20 ms/.test((e as Error).message),
    )
    assert.equal(seen?.aborted, true)
  })
})

describe('deadlines', () => {
  it('threat: testProvider on a File provider under /proc hung for over ten minutes', { timeout: 60_000 }, async () => {
    const h = await startHarness({ backoff: { attemptMs: 1000 } })
    try {
      // A trusted definition (the operator's own mistake): the admin API could not even set it.
      await h.otp.providers.set({ name: 'proc', className: 'FileSMSProvider', config: JSON.stringify({ file: '/proc/sms-otp-test/deep/outbox.log' }), timeout: 120 })
      const t = await h.admin('/system/testProvider', { name: 'proc', phone: PHONE })
      if (t.status === 504) {
        assert.equal(t.body.result.error.code, 'ERR_OTP_TIMEOUT')
      } else {
        assert.equal(t.body.detail.status, 'unavailable', JSON.stringify(t.body))
        assert.match(t.body.detail.reason, /outbox|open|directory|ENOENT/)
      }
    } finally {
      await h.close()
    }
  })

  it('threat: a provider that ignores its AbortSignal held testProvider and the PIN request forever', { timeout: 60_000 }, async () => {
    // Stands in for any call that never settles and does not listen to its signal.
    const hanging: ProviderClass<object> = {
      id: 'FileSMSProvider',
      parse: () => ({}),
      create: () => ({ send: () => new Promise(() => {}), test: () => new Promise(() => {}) }),
    }
    const h = await startHarness({ registry: new ProviderRegistry().register(hanging), noProvider: true, backoff: { attemptMs: 300 } })
    try {
      await h.otp.providers.set({ name: 'hang', className: 'FileSMSProvider', config: '{}', timeout: 120 }, true)
      for (const params of [{ name: 'hang', phone: PHONE }, { name: 'hang' }]) {
        const t = await h.admin('/system/testProvider', params)
        assert.equal(t.status, 504, JSON.stringify(t.body))
        assert.equal(t.body.result.error.code, 'ERR_OTP_TIMEOUT')
      }
      await enrolAlice(h)
      const r = await h.post('/validate/check', { user: 'alice', pass: '1234' })
      assert.equal(r.body.result.value, false)
      assert.match(h.audit.at(-1)?.reason ?? '', /within 300 ms/)
    } finally {
      await h.close()
    }
  })
})

describe('sms-otp serve --allow-path', () => {
  const token = 'cli-admin-token-0123456789'
  let dir = ''
  let server: ServeProcess | undefined
  let url = ''
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-allow-'))
    await mkdir(join(dir, 'outbox'))
    server = await startServeProcess(['--port', '0', '--data-dir', join(dir, 'data'), '--allow-path', join(dir, 'outbox')], { cwd: dir, env: { SMS_OTP_ADMIN_TOKEN: token } })
    url = server.url
  })
  after(async () => {
    await server?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const call = async (path: string, params: Record<string, string>, admin = true) => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(admin && { authorization: `Bearer ${token}` }) },
      body: new URLSearchParams(params).toString(),
    })
    return { status: res.status, body: (await res.json()) as Reply['body'] }
  }

  it('with --allow-path DIR the admin can configure a File provider inside DIR, and it delivers; outside DIR stays refused', async () => {
    const file = join(dir, 'outbox', 'sms.log')
    const set = await call('/system/setProvider', { name: 'box', type: 'sms', class: 'FileSMSProvider', config: JSON.stringify({ file, append: true }), timeout: '120', default: 'true' })
    assert.equal(set.status, 200, JSON.stringify(set.body))
    const outside = await call('/system/setProvider', { name: 'evil', type: 'sms', class: 'FileSMSProvider', config: JSON.stringify({ file: join(dir, 'evil.log') }), timeout: '120' })
    assertRefused(outside, /file: .*--allow-path/)
    const init = await call('/admin/init', { type: 'sms', user: 'bob', phone: PHONE, pin: '1234', serial: 'LSSMCLI1' })
    assert.equal(init.body.result.value, true, JSON.stringify(init.body))
    const r = await call('/validate/check', { user: 'bob', pass: '1234' }, false)
    assert.equal(r.body.detail?.message, 'sms submitted', JSON.stringify(r.body))
    assert.match(await readFile(file, 'utf8'), /^\+4915112345678:\d{6}\n$/)
    assert.equal(existsSync(join(dir, 'evil.log')), false)
  })
})
