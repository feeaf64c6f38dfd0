/**
 * Issue 10: `sms-otp config check FILE`. The product document's examples pass; broken files get
 * every error with its key and line; misspelt config keys are refused there ("did you mean") and
 * warned about everywhere else; what each SMS text costs; the friction fixes of the issue (a bad
 * provider timeout, bad JSON with line and column, a token naming an unknown realm).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { checkConfigFile } from '../src/cli/commands/config.js'
import { isOtpError } from '../src/errors.js'
import { silentLogger } from '../src/logger.js'
import { checkConfigEntry, closestConfigKey } from '../src/settings/config.js'
import { applyConfig, readConfigFile } from '../src/sidecar/config-file.js'
import { createSmsOtp } from '../src/sms-otp.js'
import { createMemoryStore } from '../src/stores/memory.js'
import { Secrets } from '../src/crypto/secrets.js'
import { CLICKATELL_EXAMPLE, CLX_EXAMPLE, DEVICE_EXAMPLE, HTTP_EXAMPLE, SMPP_EXAMPLE, SMTP_EXAMPLE, SWISSCOM_EXAMPLE, point } from './helpers/product-examples.js'
import { cli, runInProcess as run } from './helpers/cli.js'

let dir = ''
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sms-otp-cli-config-'))
})
after(() => rm(dir, { recursive: true, force: true }))

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, text)
  return path
}

/**
 * A sidecar config file around the product document's provider examples, each kept verbatim as
 * the config string (the SMPP one with its placeholder host and port filled in, as an operator must).
 */
function productConfig(gnokiirc: string): string {
  const examples: Array<[string, string, string]> = [
    ['http', 'smsprovider.HttpSMSProvider.HttpSMSProvider', HTTP_EXAMPLE],
    ['clickatell', 'smsprovider.HttpSMSProvider', CLICKATELL_EXAMPLE],
    ['swisscom', 'smsprovider.RestSMSProvider', SWISSCOM_EXAMPLE],
    ['clx', 'RestSMSProvider', CLX_EXAMPLE],
    ['smtp', 'smsprovider.SmtpSMSProvider', SMTP_EXAMPLE],
    ['smpp', 'smsprovider.SMPPSMSProvider', point(SMPP_EXAMPLE, [['"smpp-server"', '"smsc.example.com"'], ['"smmp-port"', '"2775"']])],
    ['device', 'smsprovider.DeviceSMSProvider', point(DEVICE_EXAMPLE, [['/etc/linotp2/gnokiirc', gnokiirc]])],
  ]
  return JSON.stringify({
    realms: [{ name: 'example', default: true }],
    providers: examples.map(([name, cls, config], i) => ({ name, class: cls, config, timeout: 120, ...(i === 0 ? { default: true } : {}) })),
    policies: [
      { name: 'texts', scope: 'authentication', realm: 'example', action: 'smstext="Your OTP is <otp>"' },
      { name: 'route', scope: 'authentication', realm: 'example', action: 'sms_provider=clx smpp' },
    ],
    config: { SMSBlockingTimeout: '30', DefaultOtpLen: '6' },
    tokens: [{ serial: 'LSSM0001', user: 'alice', realm: 'example', phone: '+4915112345678', pin: '1234' }],
  }, null, 2)
}

describe('config check: the product document examples', () => {
  let rc = ''
  before(async () => {
    // The gnokii example names a file the provider reads (its port): one like it, here.
    rc = await file('gnokiirc', '[global]\nmodel = AT\nport = /dev/ttyUSB0\nconnection = serial\n')
  })

  it('passes them (in-process) and reports each SMS text', async () => {
    const path = await file('product.json', productConfig(rc))
    const result = await checkConfigFile(path)
    assert.deepEqual(result.errors, [])
    assert.equal(result.ok, true)
    // The SMPP example's trailing comma is tolerated and reported, with its line.
    assert.ok(result.warnings.some((w) => /providers: smpp: trailing comma/.test(w.message) && w.line > 1), JSON.stringify(result.warnings))
    assert.deepEqual(result.sms.map((s) => [s.source, s.encoding, s.length, s.parts]), [['default', 'GSM 03.38', 6, 1], ['policies.texts', 'GSM 03.38', 18, 1]])
  })

  it('passes them as a process: exit code 0, OK', async () => {
    const path = await file('product-cli.json', productConfig(rc))
    const r = await cli(['config', 'check', path])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /product-cli\.json: OK/)
    assert.match(r.stdout, /sms policies\.texts: GSM 03\.38, 18 septets, 1 part/)
  })
})

/** Line numbers below are those of this text. */
const BROKEN = `{
  "realms": [{ "name": "example", "default": true }],
  "providers": [
    { "name": "gw", "class": "HttpSMSProvider", "config": { "URL": "http://127.0.0.1:9/" }, "timeout": "abc" },
    { "name": "pigeon", "class": "PigeonSMSProvider", "config": {} },
    { "name": "rest", "class": "RestSMSProvider", "config": { "URL": "ftp://gw/", "PAYLOAD": {} } }
  ],
  "policies": [{ "name": "p", "scope": "authentication", "action": "fly" }],
  "config": { "SMSBlockingTimout": "60", "DefaultOtpLen": "7" },
  "tokens": [
    { "serial": "T1", "user": "alice", "realm": "exmaple", "phone": "+4915112345678" },
    { "serial": "T2", "user": "bob", "phone": "+4915112345679", "colour": "red" }
  ]
}`

describe('config check: a broken file', () => {
  it('lists every error with its key and line', async () => {
    const path = await file('broken.json', BROKEN)
    const result = await checkConfigFile(path)
    assert.equal(result.ok, false)
    const found = result.errors.map((e) => [e.line, e.path])
    assert.deepEqual(found, [
      [12, 'tokens.1.colour'],
      [4, 'providers.0.timeout'],
      [5, 'providers.1.class'],
      [6, 'providers.2.config.URL'],
      [8, 'policies.0.action'],
      [9, 'config.SMSBlockingTimout'],
      [9, 'config.DefaultOtpLen'],
      [11, 'tokens.0.realm'],
    ], JSON.stringify(result.errors, null, 1))
    const message = (path: string) => result.errors.find((e) => e.path === path)?.message ?? ''
    assert.match(message('providers.0.timeout'), /timeout: expected the OTP validity in whole seconds from 1 to 86400, not "abc"/)
    assert.match(message('config.SMSBlockingTimout'), /did you mean SMSBlockingTimeout\?/)
    assert.match(message('tokens.0.realm'), /tokens: T1: realm 'exmaple' is not defined in this file/)
    assert.match(message('tokens.1.colour'), /Unrecognized key/)
    assert.equal(result.errors.find((e) => e.path === 'config.SMSBlockingTimout')?.column, 15)
  })

  it('as a process: each error as FILE:LINE:COLUMN, exit code 1', async () => {
    const path = await file('broken-cli.json', BROKEN)
    const r = await cli(['config', 'check', path])
    assert.equal(r.code, 1)
    assert.ok(r.stdout.includes(`${path}:4:`) && r.stdout.includes('providers: gw: timeout'), r.stdout)
    assert.ok(r.stdout.includes(`${path}:11:`) && r.stdout.includes("tokens: T1: realm 'exmaple'"), r.stdout)
    assert.equal(r.stdout.match(/: error: /g)?.length, 8)
    assert.match(r.stderr, /8 errors/)
  })

  it('--json: {ok, errors:[{line, column, path, message}], warnings, sms}', async () => {
    const path = await file('broken-json.json', BROKEN)
    const r = await run(['config', 'check', path, '--json'])
    assert.match(String(r.error?.message), /8 errors/)
    const out = JSON.parse(r.stdout) as { ok: boolean; errors: Array<{ line: number; column: number; path: string; message: string }>; warnings: unknown[]; sms: unknown[] }
    assert.equal(out.ok, false)
    assert.equal(out.errors.length, 8)
    assert.deepEqual(Object.keys(out.errors[0] ?? {}).sort(), ['column', 'line', 'message', 'path'])
    assert.ok(Array.isArray(out.warnings) && Array.isArray(out.sms))
  })

  it('bad JSON: line and column, never the text around it (it may hold a PIN)', async () => {
    const path = await file('syntax.json', '{\n  "tokens": [\n    {"serial": "T1", "pin": 4711secret}\n  ]\n}')
    const result = await checkConfigFile(path)
    assert.deepEqual(result.errors.map((e) => [e.line, e.column]), [[3, 33]])
    assert.doesNotMatch(result.errors[0]?.message ?? '', /secret|4711/)
    // The start path too: a token V8 does not place is placed by the locator.
    await writeFile(path, '{\n"pin": secret4711}')
    await assert.rejects(readConfigFile(path), (e: unknown) => isOtpError(e) && /not valid JSON at line 2 column 8: unexpected character$/.test(e.message) && !e.message.includes('secret'))
  })
})

describe('config check: SMS texts', () => {
  const withText = (smstext: string, config: Record<string, string> = {}, tokens: unknown[] = []) =>
    JSON.stringify({ policies: [{ name: 'txt', scope: 'authentication', action: `smstext="${smstext}"` }], config, tokens })

  it('measures with the longest OTP: 8 digits when DefaultOtpLen or a token says so', async () => {
    const text = `${'x'.repeat(153)} <otp>` // 160 septets with 6 digits, 162 with 8
    const six = await checkConfigFile(await file('six.json', withText(text)))
    const { line: _line, column: _column, ...measured } = six.sms.find((s) => s.source === 'policies.txt') ?? { line: 0, column: 0 }
    assert.deepEqual(measured, { source: 'policies.txt', template: text, encoding: 'GSM 03.38', length: 160, parts: 1 })
    assert.deepEqual(six.warnings, [])
    const eight = await checkConfigFile(await file('eight.json', withText(text, { DefaultOtpLen: '8' })))
    assert.equal(eight.sms[1]?.length, 162)
    assert.equal(eight.sms[1]?.parts, 2)
    assert.ok(eight.ok, 'a long text is a warning, not an error')
    assert.match(eight.warnings[0]?.message ?? '', /SMS text of policies\.txt needs 2 SMS parts/)
    const token = await checkConfigFile(await file('token8.json', withText(text, {}, [{ serial: 'T8', phone: '+4915112345678', otplen: 8 }])))
    assert.equal(token.sms[1]?.parts, 2)
  })

  it('placeholders at their longest, extension characters as two septets, UCS-2 when needed', async () => {
    const r = await checkConfigFile(await file('ph.json', withText('€ <otp> <serial> <transactionid>', { TransactionIdLength: '12' }, [{ serial: 'LONGSERIAL-000000000001', phone: '+4915112345678' }])))
    // € = 2, OTP 6, serial 23, transaction id 12 + 3, three spaces
    assert.equal(r.sms[1]?.length, 2 + 1 + 6 + 1 + 23 + 1 + 15)
    const ucs = await checkConfigFile(await file('ucs.json', withText('Ваш код: <otp>')))
    assert.deepEqual([ucs.sms[1]?.encoding, ucs.sms[1]?.length, ucs.sms[1]?.parts], ['UCS-2', 15, 1])
    // The default text, when no policy sets one, is the OTP alone.
    assert.deepEqual(ucs.sms[0]?.template, '<otp>')
  })
})

describe('misspelt config keys', () => {
  it('closest known key: edit distance up to 2 or equal but for case', () => {
    assert.equal(closestConfigKey('SMSBlockingTimout'), 'SMSBlockingTimeout')
    assert.equal(closestConfigKey('smsblockingtimeout'), 'SMSBlockingTimeout')
    assert.equal(closestConfigKey('DefaultOtpLne'), 'DefaultOtpLen')
    assert.equal(closestConfigKey('SMSBlockingTimeout'), undefined)
    assert.equal(closestConfigKey('MyOwnKey'), undefined)
  })

  it('stored with a warning through setConfig (the /system/setConfig path) and at start', async () => {
    const otp = await createSmsOtp({ store: createMemoryStore(), secrets: Secrets.ephemeral(), logger: silentLogger })
    try {
      const { keys, warnings } = await otp.config.set({ SMSBlockingTimout: '60', MyOwnKey: 'x' })
      assert.deepEqual(keys.sort(), ['MyOwnKey', 'SMSBlockingTimout'])
      assert.deepEqual(warnings, ['config key SMSBlockingTimout is not a known key (stored as given): did you mean SMSBlockingTimeout?'])
    } finally {
      await otp.close()
    }
    assert.equal(checkConfigEntry('SMSBlockingTimout', '60'), 'config key SMSBlockingTimout is not a known key (stored as given): did you mean SMSBlockingTimeout?')
    // A start accepts the file (LinOTP keeps any key); only config check refuses it.
    const path = await file('typo.json', JSON.stringify({ config: { SMSBlockingTimout: '60' } }))
    assert.deepEqual((await readConfigFile(path)).config, { SMSBlockingTimout: '60' })
  })
})

describe('friction fixes at start', () => {
  it('a provider timeout "abc" names the key, what it expects, and the line', async () => {
    const path = await file('timeout.json', '{"providers": [\n {"name": "gw", "class": "HttpSMSProvider", "config": {"URL": "http://127.0.0.1:9/"},\n  "timeout": "abc"}]}')
    await assert.rejects(readConfigFile(path), (e: unknown) => isOtpError(e, 'ERR_OTP_INVALID_CONFIG') && e.message === `${path}: providers: gw: timeout: expected the OTP validity in whole seconds from 1 to 86400, not "abc" (line 3, column 3)`)
  })

  it('a token naming a realm neither the file nor the store has: refused with the file and the serial, nothing created', async () => {
    const path = await file('realm.json', JSON.stringify({ realms: [{ name: 'example' }], tokens: [{ serial: 'T1', user: 'alice', realm: 'exmaple', phone: '+4915112345678' }] }))
    const otp = await createSmsOtp({ store: createMemoryStore(), secrets: Secrets.ephemeral(), logger: silentLogger })
    try {
      await assert.rejects(applyConfig(otp, await readConfigFile(path)), (e: unknown) => isOtpError(e) && e.message.startsWith(`${path}: tokens: T1: realm 'exmaple'`))
      assert.deepEqual(otp.realms.list().map((r) => r.name), [], 'checked before any write')
      assert.equal((await otp.tokens.show({ serial: 'T1' })).length, 0)
      // A realm the store already has is fine.
      await otp.realms.set('exmaple')
      assert.deepEqual(await applyConfig(otp, await readConfigFile(path)), ['T1'])
    } finally {
      await otp.close()
    }
  })
})
