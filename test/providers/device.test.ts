/**
 * DeviceSMSProvider in both modes against a scripted modem on a real pty pair (socat): native
 * mode speaks AT itself, gnokii mode runs the real Debian gnokii against the same modem. Fake
 * gnokii scripts cover argv/stdin/exit-code/timeout handling that a real phone cannot script.
 */
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { SerialPort } from 'serialport'
import { ConfigError } from '../../src/errors.js'
import { silentLogger } from '../../src/logger.js'
import { DeviceSmsProviderClass, type DeviceOptions, type ModemOptions } from '../../src/providers/device/provider.js'
import { createModemProvider } from '../../src/providers/device/modem.js'
import { GSM_BASIC_ALPHABET } from '../../src/providers/gsm.js'
import { fitsTextMode } from '../../src/providers/device/text-mode.js'
import { encodeSubmit, PduError } from '../../src/providers/device/pdu.js'
import { loadProvider, sendVia } from '../../src/providers/loader.js'
import { ProviderRegistry } from '../../src/providers/registry.js'
import type { SendResult, SmsMessage, SmsProvider } from '../../src/providers/types.js'
import { recordingLogger } from '../helpers/harness.js'
import { decodeSubmit, missingTools, startModem, wedgeablePorts, type ScriptedModem, type WedgeablePorts, type Wedges } from '../helpers/modem.js'
import { classForms } from '../helpers/product-examples.js'
import { assertConfigError } from '../helpers/assertions.js'

const PHONE = '+491701234567'
const OTP = '493817'
const TEXT = `Your code ${OTP}`
const CYRILLIC = 'Ваш код 123456'
const CYRILLIC_PDU = '0001000C9194711032547600081C0412043004480020043A043E04340020003100320033003400350036'
const msg = (text = TEXT, phone = PHONE): SmsMessage => ({ phone, text, transactionId: 'tx-1' })
const never = () => new AbortController().signal

// Evaluated at load: on CI a missing tool fails the run instead of skipping.
const noPty = missingTools('socat')
const noGnokii = missingTools('socat', 'gnokii')

const dir = mkdtempSync(join(tmpdir(), 'sms-otp-device-'))
const providers: SmsProvider[] = []
let modem: ScriptedModem | undefined

function parse(config: Record<string, unknown>, warnings: string[] = []): DeviceOptions {
  return DeviceSmsProviderClass.parse(config, (w) => warnings.push(w))
}
function make(config: Record<string, unknown>, logger = silentLogger): SmsProvider {
  const p = DeviceSmsProviderClass.create(parse(config), { name: 'dev', logger })
  providers.push(p)
  return p
}
function theModem(): ScriptedModem {
  assert.ok(modem, 'modem not started')
  return modem
}
function gnokiirc(port: string, name = 'gnokiirc'): string {
  const file = join(dir, name)
  writeFileSync(file, `[global]\nmodel = AT\nport = ${port}\nconnection = serial\n`)
  return file
}
/** A stand-in gnokii: a shell script in the temp dir (configured through the GNOKII key). */
function fakeGnokii(name: string, body: string): string {
  const file = join(dir, name)
  writeFileSync(file, `#!/bin/sh\n${body}\n`)
  chmodSync(file, 0o755)
  return file
}
/** Polls `check` (bytes travel through socat asynchronously); the 10 s limit only catches a hang. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!check() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10))
  assert.ok(check(), `timed out waiting for ${what}`)
}
/** True while `pid` runs (a zombie waiting for its reaper counts as gone). */
function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}
/** Proves the port is free: serialport takes an exclusive flock, which fails while anyone holds it. */
async function assertPortFree(path: string): Promise<void> {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false })
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())))
  await new Promise<void>((resolve) => port.close(() => resolve()))
}

before(async () => {
  if (noPty === undefined) modem = await startModem()
})
after(async () => {
  await Promise.all(providers.map((p) => p.close?.()))
  await modem?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('PDU encoding (device-pdu)', () => {
  it('the GSM default alphabet has 128 positions at their 23.038 places', () => {
    assert.equal([...GSM_BASIC_ALPHABET].length, 128)
    for (const [i, ch] of [[0x00, '@'], [0x02, '$'], [0x11, '_'], [0x1b, '\x1b'], [0x24, '¤'], [0x40, '¡'], [0x5b, 'Ä'], [0x60, '¿'], [0x7f, 'à']] as const) {
      assert.equal([...GSM_BASIC_ALPHABET][i], ch, `position 0x${i.toString(16)}`)
    }
  })

  it('reproduces the classic "hellohello" and "hello" SMS-SUBMIT PDUs', () => {
    const classic = encodeSubmit('+46708251358', 'hellohello', { reference: 0, validityPeriod: 0xaa })
    assert.deepEqual(classic, [{ hex: '0011000B916407281553F80000AA0AE8329BFD4697D9EC37', length: 23 }])
    const national = encodeSubmit('1234567', 'hello', { reference: 0, validityPeriod: 0xaa })
    assert.deepEqual(national, [{ hex: '0011000781214365F70000AA05E8329BFD06', length: 17 }])
    // our default: no validity period (TP-VPF 00), so first octet 01 and no VP octet
    assert.deepEqual(encodeSubmit('+46708251358', 'hellohello', { reference: 0 }), [{ hex: '0001000B916407281553F800000AE8329BFD4697D9EC37', length: 22 }])
  })

  it('encodes "Ваш код 123456" as UCS-2 (DCS 08) with the exact PDU', () => {
    const [pdu, ...rest] = encodeSubmit(PHONE, CYRILLIC, { reference: 0 })
    assert.equal(rest.length, 0)
    assert.deepEqual(pdu, { hex: CYRILLIC_PDU, length: 41 })
    const d = decodeSubmit(CYRILLIC_PDU)
    assert.deepEqual([d.phone, d.dcs, d.text, d.tpduLength], [PHONE, 0x08, CYRILLIC, 41])
  })

  it('extension characters take two septets, and an escape is never split across parts', () => {
    const [one] = encodeSubmit(PHONE, '€[', { reference: 0 })
    assert.equal(decodeSubmit(one!.hex).udl, 4)
    assert.equal(decodeSubmit(one!.hex).text, '€[')
    const text = `${'a'.repeat(152)}€${'b'.repeat(20)}` // the € would straddle the 153-septet boundary
    const parts = encodeSubmit(PHONE, text, { reference: 0x42 }).map((p) => decodeSubmit(p.hex))
    assert.equal(parts.length, 2)
    assert.equal(parts[0]!.text, 'a'.repeat(152))
    assert.equal(parts.map((p) => p.text).join(''), text)
    assert.deepEqual(parts.map((p) => p.udh), [{ ref: 0x42, total: 2, seq: 1 }, { ref: 0x42, total: 2, seq: 2 }])
  })

  it('splits long GSM texts into 153-septet parts with a UDH and fill bit', () => {
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(8).trim() // 359 characters
    const pdus = encodeSubmit(PHONE, text, { reference: 7 })
    const parts = pdus.map((p) => decodeSubmit(p.hex))
    assert.deepEqual(parts.map((p) => p.udl), [160, 160, 7 + 359 - 306])
    assert.equal(parts.map((p) => p.text).join(''), text)
    assert.ok(parts.every((p) => p.first === 0x41 && p.dcs === 0 && p.phone === PHONE))
    assert.deepEqual(pdus.map((p) => p.length), parts.map((p) => p.tpduLength))
  })

  it('splits long UCS-2 texts into 67-unit parts without splitting a surrogate pair', () => {
    const text = `${'ж'.repeat(66)}😀${'ы'.repeat(30)}`
    const parts = encodeSubmit(PHONE, text, { reference: 9 }).map((p) => decodeSubmit(p.hex))
    assert.equal(parts.length, 2)
    assert.equal(parts[0]!.text, 'ж'.repeat(66)) // the emoji would need units 67 and 68
    assert.equal(parts.map((p) => p.text).join(''), text)
    assert.ok(parts.every((p) => p.dcs === 0x08 && p.udl <= 140))
  })

  it('refuses bad destinations and texts beyond maxParts', () => {
    assert.throws(() => encodeSubmit('+49 170', 'x', { reference: 0 }), PduError)
    assert.throws(() => encodeSubmit('+4917\r\nAT', 'x', { reference: 0 }), PduError)
    assert.throws(() => encodeSubmit(PHONE, 'x'.repeat(154 * 2), { reference: 0, maxParts: 2 }), /needs 3 SMS parts/)
  })

  it('text mode takes only characters that are the same in IRA and GSM and no control characters', () => {
    assert.equal(fitsTextMode('Your OTP: 123456. (valid 2 min) "ok"?'), true)
    for (const bad of ['a@b', 'US$', 'a_b', 'a\rb', 'a\nb', 'a\x1ab', 'a\x1bb', 'Grüße', '[x]', 'x'.repeat(161)]) {
      assert.equal(fitsTextMode(bad), false, JSON.stringify(bad))
    }
  })
})

describe('DeviceSMSProvider config', () => {
  const rc = () => gnokiirc('/dev/null', 'cfg-rc')

  it('CONFIGFILE selects gnokii mode with LinOTP defaults; options are frozen', () => {
    const o = parse({ CONFIGFILE: rc() })
    assert.deepEqual(o, { mode: 'gnokii', configFile: join(dir, 'cfg-rc'), smsc: undefined, binary: 'gnokii', timeoutMs: 60000 })
    assert.ok(Object.isFrozen(o))
    assert.deepEqual(parse({ CONFIGFILE: rc(), SMSC: '+49 171 0760000', GNOKII: '/usr/bin/gnokii', TIMEOUT: '2.5' }), {
      mode: 'gnokii', configFile: join(dir, 'cfg-rc'), smsc: '+491710760000', binary: '/usr/bin/gnokii', timeoutMs: 2500,
    })
  })

  it('PORT selects native mode with its defaults', () => {
    assert.deepEqual(parse({ PORT: '/dev/ttyUSB0' }), {
      mode: 'native', port: '/dev/ttyUSB0', baudRate: 115200, pin: undefined, smsc: undefined, timeoutMs: 10000, sendTimeoutMs: 60000, format: 'auto',
    })
    const o = parse({ PORT: '/dev/ttyACM1', BAUDRATE: '9600', PIN: '0815', SMSC: '+491710760000', TIMEOUT: 5, SEND_TIMEOUT: 90, MODE: 'PDU' })
    assert.deepEqual(o, { mode: 'native', port: '/dev/ttyACM1', baudRate: 9600, pin: '0815', smsc: '+491710760000', timeoutMs: 5000, sendTimeoutMs: 90000, format: 'pdu' })
  })

  it('neither or both of CONFIGFILE and PORT is a ConfigError that explains the two modes', () => {
    assertConfigError(() => parse({}), /missing CONFIGFILE or PORT: set CONFIGFILE \(gnokii mode.*\) or PORT \(native mode/)
    assertConfigError(() => parse({ CONFIGFILE: rc(), PORT: '/dev/ttyUSB0' }), /both CONFIGFILE and PORT given/)
  })

  it('a CONFIGFILE that does not exist is a ConfigError', () => {
    assertConfigError(() => parse({ CONFIGFILE: join(dir, 'nope.rc') }), /^CONFIGFILE: cannot read '.*nope\.rc' \(ENOENT\)$/)
    assertConfigError(() => parse({ CONFIGFILE: dir }), /CONFIGFILE: '.*' is not a file/)
  })

  it('refuses bad values naming the key, never echoing a PIN', () => {
    assertConfigError(() => parse({ PORT: '/dev/x', PIN: '12ab5' }), /^PIN: must be 4 to 8 digits$/)
    assert.throws(() => parse({ PORT: '/dev/x', PIN: '123456789' }), (e: unknown) => e instanceof ConfigError && !e.message.includes('123456789'))
    assertConfigError(() => parse({ PORT: '/dev/x', MODE: 'binary' }), /^MODE: must be auto, text or pdu/)
    assertConfigError(() => parse({ PORT: '/dev/x', BAUDRATE: 'fast' }), /^BAUDRATE:/)
    assertConfigError(() => parse({ PORT: '/dev/x', TIMEOUT: 0 }), /^TIMEOUT: expected seconds/)
    assertConfigError(() => parse({ PORT: '/dev/x', SEND_TIMEOUT: '1h' }), /^SEND_TIMEOUT:/)
    assertConfigError(() => parse({ PORT: '/dev/x\r\nAT' }), /^PORT:/)
    assertConfigError(() => parse({ PORT: '/dev/x', SMSC: '+49"\rAT+CFUN=0' }), /^SMSC: must be/)
    assertConfigError(() => parse({ CONFIGFILE: rc(), SMSC: '--help' }), /^SMSC: must be/)
  })

  it('warns about unknown keys, keys of the other mode and a Timeout key', () => {
    const warnings: string[] = []
    parse({ CONFIGFILE: rc(), BAUDRATE: 9600, Timeout: 120, FOO: 1, MSISDN: true, SUPPRESS_PREFIX: '+' }, warnings)
    assert.deepEqual(warnings, [
      "'BAUDRATE' belongs to native (PORT) mode and is ignored",
      "'Timeout' in the config is ignored: the device timeout key is 'TIMEOUT' (the provider Timeout is the OTP validity)",
      "unknown key 'FOO' ignored",
    ])
    const w2: string[] = []
    parse({ PORT: '/dev/x', GNOKII: 'gnokii', timeout: 3 }, w2)
    assert.deepEqual(w2, ["'GNOKII' belongs to gnokii (CONFIGFILE) mode and is ignored"])
    const w3: string[] = []
    parse({ CONFIGFILE: rc(), GNOKII: join(dir, 'no-such-gnokii') }, w3)
    assert.match(w3[0] ?? '', /GNOKII: '.*no-such-gnokii' is not an executable file now/)
  })
})

describe('DeviceSMSProvider native mode (AT over a pty)', { skip: noPty }, () => {
  const config = (extra: Record<string, unknown> = {}) => ({ PORT: theModem().path, TIMEOUT: 0.5, SEND_TIMEOUT: 1, ...extra })
  const PREFIX = ['AT', 'ATE0', 'AT+CMEE=1', 'AT+CPIN?']

  it('text mode: the exact command sequence, and the modem receives the text', async () => {
    const m = theModem()
    m.reset()
    const r = await make(config()).send(msg(), never())
    assert.deepEqual(r, { status: 'sent', gatewayId: '1' })
    assert.deepEqual(m.commands, [...PREFIX, 'AT+CMGF=1', `AT+CMGS="${PHONE}"`])
    assert.deepEqual(m.bodies, [TEXT])
    assert.equal(m.raw().toString('latin1'), `AT\rATE0\rAT+CMEE=1\rAT+CPIN?\rAT+CMGF=1\rAT+CMGS="${PHONE}"\r${TEXT}\x1a`)
  })

  it('PDU mode for "Ваш код 123456": AT+CMGS=41 and the exact PDU', async () => {
    const m = theModem()
    m.reset()
    const r = await make(config()).send(msg(CYRILLIC), never())
    assert.equal(r.status, 'sent')
    assert.deepEqual(m.commands, [...PREFIX, 'AT+CMGF=0', 'AT+CMGS=41'])
    assert.deepEqual(m.bodies, [CYRILLIC_PDU])
  })

  it('separators in a stored number are dropped; SMSC is set with AT+CSCA', async () => {
    const m = theModem()
    m.reset()
    const r = await make(config({ SMSC: '+491710760000' })).send(msg(TEXT, '+49 170 1234-567'), never())
    assert.equal(r.status, 'sent')
    assert.deepEqual(m.commands.slice(4), ['AT+CMGF=1', 'AT+CSCA="+491710760000"', `AT+CMGS="${PHONE}"`])
  })

  it('MODE auto: Ctrl-Z, ESC or CR in the text force PDU mode (the text arrives intact)', async () => {
    const m = theModem()
    const text = `code ${OTP}\x1a\x1b\rAT+CFUN=0`
    m.reset()
    assert.equal((await make(config()).send(msg(text), never())).status, 'sent')
    assert.deepEqual(m.commands.slice(4), ['AT+CMGF=0', `AT+CMGS=${decodeSubmit(m.bodies[0]!).tpduLength}`])
    assert.match(m.bodies[0]!, /^[0-9A-F]+$/)
    assert.equal(decodeSubmit(m.bodies[0]!).text, text)
  })

  it('MODE text: such a text is refused before anything is written', async () => {
    const m = theModem()
    m.reset()
    const r = await make(config({ MODE: 'text' })).send(msg(`x\x1aAT+CFUN=0\r`), never())
    assert.equal(r.status, 'rejected')
    assert.match((r as { reason: string }).reason, /^MODE text: the text has characters text mode cannot carry safely/)
    await new Promise((res) => setTimeout(res, 50))
    assert.equal(m.raw().length, 0)
  })

  it('MODE pdu: a plain text goes as GSM 7-bit PDU; long texts as concatenated parts', async () => {
    const m = theModem()
    m.reset()
    assert.equal((await make(config({ MODE: 'pdu' })).send(msg(), never())).status, 'sent')
    assert.deepEqual(m.commands.slice(4), ['AT+CMGF=0', 'AT+CMGS=27'])
    assert.deepEqual([decodeSubmit(m.bodies[0]!).dcs, decodeSubmit(m.bodies[0]!).text], [0, TEXT])

    m.reset()
    const long = `${TEXT} `.repeat(12) // 204 characters
    const r = await make(config()).send(msg(long), never())
    assert.deepEqual(r, { status: 'sent', gatewayId: '1,2' })
    const parts = m.bodies.map((b) => decodeSubmit(b))
    assert.deepEqual(m.commands.slice(4), ['AT+CMGF=0', `AT+CMGS=${parts[0]!.tpduLength}`, `AT+CMGS=${parts[1]!.tpduLength}`])
    assert.equal(parts.map((p) => p.text).join(''), long)
    assert.equal(parts[0]!.udh?.ref, parts[1]!.udh?.ref)
    assert.deepEqual(parts.map((p) => [p.udh?.total, p.udh?.seq]), [[2, 1], [2, 2]])
  })

  it('unlocks a SIM that asks for its PIN', async () => {
    const m = theModem()
    m.reset({ pin: '4711' })
    const r = await make(config({ PIN: '4711' })).send(msg(), never())
    assert.equal(r.status, 'sent')
    assert.deepEqual(m.commands, [...PREFIX, 'AT+CPIN="4711"', 'AT+CMGF=1', `AT+CMGS="${PHONE}"`])
  })

  it('a SIM PIN request without a configured PIN is unavailable with a clear reason', async () => {
    const m = theModem()
    m.reset({ pin: '4711' })
    const r = await make(config()).send(msg(), never())
    assert.deepEqual(r, { status: 'unavailable', reason: 'the SIM asks for its PIN and no PIN is configured (key PIN)' })
    assert.deepEqual(m.commands, PREFIX)
  })

  it('a refused PIN is never sent again by that provider (protects the SIM from a PUK lock)', async () => {
    const m = theModem()
    m.reset({ pin: '4711' })
    const p = make(config({ PIN: '1234' }))
    const first = await p.send(msg(), never())
    assert.equal(first.status, 'unavailable')
    assert.match((first as { reason: string }).reason, /refused the configured PIN: modem answered \+CME ERROR: 16 \(incorrect password\) to AT\+CPIN=<PIN>/)
    assert.ok(!(first as { reason: string }).reason.includes('1234'))
    m.reset({ pin: '4711' })
    const second = await p.send(msg(), never())
    assert.match((second as { reason: string }).reason, /refused the configured PIN before; not retried/)
    assert.deepEqual(m.commands, PREFIX)
  })

  it('a SIM that needs its PUK is unavailable', async () => {
    theModem().reset({ replies: { 'AT+CPIN?': '+CPIN: SIM PUK' } })
    const r = await make(config({ PIN: '4711' })).send(msg(), never())
    assert.deepEqual(r, { status: 'unavailable', reason: 'the SIM is not ready (SIM PUK): unlock it manually' })
  })

  it('errors before AT+CMGS are unavailable with the code and its meaning; a modem without AT+CMEE still works', async () => {
    theModem().reset({ errors: { 'AT+CPIN?': '+CME ERROR: 10' } })
    assert.deepEqual(await make(config()).send(msg(), never()), {
      status: 'unavailable', reason: 'modem answered +CME ERROR: 10 (SIM not inserted) to AT+CPIN?',
    })
    theModem().reset({ errors: { 'AT+CMGF=0': '+CMS ERROR: 303' } })
    assert.deepEqual(await make(config()).send(msg(CYRILLIC), never()), {
      status: 'unavailable', reason: 'modem answered +CMS ERROR: 303 (operation not supported) to AT+CMGF=0',
    })
    const m = theModem()
    m.reset({ errors: { 'AT+CMEE=1': 'ERROR' } })
    assert.equal((await make(config()).send(msg(), never())).status, 'sent')
    assert.deepEqual(m.bodies, [TEXT])
  })

  it('+CMS ERROR: 500 is rejected with the code and its meaning; 330 is unavailable', async () => {
    theModem().reset({ sendError: '+CMS ERROR: 500' })
    assert.deepEqual(await make(config()).send(msg(), never()), {
      status: 'rejected', reason: 'modem answered +CMS ERROR: 500 (unknown error) to AT+CMGS',
    })
    theModem().reset({ sendError: '+CMS ERROR: 330' })
    assert.deepEqual(await make(config()).send(msg(), never()), {
      status: 'unavailable', reason: 'modem answered +CMS ERROR: 330 (SMSC address unknown) to AT+CMGS',
    })
    theModem().reset({ sendError: 'ERROR' })
    const plain = await make(config()).send(msg(), never())
    assert.equal(plain.status, 'rejected')
    assert.match((plain as { reason: string }).reason, /^modem answered ERROR \(enable AT\+CMEE=1/)
  })

  it('a modem that stops answering is unavailable after TIMEOUT and the port is released', async () => {
    const m = theModem()
    m.reset({ silentAfter: 'AT+CPIN?' })
    const p = make(config())
    const started = Date.now()
    const r = await p.send(msg(), never())
    const ms = Date.now() - started
    // The reason names the 0.5 s TIMEOUT that fired (the modem stays silent, so nothing else ends
    // the send); the lower bound proves the wait, the upper one only catches a hang (and the 10 s default).
    assert.deepEqual(r, { status: 'unavailable', reason: 'the modem did not answer AT+CPIN? within 0.5 s' })
    assert.ok(ms >= 450 && ms < 10_000, `took ${ms} ms`)
    await assertPortFree(m.path)
    m.reset()
    assert.equal((await p.send(msg(), never())).status, 'sent', 'a later send opens the port again')
  })

  it('no answer after the message body: SEND_TIMEOUT, ESC cancels the prompt, port released', async () => {
    const m = theModem()
    m.reset({ silentAfterBody: true })
    const p = make(config())
    const r = await p.send(msg(), never())
    assert.deepEqual(r, { status: 'unavailable', reason: 'the modem did not answer AT+CMGS within 1 s' })
    await until(() => m.raw().at(-1) === 0x1b, 'ESC after the body')
    await assertPortFree(m.path)
    m.reset()
    assert.equal((await p.send(msg(), never())).status, 'sent')
  })

  it('an abort through the signal ends the session promptly and releases the port', async () => {
    const m = theModem()
    m.reset({ silentAfter: 'AT+CPIN?' })
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 100)
    const started = Date.now()
    // TIMEOUT 30 s: an abort that waited for the timeout would trip the hang guard.
    const r = await make(config({ TIMEOUT: 30 })).send(msg(), ac.signal)
    assert.deepEqual(r, { status: 'unavailable', reason: 'aborted while waiting for AT+CPIN?' })
    assert.ok(Date.now() - started < 10_000, 'hang guard')
    await assertPortFree(m.path)
  })

  it('a text longer than 10 parts is rejected before the port is opened', async () => {
    const m = theModem()
    m.reset()
    const r = await make(config()).send(msg('ж'.repeat(67 * 10 + 1)), never())
    assert.deepEqual(r, { status: 'rejected', reason: 'the text needs 11 SMS parts, more than the 10 allowed' })
    await new Promise((res) => setTimeout(res, 50))
    assert.equal(m.raw().length, 0)
  })

  it('a phone number cannot inject an AT command: rejected and nothing written', async () => {
    const m = theModem()
    m.reset()
    const p = make(config())
    for (const phone of ['+49170\r\nAT+CFUN=0', '+49170";AT+CFUN=0;"', '--foo', '+49170\x1a']) {
      const r = await p.send(msg(TEXT, phone), never())
      assert.equal(r.status, 'rejected', JSON.stringify(phone))
      assert.ok(!(r as { reason: string }).reason.includes('49170'))
    }
    await new Promise((res) => setTimeout(res, 50))
    assert.equal(m.raw().length, 0)
    assert.deepEqual(m.commands, [])
  })

  it('sends through one port take turns, even from two provider instances', async () => {
    const m = theModem()
    m.reset()
    const a = make(config())
    const b = make(config())
    const results = await Promise.all([a.send(msg(), never()), b.send(msg(CYRILLIC), never()), a.send(msg(), never())])
    assert.deepEqual(results.map((r) => r.status), ['sent', 'sent', 'sent'])
    const one = [...PREFIX, 'AT+CMGF=1', `AT+CMGS="${PHONE}"`]
    assert.deepEqual(m.commands, [...one, ...PREFIX, 'AT+CMGF=0', 'AT+CMGS=41', ...one])
    assert.deepEqual(m.bodies, [TEXT, CYRILLIC_PDU, TEXT])
  })

  it('a send aborted while waiting for the port gives up without touching the modem', async () => {
    const m = theModem()
    m.reset({ silentAfter: 'AT+CPIN?' })
    const p = make(config({ TIMEOUT: 30 })) // the first send holds the silent modem for 30 s
    const first = p.send(msg(), never())
    let firstDone = false
    void first.then(() => (firstDone = true))
    const ac = new AbortController()
    const second = p.send(msg(CYRILLIC), ac.signal)
    setTimeout(() => ac.abort(), 100)
    const started = Date.now()
    assert.deepEqual(await second, { status: 'unavailable', reason: 'aborted while waiting for the modem (another message was being sent)' })
    assert.equal(firstDone, false, 'the first send still holds the modem')
    assert.ok(Date.now() - started < 10_000, 'hang guard: did not wait for the first send')
    await p.close?.() // ends the first send
    assert.equal((await first).status, 'unavailable')
    assert.deepEqual(m.commands, PREFIX, 'only the first session reached the modem')
  })

  it('a port that cannot be opened is unavailable', async () => {
    const r = await make({ PORT: join(dir, 'no-such-tty'), TIMEOUT: 0.5 }).send(msg(), never())
    assert.equal(r.status, 'unavailable')
    assert.match((r as { reason: string }).reason, /^cannot open serial port .*no-such-tty: /)
  })

  it('test() checks the modem and the SIM without sending', async () => {
    const m = theModem()
    m.reset()
    assert.deepEqual(await make(config()).test?.(never()), { status: 'sent' })
    assert.deepEqual(m.commands, PREFIX)
    assert.deepEqual(m.bodies, [])
  })

  it('close() is idempotent, waits for a running session, and later sends are unavailable', async () => {
    const m = theModem()
    m.reset({ silentAfter: 'AT+CPIN?' })
    const p = make(config({ TIMEOUT: 5 }))
    const running = p.send(msg(), never())
    await new Promise((res) => setTimeout(res, 100))
    await Promise.all([p.close?.(), p.close?.()])
    assert.equal((await running).status, 'unavailable')
    await assertPortFree(m.path)
    assert.deepEqual(await p.send(msg(), never()), { status: 'unavailable', reason: 'provider is closed' })
  })
})

describe('DeviceSMSProvider native mode: a wedged serial driver (write, flush or close never completes)', { skip: noPty }, () => {
  const wedged: WedgeablePorts[] = []
  after(() => {
    for (const w of wedged) w.unwedge()
  })

  /** A native-mode provider on the scripted modem whose port binding misbehaves as `wedges` says. */
  function makeWedged(wedges: Wedges, extra: Record<string, unknown> = {}) {
    const options = parse({ PORT: theModem().path, TIMEOUT: 0.5, SEND_TIMEOUT: 1, ...extra })
    assert.equal(options.mode, 'native')
    const ports = wedgeablePorts(wedges)
    wedged.push(ports)
    const p = createModemProvider(options as ModemOptions, silentLogger, ports.factory)
    providers.push(p)
    return { ports, p }
  }

  /** `p`'s value, or 'hung' when it takes longer than `ms` (the bug this guards against is a wait forever). */
  function within<T>(p: Promise<T>, ms = 10_000): Promise<T | 'hung'> {
    return Promise.race([p, new Promise<'hung'>((res) => setTimeout(() => res('hung'), ms).unref())])
  }

  it('the message body write never completes: the send ends after SEND_TIMEOUT, the stuck output is discarded and the port released', async () => {
    const m = theModem()
    m.reset()
    const { ports, p } = makeWedged({ write: (data) => data.includes(0x1a) }, { TIMEOUT: 0.3, SEND_TIMEOUT: 0.5 })
    const started = Date.now()
    const r = await within(p.send(msg(), never()))
    const ms = Date.now() - started
    assert.deepEqual(r, { status: 'unavailable', reason: 'the modem did not answer AT+CMGS within 0.5 s' })
    // SEND_TIMEOUT, then at most 0.3 s each for the ESC, the flush and the close; `within` catches a hang
    assert.ok(ms >= 450, `took ${ms} ms`)
    assert.equal(ports.stuck.write, 1)
    assert.equal(ports.flushes, 2, 'flushed at open, and again when the ESC could not be written')
    assert.ok(ports.ports[0]!.destroyed)
    assert.deepEqual(m.bodies, [])
    await assertPortFree(m.path)
    m.reset()
    ports.wedges = {}
    assert.deepEqual(await within(p.send(msg(), never())), { status: 'sent', gatewayId: '1' })
    assert.deepEqual(m.bodies, [TEXT])
  })

  it('provider.close() during a wedged write returns promptly; the port can be opened again', async () => {
    const m = theModem()
    m.reset()
    const { ports, p } = makeWedged({ write: (data) => data.includes(0x1a) }, { TIMEOUT: 0.3, SEND_TIMEOUT: 60 })
    const running = p.send(msg(), never())
    await until(() => ports.stuck.write === 1, 'the body write to wedge')
    const started = Date.now()
    assert.equal(await within(p.close!()), undefined)
    // `within` catches a close that waits out the 60 s SEND_TIMEOUT (or forever).
    assert.ok(Date.now() - started < 10_000, `close took ${Date.now() - started} ms`)
    assert.deepEqual(await running, { status: 'unavailable', reason: 'aborted while waiting for AT+CMGS' })
    assert.ok(ports.ports[0]!.destroyed)
    await assertPortFree(m.path)
    m.reset()
    assert.deepEqual(await make({ PORT: m.path, TIMEOUT: 0.5 }).send(msg(), never()), { status: 'sent', gatewayId: '1' })
  })

  it('the input flush at open never completes: unavailable within TIMEOUT, nothing written, the port released', async () => {
    const m = theModem()
    m.reset()
    const { ports, p } = makeWedged({ flush: true })
    const started = Date.now()
    const r = await within(p.send(msg(), never()))
    const ms = Date.now() - started
    assert.deepEqual(r, { status: 'unavailable', reason: 'the serial port did not flush its input within 0.5 s (driver wedged?)' })
    assert.ok(ms >= 450 && ms < 10_000, `took ${ms} ms`) // the lower bound proves the wait; the upper one only catches a hang
    assert.equal(ports.stuck.flush, 1)
    assert.ok(ports.ports[0]!.destroyed)
    assert.equal(m.raw().length, 0)
    await assertPortFree(m.path)
    ports.wedges = {}
    assert.deepEqual(await within(p.send(msg(), never())), { status: 'sent', gatewayId: '1' })
  })

  it('a close that never reports completion: the send still returns, the old port object is dropped, the next send opens the port again', async () => {
    const m = theModem()
    m.reset()
    const { ports, p } = makeWedged({ close: true })
    const started = Date.now()
    assert.deepEqual(await within(p.send(msg(), never())), { status: 'sent', gatewayId: '1' })
    // The close limit is TIMEOUT (at most 2 s); the bound only catches a send that waits for the close.
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`)
    assert.equal(ports.stuck.close, 1)
    const first = ports.ports[0]!
    assert.ok(first.destroyed)
    assert.equal(first.listenerCount('data'), 0, 'nothing the abandoned port emits reaches a channel')
    await assertPortFree(m.path)
    assert.deepEqual(await within(p.send(msg('second'), never())), { status: 'sent', gatewayId: '2' })
    assert.deepEqual(m.bodies, [TEXT, 'second'])
    assert.equal(ports.stuck.close, 2)
    assert.equal(await within(p.close!()), undefined)
  })
})

describe('DeviceSMSProvider gnokii mode with the real gnokii', { skip: noGnokii }, () => {
  const config = (extra: Record<string, unknown> = {}) => ({ CONFIGFILE: gnokiirc(theModem().path), TIMEOUT: 10, ...extra })
  /** gnokii's PDU without its SCA, next to ours with gnokii's choices (VP 4 days, its reference). */
  const compare = (body: string, text: string) => {
    const d = decodeSubmit(body)
    const ours = encodeSubmit(PHONE, text, { reference: d.udh?.ref ?? 0, validityPeriod: 0xaa })
    return { d, gnokiiTpdu: body.slice(2 + 2 * d.scaOctets), ours }
  }

  it('sends a GSM text: gnokii reaches AT+CMGS and its PDU equals ours', async () => {
    const m = theModem()
    m.reset()
    const r = await make(config()).send(msg(), never())
    assert.deepEqual(r, { status: 'sent', gatewayId: '1' })
    assert.ok(m.commands.includes('ATZ') && m.commands.some((c) => /^AT\+CMGS=\d+$/.test(c)), m.commands.join(' '))
    assert.equal(m.bodies.length, 1)
    const { d, gnokiiTpdu, ours } = compare(m.bodies[0]!, TEXT)
    assert.deepEqual([d.phone, d.text], [PHONE, TEXT])
    assert.equal(gnokiiTpdu, ours[0]!.hex.slice(2))
  })

  it('the text reaches gnokii as UTF-8: "Ваш код 123456" goes out as UCS-2', async () => {
    const m = theModem()
    m.reset()
    assert.equal((await make(config()).send(msg(CYRILLIC), never())).status, 'sent')
    const { d, gnokiiTpdu, ours } = compare(m.bodies[0]!, CYRILLIC)
    assert.deepEqual([d.dcs, d.text], [0x08, CYRILLIC])
    assert.equal(gnokiiTpdu, ours[0]!.hex.slice(2))
  })

  it('gnokii agrees with our encoder on the whole GSM alphabet and on concatenation', async () => {
    const m = theModem()
    const alphabet = '@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà€[]{}~^\\|'
    m.reset()
    assert.equal((await make(config()).send(msg(alphabet), never())).status, 'sent')
    assert.equal(compare(m.bodies[0]!, alphabet).gnokiiTpdu, compare(m.bodies[0]!, alphabet).ours[0]!.hex.slice(2))
    const long = 'The quick brown fox jumps over the lazy dog. '.repeat(5).trim()
    m.reset()
    assert.equal((await make(config()).send(msg(long), never())).status, 'sent')
    assert.equal(m.bodies.length, 2)
    const ours = compare(m.bodies[0]!, long).ours
    assert.deepEqual(m.bodies.map((b) => compare(b, long).gnokiiTpdu), ours.map((p) => p.hex.slice(2)))
  })

  it('SMSC is passed as --smsc and ends up in the PDU', async () => {
    const m = theModem()
    m.reset()
    assert.equal((await make(config({ SMSC: '+491710760000' })).send(msg(), never())).status, 'sent')
    assert.equal(decodeSubmit(m.bodies[0]!).sca, '+491710760000')
  })

  it('gnokii that cannot open its port is unavailable ("Telephone interface init failed")', async () => {
    const r = await make({ CONFIGFILE: gnokiirc(join(dir, 'no-such-tty'), 'bad-rc'), TIMEOUT: 10 }).send(msg(), never())
    assert.equal(r.status, 'unavailable')
    assert.match((r as { reason: string }).reason, /^gnokii exited with code \d+ \(Telephone interface init failed: Command failed\.\)$/)
  })

  it('a gnokii hanging on a silent modem is killed after TIMEOUT; the next send works', async () => {
    const m = theModem()
    m.reset({ silentAfter: 'AT' })
    const p = make(config({ TIMEOUT: 0.5 }))
    const started = Date.now()
    assert.deepEqual(await p.send(msg(), never()), { status: 'unavailable', reason: 'gnokii did not finish within 0.5 s and was killed' })
    assert.ok(Date.now() - started < 10_000, 'hang guard (the default TIMEOUT is 60 s)')
    m.reset()
    const p2 = make(config())
    assert.equal((await p2.send(msg(), never())).status, 'sent')
  })

  it('two sends through one CONFIGFILE run one gnokii at a time', async () => {
    const m = theModem()
    m.reset()
    const p = make(config())
    const results = await Promise.all([p.send(msg(), never()), p.send(msg(CYRILLIC), never()), make(config()).send(msg(), never())])
    assert.deepEqual(results.map((r) => r.status), ['sent', 'sent', 'sent'])
    assert.deepEqual(m.bodies.map((b) => decodeSubmit(b).text), [TEXT, CYRILLIC, TEXT])
  })

  it('test() runs gnokii --identify', async () => {
    const m = theModem()
    m.reset()
    assert.deepEqual(await make(config()).test?.(never()), { status: 'sent' })
    assert.ok(m.commands.includes('AT+CGMI'))
    assert.deepEqual(m.bodies, [])
  })
})

describe('DeviceSMSProvider gnokii mode: process handling (stand-in gnokii)', () => {
  const rc = () => gnokiirc('/dev/null', 'fake-rc')
  const recorder = (exit = 0, extra = '') =>
    fakeGnokii(`rec-${exit}`, `printf '%s\\n' "$@" > ${dir}/argv\ncat > ${dir}/stdin\nenv > ${dir}/env\n${extra}\nexit ${exit}`)
  const clean = () => ['argv', 'stdin', 'env'].forEach((f) => rmSync(join(dir, f), { force: true }))

  it('argv is --config <file> --sendsms <phone> --smsc <SMSC>; the text arrives verbatim on stdin', async () => {
    clean()
    process.env.SMS_OTP_TEST_SECRET = 'do-not-leak'
    const witness = join(dir, 'pwned')
    const text = `Код ${OTP} $(touch ${witness}) \`touch ${witness}\` ; rm -rf / "'`
    const gnokii = fakeGnokii('rec-ok', `printf '%s\\n' "$@" > ${dir}/argv\ncat > ${dir}/stdin\nenv > ${dir}/env\necho 'Send succeeded with reference 42!'`)
    const r = await make({ CONFIGFILE: rc(), SMSC: '+491710760000', GNOKII: gnokii }).send(msg(text), never())
    delete process.env.SMS_OTP_TEST_SECRET
    assert.deepEqual(r, { status: 'sent', gatewayId: '42' })
    assert.deepEqual(readFileSync(join(dir, 'argv'), 'utf8').split('\n').slice(0, -1), ['--config', join(dir, 'fake-rc'), '--sendsms', PHONE, '--smsc', '+491710760000'])
    assert.deepEqual(readFileSync(join(dir, 'stdin')), Buffer.from(text, 'utf8'))
    assert.equal(existsSync(witness), false)
    const env = readFileSync(join(dir, 'env'), 'utf8')
    assert.match(env, /^LC_ALL=C\.UTF-8$/m)
    assert.ok(!env.includes('do-not-leak'), 'the environment of the server does not reach gnokii')
  })

  it('a phone that is not + and digits is rejected and gnokii is not started', async () => {
    clean()
    const p = make({ CONFIGFILE: rc(), GNOKII: recorder() })
    for (const phone of ['--foo', '-h', '+49170 --smsc 1', '$(touch x)', '+49170\n', '']) {
      const r = await p.send(msg(TEXT, phone), never())
      assert.equal(r.status, 'rejected', JSON.stringify(phone))
    }
    assert.equal(existsSync(join(dir, 'argv')), false)
  })

  it('a non-zero exit is rejected with the exit code; "could not reach the phone" codes are unavailable', async () => {
    const failing = fakeGnokii('fail-3', `cat >/dev/null\necho "GNOKII Version 0.6.30"\necho "to ${PHONE}: ${TEXT}"\necho "SMS Send failed (Invalid phone number ${PHONE}.)" >&2\nexit 3`)
    const r = await make({ CONFIGFILE: rc(), GNOKII: failing }).send(msg(), never())
    assert.deepEqual(r, { status: 'rejected', reason: 'gnokii exited with code 3 (SMS Send failed (Invalid phone number +.))' })
    const timedOut = fakeGnokii('fail-11', 'cat >/dev/null\necho "SMS Send failed (Command timed out.)"\nexit 11')
    assert.deepEqual(await make({ CONFIGFILE: rc(), GNOKII: timedOut }).send(msg(), never()), {
      status: 'unavailable', reason: 'gnokii exited with code 11 (SMS Send failed (Command timed out.))',
    })
  })

  it('a missing gnokii binary is unavailable', async () => {
    const missing = join(dir, 'no-such-gnokii')
    assert.deepEqual(await make({ CONFIGFILE: rc(), GNOKII: missing }).send(msg(), never()), {
      status: 'unavailable', reason: `gnokii could not be started (${missing}: ENOENT)`,
    })
  })

  it('a hanging gnokii is killed with its process group after TIMEOUT', async () => {
    const hang = fakeGnokii('hang', `echo $$ > ${dir}/hang.pid\nsleep 30 &\necho $! > ${dir}/child.pid\nwait`)
    const started = Date.now()
    const r = await make({ CONFIGFILE: rc(), GNOKII: hang, TIMEOUT: 0.3 }).send(msg(), never())
    assert.deepEqual(r, { status: 'unavailable', reason: 'gnokii did not finish within 0.3 s and was killed' })
    assert.ok(Date.now() - started < 10_000, 'SIGTERM to the group ends it without waiting for the 30 s sleep')
    for (const f of ['hang.pid', 'child.pid']) assert.equal(isAlive(Number(readFileSync(join(dir, f), 'utf8'))), false, f)
  })

  it('an abort kills gnokii promptly', async () => {
    const hang = fakeGnokii('hang2', 'sleep 30')
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 100)
    const started = Date.now()
    assert.deepEqual(await make({ CONFIGFILE: rc(), GNOKII: hang, TIMEOUT: 30 }).send(msg(), ac.signal), { status: 'unavailable', reason: 'aborted; gnokii was killed' })
    assert.ok(Date.now() - started < 10_000, 'hang guard (TIMEOUT and the sleep are 30 s)')
  })

  it('one gnokii at a time per CONFIGFILE', async () => {
    const log = join(dir, 'overlap.log')
    rmSync(log, { force: true })
    const slow = fakeGnokii('slow', `cat >/dev/null\necho start >> ${log}\nsleep 0.2\necho end >> ${log}`)
    const p = make({ CONFIGFILE: rc(), GNOKII: slow })
    const q = make({ CONFIGFILE: rc(), GNOKII: slow })
    const results = await Promise.all([p.send(msg(), never()), q.send(msg(), never()), p.send(msg(), never())])
    assert.deepEqual(results.map((r) => r.status), ['sent', 'sent', 'sent'])
    assert.equal(readFileSync(log, 'utf8'), 'start\nend\n'.repeat(3))
  })

  it('close() kills a running gnokii and later sends are unavailable', async () => {
    const p = make({ CONFIGFILE: rc(), GNOKII: fakeGnokii('hang3', 'sleep 30'), TIMEOUT: 30 })
    const running = p.send(msg(), never())
    await new Promise((res) => setTimeout(res, 100))
    await Promise.all([p.close?.(), p.close?.()])
    assert.equal((await running).status, 'unavailable')
    assert.deepEqual(await p.send(msg(), never()), { status: 'unavailable', reason: 'provider is closed' })
  })
})

describe('DeviceSMSProvider through the loader', () => {
  const FORMS = classForms('DeviceSMSProvider')
  const registry = new ProviderRegistry().register(DeviceSmsProviderClass)

  it('the product document example {"CONFIGFILE": …} loads under every class-name form and delivers', { skip: noGnokii }, async () => {
    const m = theModem()
    const file = gnokiirc(m.path, 'example-rc') // the document's /etc/linotp2/gnokiirc, pointed at the scripted modem
    for (const className of FORMS) {
      m.reset()
      const loaded = loadProvider({ name: 'phone', className, config: JSON.stringify({ CONFIGFILE: file }), timeout: 120 }, registry, silentLogger)
      providers.push(loaded.instance)
      assert.equal((await sendVia(loaded, msg(), never())).status, 'sent', className)
      assert.equal(decodeSubmit(m.bodies[0]!).text, TEXT)
    }
  })

  it('a native-mode config loads under every class-name form and delivers; MSISDN applies', { skip: noPty }, async () => {
    const m = theModem()
    for (const className of FORMS) {
      m.reset()
      const config = JSON.stringify({ PORT: m.path, MSISDN: 'True' })
      const loaded = loadProvider({ name: 'modem', className, config, timeout: 120 }, registry, silentLogger)
      providers.push(loaded.instance)
      assert.equal((await sendVia(loaded, msg(TEXT, '+49 (170) 123-4567'), never())).status, 'sent', className)
      assert.deepEqual([m.commands.at(-1), m.bodies], [`AT+CMGS="${PHONE}"`, [TEXT]])
    }
  })

  it('nothing secret reaches the logger (text, OTP, full number, PIN)', { skip: noPty }, async () => {
    const m = theModem()
    const lines: string[] = []
    const logger = recordingLogger(lines)
    const load = (config: Record<string, unknown>) => {
      const loaded = loadProvider({ name: 'dev', className: 'DeviceSMSProvider', config: JSON.stringify(config), timeout: 120 }, registry, logger)
      providers.push(loaded.instance)
      return loaded
    }
    const results: SendResult[] = []
    m.reset({ pin: '8642' })
    results.push(await sendVia(load({ PORT: m.path, PIN: '8642', TIMEOUT: 0.5 }), msg(), never()))
    m.reset({ pin: '8642' })
    results.push(await sendVia(load({ PORT: m.path, PIN: '9753', TIMEOUT: 0.5 }), msg(), never()))
    m.reset({ sendError: '+CMS ERROR: 500' })
    results.push(await sendVia(load({ PORT: m.path, TIMEOUT: 0.5 }), msg(CYRILLIC), never()))
    const echoing = fakeGnokii('echo-all', `cat\necho "${PHONE} ${TEXT}" >&2\nexit 4`)
    results.push(await sendVia(load({ CONFIGFILE: gnokiirc('/dev/null', 'log-rc'), GNOKII: echoing }), msg(), never()))
    if (noGnokii === undefined) {
      m.reset()
      results.push(await sendVia(load({ CONFIGFILE: gnokiirc(m.path, 'log-rc2') }), msg(), never()))
    }
    assert.deepEqual(results.slice(0, 4).map((r) => r.status), ['sent', 'unavailable', 'rejected', 'rejected'])
    assert.ok(lines.length >= 5, `expected log lines, got ${lines.length}`)
    const all = `${lines.join('\n')}\n${JSON.stringify(results)}`
    for (const secret of [OTP, TEXT, CYRILLIC, PHONE, PHONE.slice(1), '8642', '9753']) assert.ok(!all.includes(secret), `leaked ${secret}`)
    assert.ok(lines.some((l) => l.includes('+49******4567')), 'numbers are logged masked')
  })
})
