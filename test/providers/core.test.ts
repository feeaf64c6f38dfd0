import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { ManualClock } from '../../src/clock.js'
import { isOtpError } from '../../src/errors.js'
import { silentLogger } from '../../src/logger.js'
import { Failover } from '../../src/providers/failover.js'
import { checkProviderRecord, loadProvider, type LoadedProvider } from '../../src/providers/loader.js'
import { parseProviderJson } from '../../src/providers/parse-json.js'
import { ProviderRegistry, canonicalClassName } from '../../src/providers/registry.js'
import { FileSmsProviderClass } from '../../src/providers/file.js'
import type { SendResult, SmsMessage } from '../../src/providers/types.js'
import { defaultRegistry } from '../../src/sms-otp.js'

const configError = (re: RegExp) => (err: unknown) => isOtpError(err) && re.test(err.message)

describe('provider config JSON', () => {
  it('parses an object', () => assert.deepEqual(parseProviderJson('{"URL":"http://x","n":1}'), { URL: 'http://x', n: 1 }))
  it('single quotes → "use double quotes" with the position', () => {
    assert.throws(() => parseProviderJson("{'URL': 'http://gw'}"), configError(/use double quotes.*|line 1 column 2.*double quotes/))
  })
  it('a trailing comma is accepted with a warning (the product document SMPP example)', () => {
    const warnings: string[] = []
    const cfg = parseProviderJson('{ "server":"smpp-server",\n  "source_addr_ton":"5",\n}', (w) => warnings.push(w))
    assert.deepEqual(cfg, { server: 'smpp-server', source_addr_ton: '5' })
    assert.deepEqual(warnings, ['trailing comma in provider configuration ignored'])
  })
  it('a comma inside a string is not touched', () => {
    assert.deepEqual(parseProviderJson('{"a":"x,}",}', () => {}), { a: 'x,}' })
  })
  it('broken JSON says where', () => assert.throws(() => parseProviderJson('{"URL": "x"\n "b": 1}'), configError(/line 2 column/)))
  it('empty → "missing configuration"', () => assert.throws(() => parseProviderJson('  '), configError(/^missing configuration$/)))
  it('non-objects are refused', () => {
    assert.throws(() => parseProviderJson('[1]'), configError(/must be a JSON object/))
    assert.throws(() => parseProviderJson('"x"'), configError(/must be a JSON object/))
    assert.throws(() => parseProviderJson('null'), configError(/must be a JSON object/))
  })
  it('oversized configs are refused', () => assert.throws(() => parseProviderJson(`{"a":"${'x'.repeat(70_000)}"}`), configError(/larger than/)))
})

describe('provider class identifiers', () => {
  const forms = (c: string) => [c, `smsprovider.${c}`, `smsprovider.${c}.${c}`, `linotp.provider.smsprovider.${c}`, `linotp.provider.smsprovider.${c}.${c}`]
  for (const cls of ['HttpSMSProvider', 'SmtpSMSProvider', 'SMPPSMSProvider', 'RestSMSProvider', 'DeviceSMSProvider', 'FileSMSProvider']) {
    it(`every LinOTP form of ${cls}`, () => {
      for (const f of forms(cls)) assert.equal(canonicalClassName(f), cls, f)
    })
  }
  it('unknown identifiers', () => {
    for (const f of ['HttpProvider', 'smsprovider.HttpSMSProvider.RestSMSProvider', 'a.b.c.HttpSMSProvider', '']) assert.equal(canonicalClassName(f), undefined, f)
  })
  const registry = defaultRegistry()
  it('an unknown class → "Unknown provider class"', () => {
    assert.throws(() => registry.resolve('smsprovider.FooSMSProvider'), (e: unknown) => isOtpError(e, 'ERR_OTP_UNKNOWN_PROVIDER_CLASS') && /Unknown provider class: Identifier was/.test(e.message))
  })
  it('classes not in a registry fail with "provider class not available"', () => {
    const partial = new ProviderRegistry().register(FileSmsProviderClass)
    for (const c of ['HttpSMSProvider', 'SmtpSMSProvider', 'SMPPSMSProvider', 'RestSMSProvider', 'DeviceSMSProvider']) {
      assert.throws(() => partial.resolve(`smsprovider.${c}.${c}`), (e: unknown) => isOtpError(e, 'ERR_OTP_PROVIDER_CLASS_UNAVAILABLE') && e.message === `provider class not available: ${c}`)
    }
  })
  it('HttpSMSProvider and FileSMSProvider resolve under every form', () => {
    for (const f of [...forms('HttpSMSProvider'), ...forms('FileSMSProvider')]) assert.ok(registry.resolve(f))
  })
  it('load errors name the provider and the key', () => {
    const rec = { name: 'gw', className: 'HttpSMSProvider', config: '{"HTTP_Method":"PUT","URL":"http://127.0.0.1:9/"}', timeout: 120 }
    assert.throws(() => checkProviderRecord(rec, registry), configError(/^provider 'gw' \(HttpSMSProvider\): .*PUT/))
  })
})

describe('FileSMSProvider and the common keys', () => {
  let dir = ''
  after(() => rm(dir, { recursive: true, force: true }))
  it('writes <phone>:<message> after MSISDN and SUPPRESS_PREFIX; overwrites by default', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-file-'))
    const rec = { name: 'f', className: 'smsprovider.FileSMSProvider', config: JSON.stringify({ file: 'out.txt', here: dir, MSISDN: 'True', SUPPRESS_PREFIX: '+' }), timeout: 120 }
    const p = loadProvider(rec, defaultRegistry(), silentLogger)
    const f = new Failover(new ManualClock())
    assert.equal((await f.send([p], { phone: '+49 01602/2222-222', text: 'one 123456', transactionId: '1' })).status, 'sent')
    assert.equal((await f.send([p], { phone: '+49 170 1', text: 'two', transactionId: '2' })).status, 'sent')
    assert.equal(await readFile(join(dir, 'out.txt'), 'utf8'), '49170' + '1:two')
  })
  it('append mode keeps every message', async () => {
    const rec = { name: 'f2', className: 'FileSMSProvider', config: JSON.stringify({ file: join(dir, 'a.log'), append: true }), timeout: 120 }
    const p = loadProvider(rec, defaultRegistry(), silentLogger)
    for (const t of ['a', 'b']) await p.instance.send({ phone: '1', text: t, transactionId: t }, AbortSignal.timeout(10_000)) // a hang guard only
    assert.equal(await readFile(join(dir, 'a.log'), 'utf8'), '1:a\n1:b\n')
  })
  it('an unwritable path is unavailable', async () => {
    await writeFile(join(dir, 'plain-file'), '')
    const rec = { name: 'f3', className: 'FileSMSProvider', config: JSON.stringify({ file: join(dir, 'plain-file', 'x.log') }), timeout: 120 }
    const r = await loadProvider(rec, defaultRegistry(), silentLogger).instance.send({ phone: '1', text: 't', transactionId: '1' }, AbortSignal.timeout(10_000)) // a hang guard only
    assert.equal(r.status, 'unavailable')
    assert.match(r.status === 'unavailable' ? r.reason : '', /ENOTDIR/, 'the path failed, not the hang guard')
  })
})

/** A provider whose answers a test scripts (our own interface, no network). */
function scripted(name: string, answers: Array<SendResult | 'throw'>, timeout = 120): LoadedProvider & { calls: SmsMessage[] } {
  const calls: SmsMessage[] = []
  return {
    name, timeout, rewrite: { msisdn: false, suppressPrefix: '' }, calls,
    instance: {
      async send(msg) {
        calls.push(msg)
        const a = answers.shift() ?? { status: 'sent' }
        if (a === 'throw') throw new Error('boom')
        return a
      },
    },
  }
}

describe('failover and back-off', () => {
  const msg = { phone: '1', text: 't', transactionId: '1' }
  const down: SendResult = { status: 'unavailable', reason: 'timed out' }
  it('goes to the next provider when one is unavailable', async () => {
    const a = scripted('a', [down])
    const b = scripted('b', [])
    const r = await new Failover(new ManualClock()).send([a, b], msg)
    assert.deepEqual(r, { status: 'sent', provider: 'b' })
  })
  it('a rejection ends the loop (no failover)', async () => {
    const a = scripted('a', [{ status: 'rejected', reason: 'bad number' }])
    const b = scripted('b', [])
    const r = await new Failover(new ManualClock()).send([a, b], msg)
    assert.equal(r.status, 'rejected')
    assert.equal(b.calls.length, 0)
  })
  it('a throwing provider counts as rejected', async () => {
    const r = await new Failover(new ManualClock()).send([scripted('a', ['throw']), scripted('b', [])], msg)
    assert.deepEqual(r, { status: 'rejected', provider: 'a', reason: 'boom' })
  })
  it('blocks 30 s, doubling, capped at 2 h; success clears', async () => {
    const clock = new ManualClock()
    const f = new Failover(clock)
    const a = scripted('a', Array.from({ length: 20 }, () => down))
    const blocks: number[] = []
    for (let i = 0; i < 10; i++) {
      assert.equal((await f.send([a], msg)).status, 'unavailable')
      let ms = 0
      while (f.isBlocked('a')) {
        clock.advance(1000)
        ms += 1000
      }
      blocks.push(ms / 1000)
    }
    assert.deepEqual(blocks, [30, 60, 120, 240, 480, 960, 1920, 3840, 7200, 7200])
  })
  it('a success clears the failure history: the next outage starts again at 30 s', async () => {
    const clock = new ManualClock()
    const f = new Failover(clock)
    const b = scripted('b', [down, down, { status: 'sent' }, down])
    await f.send([b], msg)
    clock.advance(30_000)
    await f.send([b], msg) // second consecutive failure: 60 s
    clock.advance(60_000)
    assert.equal((await f.send([b], msg)).status, 'sent')
    await f.send([b], msg) // a new outage
    clock.advance(30_000)
    assert.equal(f.isBlocked('b'), false, 'blocked 30 s, not 120 s')
  })
  it('concurrent failures of one outage count once (no escalation to hours under load)', async () => {
    const clock = new ManualClock()
    const f = new Failover(clock)
    const a = scripted('a', Array.from({ length: 9 }, () => down))
    await Promise.all(Array.from({ length: 9 }, () => f.send([a], msg)))
    assert.equal(a.calls.length, 9, 'all nine were under way before the first failure')
    clock.advance(30_000)
    assert.equal(f.isBlocked('a'), false, 'one 30 s block')
  })
  it('a blocked provider is skipped without a call, and all blocked → unavailable naming them', async () => {
    const clock = new ManualClock()
    const f = new Failover(clock)
    const a = scripted('a', [down])
    await f.send([a], msg)
    const r = await f.send([a], msg)
    assert.equal(a.calls.length, 1)
    assert.equal(r.status, 'unavailable')
    assert.match((r as { reason: string }).reason, /unable to connect to any SMSProvider \[a\]/)
  })
})

describe('config errors never quote the config (it holds credentials)', () => {
  const cases = [
    '{"URL":"https://a/","PASSWORD":\'s3cr3t-gw\'}',
    '{"URL":"https://a/","PASSWORD":"s3cr3t-gw" "x":1}',
    '{"URL":"https://a/","PASSWORD":"s3cr3t-gw"',
    '{"URL":"https://a/","PASSWORD":s3cr3t-gw}',
  ]
  for (const text of cases) {
    it(text.slice(20, 48), () => {
      assert.throws(() => parseProviderJson(text), (e: unknown) => isOtpError(e) && !e.message.includes('s3cr3t') && /invalid provider configuration/.test(e.message))
    })
  }
  it('mixed quoting still gets "use double quotes"', () => {
    assert.throws(() => parseProviderJson(cases[0] as string), configError(/use double quotes/))
  })
})
