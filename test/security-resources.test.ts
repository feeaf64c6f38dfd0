/**
 * Issue 6, finding 1 (and the deadline part of finding 8): a leaked admin token must not equal a
 * shell on the host. Every test drives the real sidecar over HTTP; the admin API is the attacker's
 * door, the library / config file the operator's. Files live in mkdtemp directories; the gateway
 * is a real HTTP server on loopback; DNS answers come from an injected resolver (`resources.lookup`)
 * so that a name can "resolve" to a link-local or loopback address without touching real DNS.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import type { LookupAddress } from 'node:dns'
import { existsSync, realpathSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startServeProcess, type ServeProcess } from './helpers/serve-process.js'
import { withDeadline } from '../src/providers/deadline.js'
import { classifyAddress } from '../src/providers/net/destinations.js'
import { DeviceSmsProviderClass } from '../src/providers/device/provider.js'
import { resourcePolicy } from '../src/providers/resources.js'
import { silentLogger } from '../src/logger.js'
import { ProviderRegistry } from '../src/providers/registry.js'
import { parseConfig } from '../src/sidecar/config-file.js'
import { serve } from '../src/sidecar/serve.js'
import { createSmsOtp } from '../src/sms-otp.js'
import type { ProviderClass } from '../src/providers/types.js'
import { startGateway, type Gateway } from './helpers/gateway.js'
import { enrolAlice, startHarness, type Harness, type Reply } from './helpers/harness.js'
import { startSmtpServer, type SmtpTestServer } from './helpers/smtp-server.js'

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

    // SmtpSMSProvider's connections go through the guarded lookup too: a name not on the list is
    // judged when it resolves, like the HTTP gateway's.
    const mail = await setProvider(h, 'SmtpSMSProvider', { mailserver: `other.test:${gw.port}`, mailsender: 'a@example.net', mailto: '<phone>@example.net' }, 'mail')
    assert.equal(mail.status, 200, JSON.stringify(mail.body))
    const m = await h.admin('/system/testProvider', { name: 'mail' })
    assert.equal(m.body.detail.status, 'unavailable', JSON.stringify(m.body))
    assert.match(m.body.detail.reason, /127\.0\.0\.1 \(other\.test\) is an internal address.*not allowed/)

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

const GNOKII = '/usr/bin/gnokii'
const noGnokii = existsSync(GNOKII) ? false : `${GNOKII} is not installed (apt-get install gnokii-cli)`

describe('gnokii configuration files of admin-defined providers', { skip: noGnokii }, () => {
  let h: Harness
  let outside = ''
  let marker = ''
  before(async () => {
    outside = await mkdtemp(join(tmpdir(), 'sms-otp-gnokii-outside-'))
    marker = join(outside, 'connect-script-ran')
    // /dev/ptmx opens like a serial line and never answers: gnokii gets as far as its connect_script.
    h = await startHarness({ resources: { allowPrograms: [GNOKII], allowPaths: ['/dev/ptmx'] } })
  })
  after(async () => {
    await h.close()
    await rm(outside, { recursive: true, force: true })
  })

  it('threat: admin token → shell through gnokii connect_script: a CONFIGFILE with anything but harmless gnokii settings is refused', async () => {
    const rc = join(h.dir, 'evil-gnokiirc')
    const head = '[global]\nport = /dev/ptmx\nmodel = AT\nconnection = serial\n'
    const cases: Array<[string, RegExp]> = [
      // What an admin-defined FileSMSProvider writes: `<phone>:<text>`, the text partly the caller's.
      [`${PHONE}:123456\n${head}connect_script = touch ${marker}\n`, /CONFIGFILE: line 1 is neither a \[section\] nor a key = value line/],
      [`${head}connect_script = touch ${marker}\n`, /CONFIGFILE: \[global\] connect_script is not allowed/],
      [`${head}disconnect_script=/bin/sh\n`, /CONFIGFILE: \[global\] disconnect_script is not allowed/],
      [`${head}[connect_script]\nTELEPHONE = 12345678\n`, /CONFIGFILE: section \[connect_script\] is not allowed/],
      [`${head}[gnokiid]\nbindir = ${outside}\n`, /CONFIGFILE: section \[gnokiid\] is not allowed/],
      [`${head}[phone_x]\nport = /dev/ptmx\nmodel = AT\nconnection = serial\nconnect_script = touch ${marker}\n`, /CONFIGFILE: section \[phone_x\] is not allowed/],
      ['[global]\nport = /dev/ptmx\nmodel = AT\nconnection = tcp\n', /CONFIGFILE: \[global\] connection: .*not allowed/],
      [`[global]\nport = ${join(outside, 'ttyS9')}\nmodel = AT\nconnection = serial\n`, /CONFIGFILE: \[global\] port: .*--allow-path/],
      ['[global]\nport = relative-tty\nmodel = AT\nconnection = serial\n', /CONFIGFILE: \[global\] port: /],
      [`port = /dev/ptmx\n${head}`, /CONFIGFILE: line 1: port outside a \[section\]/],
    ]
    for (const [text, message] of cases) {
      await writeFile(rc, text)
      const r = await setProvider(h, 'DeviceSMSProvider', { CONFIGFILE: rc, GNOKII, TIMEOUT: 2 }, 'g')
      assertRefused(r, message)
      assert.doesNotMatch(r.body.result.error.message, /4915112345678|123456|touch/, 'the refusal quotes no line of the file')
    }
    assert.equal(existsSync(marker), false)
  })

  it('threat: a gnokiirc rewritten after setProvider is what gnokii read — it now runs a private snapshot of the checked file', { timeout: 60_000 }, async () => {
    const rc = join(h.dir, 'gnokiirc')
    await writeFile(rc, '[global]\nport = /dev/ptmx\nmodel = AT\nconnection = serial\nuse_locking = no\n[logging]\ndebug = off\n')
    const ok = await setProvider(h, 'DeviceSMSProvider', { CONFIGFILE: rc, GNOKII, TIMEOUT: 2 }, 'g')
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    const first = await h.admin('/system/testProvider', { name: 'g' }) // loads the provider; gnokii runs and times out
    assert.equal(first.body.detail?.status, 'unavailable', JSON.stringify(first.body))
    // The admin (or anything else that can write the allowed directory) swaps the file afterwards.
    // (A load after this would refuse the file; the loaded provider must not read it either.)
    await writeFile(rc, `[global]\nport = /dev/ptmx\nmodel = AT\nconnection = serial\nuse_locking = no\nconnect_script = touch ${marker}\n`)
    const t = await h.admin('/system/testProvider', { name: 'g' })
    assert.equal(t.body.detail?.status, 'unavailable', JSON.stringify(t.body))
    assert.equal(existsSync(marker), false, 'the connect_script of the rewritten file did not run')

    // Control: the operator's own definition still reads its file as it is, so this gnokii does run
    // a connect_script when it gets one (the test above is not vacuous).
    await h.otp.providers.set({ name: 'trusted', className: 'DeviceSMSProvider', config: JSON.stringify({ CONFIGFILE: rc, GNOKII, TIMEOUT: 2 }), timeout: 120 })
    await h.admin('/system/testProvider', { name: 'trusted' })
    assert.equal(existsSync(marker), true, 'a local definition keeps reading the file itself')
    await rm(marker, { force: true })
  })
})

describe('sms-otp serve refuses allowed paths that hold its own files', () => {
  let dir = ''
  let data = ''
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-protect-'))
    data = join(dir, 'data')
    const first = await serve({ port: 0, dataDir: data, env: { LOG_LEVEL: 'silent' } }) // creates the key file and the database
    await first.close()
    await mkdir(join(data, 'outbox'))
    await mkdir(join(dir, 'db'))
    await mkdir(join(dir, 'etc'))
    await writeFile(join(dir, 'etc', 'sms-otp.json'), '{}')
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  /** Starts and stops at once; the error the start failed with, or undefined when it started. */
  const start = (allowPaths: string[], extra: Record<string, string> = {}) =>
    serve({ port: 0, dataDir: data, env: { LOG_LEVEL: 'silent' }, resources: { allowPaths }, ...extra }).then(
      async (s) => {
        await s.close()
        return undefined
      },
      (e: unknown) => e as Error & { code?: string },
    )

  it('threat: --allow-path on the data directory let an admin-defined FileSMSProvider overwrite sms-otp.key or the database', async () => {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [[data], {}, /^resources\.allowPaths\[0\]: '.*\/data' holds the data directory .*: a provider set through the admin API could overwrite it; allow a directory of its own instead \(such as .*\/data\/outbox\)$/],
      [[dir], {}, /^resources\.allowPaths\[0\]: '.*' holds the data directory/],
      [[join(data, 'outbox'), join(data, 'sms-otp.key')], {}, /^resources\.allowPaths\[1\]: .* holds the key file /],
      [[join(data, 'sms-otp.db')], {}, /holds the database /],
      [[join(dir, 'db')], { db: join(dir, 'db', 'otp.db') }, /holds the database .*otp\.db/],
      [[join(dir, 'etc')], { configFile: join(dir, 'etc', 'sms-otp.json') }, /holds the config file .*sms-otp\.json/],
    ]
    for (const [allowPaths, extra, message] of cases) {
      const err = await start(allowPaths, extra)
      assert.ok(err, `serve started with --allow-path ${allowPaths.join(' ')}`)
      assert.equal(err.code, 'ERR_OTP_INVALID_OPTION', String(err))
      assert.match(err.message, message)
    }
    // A directory of its own inside the data directory is fine.
    assert.equal(await start([join(data, 'outbox')]), undefined)
  })
})

/** Runs `sms-otp ARGS`; SIGKILL after `ms` (a process whose event loop is blocked ignores SIGTERM's handler). */
function runCli(args: string[], cwd: string, ms: number): Promise<{ code: number | null; output: string; killed: boolean }> {
  return new Promise((ok) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(import.meta.dirname, '..', 'src', 'cli', 'main.ts'), ...args], {
      cwd,
      env: { ...process.env, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    let killed = false
    child.stdout.on('data', (c: Buffer) => (output += c.toString()))
    child.stderr.on('data', (c: Buffer) => (output += c.toString()))
    const timer = setTimeout(() => {
      killed = true
      child.kill('SIGKILL')
    }, ms)
    child.once('exit', (code) => {
      clearTimeout(timer)
      ok({ code, output, killed })
    })
  })
}

describe('path-valued keys that name a FIFO or a device', () => {
  const token = 'fifo-admin-token-0123456789'
  let dir = ''
  let allowed = ''
  let fifo = ''
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-fifo-'))
    allowed = join(dir, 'allowed')
    await mkdir(join(allowed, 'cas'), { recursive: true })
    fifo = join(allowed, 'ttyFAKE') // stands in for an allowed device such as --allow-path /dev/ttyUSB0
    execFileSync('mkfifo', [fifo, join(allowed, 'cas', 'ca.pem')])
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('threat: an allowed FIFO or device read as a certificate or gnokiirc blocked the event loop: the whole sidecar froze', { timeout: 120_000 }, async () => {
    const program = realpathSync('/bin/true') // any allowed program: CONFIGFILE is read before anything runs
    const server = await startServeProcess(['--port', '0', '--data-dir', join(dir, 'data'), '--allow-path', allowed, '--allow-program', program], { cwd: dir, env: { SMS_OTP_ADMIN_TOKEN: token } })
    try {
      const https = { URL: 'https://gw.example.net/send' }
      const rest = { ...https, PAYLOAD: { to: '', text: '' }, SMS_TEXT_KEY: 'text', SMS_PHONENUMBER_KEY: 'to' }
      const smtp = { mailserver: 'mail.example.net', mailsender: 'a@example.net', mailto: '<phone>@example.net', start_tls: true }
      const cases: Array<[string, Record<string, unknown>, string]> = [
        ['HttpSMSProvider', { ...https, SERVER_CERTIFICATE: fifo }, 'SERVER_CERTIFICATE'],
        ['HttpSMSProvider', { ...https, SERVER_CERTIFICATE: join(allowed, 'cas') }, 'SERVER_CERTIFICATE'],
        ['RestSMSProvider', { ...rest, SERVER_CERTIFICATE: fifo }, 'SERVER_CERTIFICATE'],
        ['RestSMSProvider', { ...rest, CLIENT_CERTIFICATE_FILE: fifo }, 'CLIENT_CERTIFICATE_FILE'],
        ['SmtpSMSProvider', { ...smtp, certfile: fifo }, 'certfile'],
        ['SmtpSMSProvider', { ...smtp, SERVER_CERTIFICATE: fifo }, 'SERVER_CERTIFICATE'],
        ['DeviceSMSProvider', { CONFIGFILE: fifo, GNOKII: program }, 'CONFIGFILE'],
      ]
      for (const [className, config, key] of cases) {
        // 15 s is a hang guard only: a blocked event loop never answers at all.
        const res = await fetch(`${server.url}/system/setProvider`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
          body: new URLSearchParams({ name: 'x', type: 'sms', class: className, timeout: '120', config: JSON.stringify(config) }),
          signal: AbortSignal.timeout(15_000),
        })
        const body = (await res.json()) as Reply['body']
        assert.equal(res.status, 400, `${className} ${key}: ${JSON.stringify(body)}`)
        assert.equal(body.result.error.code, 'ERR_OTP_INVALID_CONFIG')
        assert.match(body.result.error.message, new RegExp(`${key}: '.*' is not a file \\(a FIFO\\)`))
      }
      const health = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(15_000) })
      assert.equal(health.status, 200)
    } finally {
      server.child.kill('SIGKILL')
    }
  })

  it('threat: a FIFO named by a trusted (config file) provider froze the start instead of failing it', { timeout: 60_000 }, async () => {
    const config = join(dir, 'sms-otp.json')
    await writeFile(config, JSON.stringify({ providers: [{ name: 'gw', class: 'HttpSMSProvider', config: { URL: 'https://gw.example.net/send', SERVER_CERTIFICATE: fifo }, timeout: 60 }] }))
    const r = await runCli(['serve', '--port', '0', '--data-dir', join(dir, 'data2'), '--config', config], dir, 20_000)
    assert.equal(r.killed, false, `sms-otp serve neither started nor failed within 20 s: ${r.output}`)
    assert.equal(r.code, 1, r.output)
    assert.match(r.output, /SERVER_CERTIFICATE: '.*ttyFAKE' is not a file \(a FIFO\)/)
  })
})

describe('destinations: numeric host spellings and SMTP connections', () => {
  let h: Harness
  let smtp: SmtpTestServer
  before(async () => {
    smtp = await startSmtpServer()
    h = await startHarness({ resources: { lookup: fakeLookup({ 'mail.rebind.test': '127.0.0.1', 'mailmeta.rebind.test': '169.254.169.254' }) } })
  })
  after(async () => {
    await h.close()
    await smtp.close()
  })
  const mail = (mailserver: string) => ({ mailserver, mailsender: 'a@example.net', mailto: '<phone>@example.net', TIMEOUT: 5 })

  it('threat: SMTP mailserver, SMPP server and SOCKS proxy reached loopback or metadata through numeric spellings (2130706433, 127.1, 0x7f000001)', async () => {
    const loopback = ['2130706433', '127.1', '0x7f000001', '0177.0.0.1', '0x7f.1']
    const metadata = ['2852039166', '0xa9fea9fe', '169.254.43518']
    for (const host of loopback) {
      assertRefused(await setProvider(h, 'SmtpSMSProvider', mail(`${host}:${smtp.port}`)), /mailserver: 127\.0\.0\.1 .*internal address/)
      assertRefused(await setProvider(h, 'SMPPSMSProvider', { server: host, port: 2775, system_id: 'a', password: 'b', source_addr: 'c' }), /server: 127\.0\.0\.1 .*internal address/)
      assertRefused(await setProvider(h, 'HttpSMSProvider', { URL: 'http://gw.example.net/send', PROXY: `socks5h://${host}:1080` }), /PROXY: 127\.0\.0\.1 .*internal address/)
    }
    for (const host of metadata) {
      assertRefused(await setProvider(h, 'SmtpSMSProvider', mail(`${host}:${smtp.port}`)), /mailserver: 169\.254\.169\.254 is a cloud metadata address/)
    }
    assert.equal(smtp.sessions.length, 0, 'the loopback mail server was never contacted')
  })

  it('threat: an SMTP server name that resolves to loopback or metadata was connected to (nodemailer resolved it unguarded)', async () => {
    const set = await setProvider(h, 'SmtpSMSProvider', mail(`mail.rebind.test:${smtp.port}`), 'rebind')
    assert.equal(set.status, 200, JSON.stringify(set.body))
    for (const params of [{ name: 'rebind' }, { name: 'rebind', phone: PHONE }]) {
      const t = await h.admin('/system/testProvider', params)
      assert.equal(t.body.detail?.status, 'unavailable', JSON.stringify(t.body))
      assert.match(t.body.detail.reason, /127\.0\.0\.1 \(mail\.rebind\.test\) is an internal address.*--allow-host/)
    }
    // Metadata is refused for the operator's own definitions too.
    await h.otp.providers.set({ name: 'meta', className: 'SmtpSMSProvider', config: JSON.stringify(mail(`mailmeta.rebind.test:${smtp.port}`)), timeout: 120 })
    const t = await h.admin('/system/testProvider', { name: 'meta', phone: PHONE })
    assert.equal(t.body.detail?.status, 'unavailable', JSON.stringify(t.body))
    assert.match(t.body.detail.reason, /169\.254\.169\.254 is a cloud metadata address/)
    assert.equal(smtp.sessions.length, 0, 'no connection reached the mail server')
  })
})

describe('the gnokiirc snapshot of an admin-defined provider', () => {
  it('is the checked settings only, private (0700 directory, 0600 file), and removed on close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sms-otp-snapshot-'))
    try {
      const seen = join(dir, 'seen')
      const script = join(dir, 'gnokii')
      // Records which file it was given, its mode, its directory's mode and its text.
      await writeFile(script, `#!/bin/sh\nprintf '%s\\n' "$2" > '${seen}'\nstat -c '%a' "$2" "$(dirname "$2")" >> '${seen}'\ncat "$2" >> '${seen}'\n`)
      await chmod(script, 0o755)
      const rc = join(dir, 'gnokiirc')
      await writeFile(rc, '# the phone\n[global]\r\nport = /dev/ptmx\nmodel = AT\n  connection=serial\n\n[logging]\ndebug = off\n')
      const policy = resourcePolicy({ allowPaths: [dir, '/dev/ptmx'], allowPrograms: [script] })
      const options = DeviceSmsProviderClass.parse({ CONFIGFILE: rc, GNOKII: script }, () => undefined, { origin: 'admin', policy })
      const provider = DeviceSmsProviderClass.create(options, { name: 'g', logger: silentLogger })
      assert.deepEqual(await provider.test?.(AbortSignal.timeout(10_000)), { status: 'sent' })
      const [path = '', fileMode, dirMode, ...text] = (await readFile(seen, 'utf8')).split('\n')
      assert.notEqual(path, rc, 'gnokii was not given the file itself')
      assert.deepEqual([fileMode, dirMode], ['600', '700'])
      assert.equal(text.join('\n'), '[global]\nport = /dev/ptmx\nmodel = AT\nconnection = serial\n\n[logging]\ndebug = off\n')
      await provider.close?.()
      assert.equal(existsSync(dirname(path)), false, 'the snapshot directory is removed on close')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
