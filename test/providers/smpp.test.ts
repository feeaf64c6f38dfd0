import assert from 'node:assert/strict'
import { connect, createServer, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { ManualClock } from '../../src/clock.js'
import { ConfigError } from '../../src/errors.js'
import { silentLogger, type Logger } from '../../src/logger.js'
import { maskPhone } from '../../src/phone/mask.js'
import { Failover } from '../../src/providers/failover.js'
import { loadProvider, type LoadedProvider } from '../../src/providers/loader.js'
import { ProviderRegistry } from '../../src/providers/registry.js'
import { SmppSmsProviderClass, type SmppOptions } from '../../src/providers/smpp/provider.js'
import { ReceiptMap } from '../../src/providers/smpp/receipts.js'
import { SmppClient } from '../../src/providers/smpp/session.js'
import type { SendResult, SmsMessage, SmsProvider } from '../../src/providers/types.js'
import { recordingLogger } from '../helpers/harness.js'
import { SMSC_PASSWORD, SMSC_SYSTEM_ID, startSmsc, type RecordedSubmit, type Smsc } from '../helpers/smsc.js'
import { SMPP_EXAMPLE } from '../helpers/product-examples.js'
import { assertConfigError, freePort } from '../helpers/assertions.js'

const PHONE = '+491701234567'
const OTP_TEXT = 'Your OTP: 123456'
const MSG: SmsMessage = { phone: PHONE, text: OTP_TEXT, transactionId: 'tx-1' }

/** The product document's example, verbatim (placeholders and trailing comma included). */
const PRODUCT_EXAMPLE = SMPP_EXAMPLE

let smsc: Smsc
const providers: Array<{ close?(): Promise<void> }> = []
const ownSmscs: Smsc[] = []

function parse(config: Record<string, unknown>, warnings: string[] = []): SmppOptions {
  return SmppSmsProviderClass.parse(config, (w) => warnings.push(w))
}

/** A provider against the shared SMSC; `config` overrides the defaults. */
function make(config: Record<string, unknown> = {}, logger: Logger = silentLogger): SmsProvider {
  const options = parse({ server: '127.0.0.1', port: smsc.port, system_id: SMSC_SYSTEM_ID, password: SMSC_PASSWORD, source_addr: 'ACME', ...config })
  const p = SmppSmsProviderClass.create(options, { name: 'smpp-test', logger })
  providers.push(p)
  return p
}

/**
 * A provider on its own SMSC, for tests that drop connections or depend on idle timing: the
 * shared SMSC's other binds must not see (or cause) those events.
 */
async function isolated(config: Record<string, unknown> = {}, behaviour: Parameters<typeof startSmsc>[0] = {}) {
  const own = await startSmsc(behaviour)
  ownSmscs.push(own)
  const options = parse({ server: '127.0.0.1', port: own.port, system_id: SMSC_SYSTEM_ID, password: SMSC_PASSWORD, source_addr: 'ACME', ...config })
  const p = SmppSmsProviderClass.create(options, { name: 'smpp-isolated', logger: silentLogger })
  providers.push(p)
  return { own, p }
}

function send(p: SmsProvider, msg: SmsMessage = MSG, signal: AbortSignal = new AbortController().signal): Promise<SendResult> {
  return p.send(msg, signal)
}

/** Polls `cond`; the limit only catches a hang (a busy CI machine must not fail it). */
async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}

// While a test mocks setTimeout and Date, waiting for real I/O uses the real setTimeout (taken
// before any mock) and performance.now(), which the mock leaves alone. The 10 s limits only catch a hang.
const realSetTimeout = globalThis.setTimeout
const turn = () => new Promise<void>((r) => realSetTimeout(r, 1))

/** Lets real I/O run for about `ms` of wall time (an event that should not come has had its chance). */
async function ioFor(ms: number): Promise<void> {
  const end = performance.now() + ms
  while (performance.now() < end) await turn()
}

/** Waits, on real I/O, until `cond` holds. */
async function ioUntil(cond: () => boolean, what: string): Promise<void> {
  const end = performance.now() + 10_000
  while (!cond()) {
    if (performance.now() > end) throw new Error(`hang guard: waiting for ${what}`)
    await turn()
  }
}

/** Waits, on real I/O, for `promise`, calling `poke` on every turn (e.g. to run mocked timers due now). */
async function ioSettle<T>(promise: Promise<T>, poke: () => void, what: string): Promise<T> {
  let result: { value: T } | undefined
  let failure: { error: unknown } | undefined
  promise.then((value) => (result = { value }), (error: unknown) => (failure = { error }))
  await ioUntil(() => {
    poke()
    return result !== undefined || failure !== undefined
  }, what)
  if (failure) throw failure.error
  return (result as { value: T }).value
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))


/** The 6-octet concatenation UDH of a part, or undefined. */
function udh(s: RecordedSubmit): number[] | undefined {
  return s.esmClass & 0x40 ? [...s.shortMessage.subarray(0, 6)] : undefined
}


before(async () => {
  smsc = await startSmsc({ accounts: [[SMSC_SYSTEM_ID, SMSC_PASSWORD], ['login-name', 'password']] })
})

after(async () => {
  await Promise.all(providers.map((p) => p.close?.()))
  await Promise.all([smsc, ...ownSmscs].map((s) => s.close()))
})

describe('SMPPSMSProvider submit_sm encoding', () => {
  it('a short GSM text: one submit_sm with the exact septets, data_coding 0 and the configured addresses', async () => {
    smsc.reset()
    const p = make({ system_type: 'OTP', source_addr_ton: '5', source_addr_npi: 0, dest_addr_ton: 1, dest_addr_npi: '1' })
    const r = await send(p, { ...MSG, text: 'Code: 123456 @£€' })
    assert.deepEqual(r, { status: 'sent', gatewayId: smsc.submits[0]?.messageId })
    assert.deepEqual(smsc.binds, [{ connection: 1, systemId: SMSC_SYSTEM_ID, password: SMSC_PASSWORD, systemType: 'OTP', interfaceVersion: 0x34, accepted: true }])
    assert.equal(smsc.submits.length, 1)
    const s = smsc.submits[0]!
    assert.deepEqual(
      { source: s.sourceAddr, sTon: s.sourceTon, sNpi: s.sourceNpi, dest: s.destAddr, dTon: s.destTon, dNpi: s.destNpi, dcs: s.dataCoding, esm: s.esmClass, rd: s.registeredDelivery, st: s.serviceType },
      { source: 'ACME', sTon: 5, sNpi: 0, dest: '491701234567', dTon: 1, dNpi: 1, dcs: 0, esm: 0, rd: 0, st: '' },
    )
    assert.deepEqual(s.shortMessage, Buffer.concat([Buffer.from('Code: 123456 ', 'ascii'), Buffer.from([0x00, 0x01, 0x1b, 0x65])]))
    assert.equal(s.decoded, 'Code: 123456 @£€')
  })

  it('keeps the + when dest_addr_ton is not international', async () => {
    smsc.reset()
    assert.equal((await send(make({ dest_addr_ton: 0 }))).status, 'sent')
    assert.equal(smsc.submits[0]!.destAddr, PHONE)
  })

  it('a 400-character GSM text with extension characters: concatenated parts with one reference', async () => {
    smsc.reset()
    const text = `Start [€] ${'0123456789abcdefghij'.repeat(20)}`.slice(0, 394) + '{x} €]'
    assert.equal(text.length, 400)
    const septets = [...text].reduce((n, ch) => n + ('€[]{}'.includes(ch) ? 2 : 1), 0)
    const r = await send(make(), { ...MSG, text })
    assert.equal(r.status, 'sent')
    const parts = smsc.submits
    assert.equal(parts.length, Math.ceil(septets / 153))
    const ref = udh(parts[0]!)![3]
    parts.forEach((s, i) => {
      assert.equal(s.dataCoding, 0)
      assert.equal(s.esmClass, 0x40)
      assert.deepEqual(udh(s), [0x05, 0x00, 0x03, ref, parts.length, i + 1])
      assert.ok(s.shortMessage.length - 6 <= 153)
    })
    assert.equal(parts.map((s) => s.decoded).join(''), text)
    assert.equal(r.status === 'sent' && r.gatewayId, parts.map((s) => s.messageId).join(','))
  })

  it('consecutive long messages use different references', async () => {
    smsc.reset()
    const p = make()
    await send(p, { ...MSG, text: 'a'.repeat(200) })
    await send(p, { ...MSG, text: 'b'.repeat(200) })
    assert.equal(smsc.submits.length, 4)
    assert.notEqual(udh(smsc.submits[0]!)![3], udh(smsc.submits[2]!)![3])
  })

  it('a Cyrillic text goes as UCS-2: data_coding 8 and the exact UTF-16BE octets', async () => {
    smsc.reset()
    assert.equal((await send(make(), { ...MSG, text: 'Ваш код: 123456' })).status, 'sent')
    const s = smsc.submits[0]!
    assert.equal(s.dataCoding, 8)
    assert.equal(s.esmClass, 0)
    assert.deepEqual(s.shortMessage, Buffer.from('0412043004480020043a043e0434003a0020003100320033003400350036', 'hex'))
    assert.equal(s.decoded, 'Ваш код: 123456')
  })

  it('a long UCS-2 text with an emoji on a part boundary: no surrogate pair is split', async () => {
    smsc.reset()
    const text = `${'Пароль '.repeat(9)}123😀${'Ж'.repeat(80)}` // the emoji would straddle units 67/68
    assert.equal(text.indexOf('😀'), 66)
    assert.equal((await send(make(), { ...MSG, text })).status, 'sent')
    const parts = smsc.submits
    assert.equal(parts.length, 3)
    for (const [i, s] of parts.entries()) {
      assert.equal(s.dataCoding, 8)
      assert.deepEqual(udh(s)!.slice(4), [3, i + 1])
      const body = s.shortMessage.subarray(6)
      assert.ok(body.length <= 134 && body.length % 2 === 0)
      const lastUnit = body.readUInt16BE(body.length - 2)
      assert.ok(lastUnit < 0xd800 || lastUnit > 0xdbff, `part ${i + 1} ends with a high surrogate`)
    }
    assert.equal(parts[0]!.shortMessage.length - 6, 66 * 2)
    assert.equal(parts.map((s) => Buffer.from(s.shortMessage.subarray(6)).swap16().toString('utf16le')).join(''), text)
  })
})

describe('SMPPSMSProvider results', () => {
  it('submit refused with ESME_RSUBMITFAIL (0x45): rejected with the status name and code', async () => {
    smsc.reset({ submitStatus: 0x45 })
    assert.deepEqual(await send(make()), { status: 'rejected', reason: 'SMSC refused the message: ESME_RSUBMITFAIL (0x00000045)' })
  })

  it('invalid destination and throttling are rejected; system error and full queue are unavailable', async () => {
    const p = make()
    for (const [status, expected] of [[0x0b, 'rejected'], [0x33, 'rejected'], [0x58, 'rejected'], [0x08, 'unavailable'], [0x14, 'unavailable']] as const) {
      smsc.reset({ submitStatus: status })
      const r = await send(p)
      assert.equal(r.status, expected, `status 0x${status.toString(16)}`)
    }
  })

  it('a multipart message is sent only if every part is accepted; the rest is not submitted', async () => {
    smsc.reset({ submitStatus: (n) => (n === 1 ? 0x0b : 0) })
    const r = await send(make(), { ...MSG, text: 'z'.repeat(400) })
    assert.deepEqual(r, { status: 'rejected', reason: 'SMSC refused the message (part 2 of 3): ESME_RINVDSTADR (0x0000000B)' })
    assert.equal(smsc.submits.length, 2)
  })

  it('wrong password: the bind is refused (0x0D) and the send is unavailable', async () => {
    smsc.reset()
    const r = await send(make({ password: 'wrong' }))
    assert.equal(r.status, 'unavailable')
    assert.match(r.status === 'unavailable' ? r.reason : '', /SMSC refused the bind: ESME_RBINDFAIL \(0x0000000D\)/)
    assert.equal(smsc.binds.length, 1)
    assert.equal(smsc.binds[0]!.accepted, false)
    assert.equal(smsc.submits.length, 0)
  })

  it('an unknown host name is unavailable', async () => {
    const r = await send(make({ server: 'no-such-host.invalid' }))
    assert.equal(r.status, 'unavailable')
    assert.match(r.status === 'unavailable' ? r.reason : '', /^cannot connect to the SMSC at no-such-host\.invalid:\d+ \((ENOTFOUND|EAI_AGAIN)\)$/)
  })

  it('a dead port is unavailable', async () => {
    const r = await send(make({ port: await freePort() }))
    assert.equal(r.status, 'unavailable')
    assert.match(r.status === 'unavailable' ? r.reason : '', /^cannot connect to the SMSC at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/)
  })

  it('Failover over a dead and a live SMPP provider delivers through the second', async () => {
    smsc.reset()
    const registry = new ProviderRegistry().register(SmppSmsProviderClass)
    const config = (port: number) => JSON.stringify({ server: '127.0.0.1', port, system_id: SMSC_SYSTEM_ID, password: SMSC_PASSWORD, source_addr: 'ACME' })
    const dead = loadProvider({ name: 'dead', className: 'SMPPSMSProvider', config: config(await freePort()), timeout: 120 }, registry, silentLogger)
    const live = loadProvider({ name: 'live', className: 'SMPPSMSProvider', config: config(smsc.port), timeout: 120 }, registry, silentLogger)
    providers.push(dead.instance, live.instance)
    const failover = new Failover(new ManualClock())
    assert.deepEqual(await failover.send([dead, live], MSG), { status: 'sent', provider: 'live' })
    assert.ok(failover.isBlocked('dead'))
    assert.equal(smsc.submits.length, 1)
    assert.equal(smsc.submits[0]!.decoded, OTP_TEXT)
  })

  it('no submit_sm_resp within TIMEOUT: unavailable', async () => {
    smsc.reset({ hangSubmits: true })
    const started = Date.now()
    const r = await send(make({ TIMEOUT: '0.3' }))
    // The reason names the 300 ms timer that fired (the SMSC never answers, so nothing else ends
    // the send); the lower bound proves the wait, the upper one only catches a hang.
    assert.deepEqual(r, { status: 'unavailable', reason: 'no submit_sm_resp from the SMSC within 300 ms' })
    assert.ok(Date.now() - started >= 250 && Date.now() - started < 10_000, `took ${Date.now() - started} ms`)
  })

  it('an unusable destination or an endless text is rejected without contacting the SMSC', async () => {
    smsc.reset()
    const p = make()
    assert.equal((await send(p, { ...MSG, phone: '1'.repeat(21) })).status, 'rejected')
    assert.equal((await send(p, { ...MSG, phone: ' ' })).status, 'rejected')
    const r = await send(p, { ...MSG, text: 'x'.repeat(153 * 256) })
    assert.deepEqual(r, { status: 'rejected', reason: 'text too long: text needs 256 SMS parts, at most 255 are possible' })
    assert.equal(smsc.binds.length, 0)
  })

  it('an aborted signal: unavailable', async () => {
    const r = await send(make(), MSG, AbortSignal.abort())
    assert.deepEqual(r, { status: 'unavailable', reason: 'send aborted' })
  })
})

describe('SMPPSMSProvider bind lifecycle', () => {
  it('200 concurrent sends share one bind; the window bounds outstanding submits', async () => {
    smsc.reset({ responseDelayMs: 3 })
    const p = make({ window: '10' })
    const texts = Array.from({ length: 200 }, (_, i) => `Code ${String(i).padStart(3, '0')}: ${100000 + i}`)
    const results = await Promise.all(texts.map((text, i) => send(p, { phone: PHONE, text, transactionId: `tx-${i}` })))
    assert.ok(results.every((r) => r.status === 'sent'), JSON.stringify(results.find((r) => r.status !== 'sent')))
    assert.equal(smsc.binds.length, 1)
    assert.equal(smsc.submits.length, 200)
    assert.deepEqual(smsc.submits.map((s) => s.decoded).sort(), [...texts].sort())
    assert.ok(smsc.submits.every((s) => s.connection === smsc.submits[0]!.connection))
    assert.ok(smsc.maxOutstanding <= 10, `max outstanding ${smsc.maxOutstanding}`)
    assert.ok(smsc.maxOutstanding >= 2, 'the window is used')
  })

  it('with window 1 a second send waits; aborting it while queued gives unavailable', async () => {
    smsc.reset({ hangSubmits: true })
    const p = make({ window: 1, TIMEOUT: 0.5 })
    const first = send(p)
    await until(() => smsc.submits.length === 1)
    const second = await send(p, MSG, AbortSignal.timeout(100))
    assert.deepEqual(second, { status: 'unavailable', reason: 'aborted while waiting for the SMPP window' })
    assert.equal(smsc.submits.length, 1)
    assert.equal((await first).status, 'unavailable')
  })

  it('the SMSC dropping the connection: the provider reconnects and the next SMS goes through', async () => {
    const { own, p } = await isolated()
    assert.equal((await send(p)).status, 'sent')
    own.dropAll()
    await sleep(50) // let the client see the connection close
    const r = await send(p, { ...MSG, text: 'after the drop' })
    assert.equal(r.status, 'sent')
    assert.equal(own.binds.length, 2)
    assert.deepEqual(own.submits.map((s) => [s.connection, s.decoded]), [
      [own.binds[0]!.connection, OTP_TEXT],
      [own.binds[1]!.connection, 'after the drop'],
    ])
  })

  it('reconnects with doubling back-off up to the cap, and stops after a refused bind', async (t) => {
    const good = await startSmsc()
    const refusing = await startSmsc({ accounts: [['someone-else', 'x']] })
    ownSmscs.push(good, refusing)
    // A TCP front: connection 1 goes to the good SMSC, then `mode` decides.
    let mode: 'drop' | 'refuse' = 'drop'
    const stamps: number[] = []
    const sockets: Socket[] = []
    const front = createServer((sock) => {
      stamps.push(Date.now())
      sockets.push(sock)
      sock.on('error', () => undefined)
      if (stamps.length > 1 && mode === 'drop') return void sock.destroy()
      const up = connect(stamps.length === 1 ? good.port : refusing.port, '127.0.0.1')
      up.on('error', () => undefined)
      sockets.push(up)
      sock.pipe(up).pipe(sock)
      sock.on('close', () => up.destroy())
      up.on('close', () => sock.destroy())
    })
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve))
    const { port } = front.address() as { port: number }
    const logs: string[] = []
    const client = new SmppClient(
      { ...parse({ server: '127.0.0.1', port, system_id: SMSC_SYSTEM_ID, password: SMSC_PASSWORD, source_addr: 'A' }), reconnectMinMs: 40, reconnectMaxMs: 160 },
      recordingLogger(logs),
      () => undefined,
    )
    const logged = (msg: string) => logs.filter((l) => l.includes(`"msg":"${msg}"`)).length
    try {
      await client.ensureBound(new AbortController().signal)
      assert.equal(client.binds, 1)
      // The back-off runs on a mocked clock from here (setTimeout and Date): each delay is checked
      // exactly, one millisecond early and on time, however busy the machine is. Network I/O stays real.
      t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.now() })
      const droppedAt = Date.now()
      for (const sock of sockets) sock.destroy() // the SMSC drops the bind
      await ioUntil(() => logged('SMPP connection lost; reconnecting') === 1, 'the client to see the drop')
      // drop → first retry 40 ms, then 80, 160, 160, 160 (capped)
      for (const [i, delay] of [40, 80, 160, 160, 160].entries()) {
        const before = stamps.length
        t.mock.timers.tick(delay - 1)
        await ioFor(50)
        assert.equal(stamps.length, before, `retry ${i + 1} came before its ${delay} ms`)
        t.mock.timers.tick(1)
        await ioUntil(() => logged('SMPP bind failed') === i + 1, `retry ${i + 1}`)
        assert.equal(stamps.length, before + 1)
      }
      const gaps = stamps.slice(1).map((at, i) => at - (i === 0 ? droppedAt : stamps[i]!))
      assert.deepEqual(gaps, [40, 80, 160, 160, 160])
      mode = 'refuse'
      t.mock.timers.tick(160)
      await ioUntil(() => refusing.binds.length === 1 && logged('SMPP bind failed') === 6, 'the refused bind')
      const attempts = stamps.length
      t.mock.timers.tick(10 * 160) // ten capped back-offs later
      await ioFor(100)
      assert.equal(stamps.length, attempts, 'no background retries after a refused bind')
      assert.equal(client.binds, 1)
    } finally {
      t.mock.timers.reset()
      await client.close()
      for (const sock of sockets) sock.destroy()
      await new Promise<void>((resolve) => front.close(() => resolve()))
    }
  })

  it('a send during a long reconnect back-off tries at once (one attempt per reconnectMinMs at most) and goes through when the SMSC is back', async (t) => {
    const good = await startSmsc()
    ownSmscs.push(good)
    // A TCP front that forwards to the SMSC while `up`, and drops connections while down.
    let up = true
    const stamps: number[] = []
    const sockets: Socket[] = []
    const front = createServer((sock) => {
      stamps.push(Date.now())
      sockets.push(sock)
      sock.on('error', () => undefined)
      if (!up) return void sock.destroy()
      const smscSide = connect(good.port, '127.0.0.1')
      smscSide.on('error', () => undefined)
      sockets.push(smscSide)
      sock.pipe(smscSide).pipe(sock)
      sock.on('close', () => smscSide.destroy())
      smscSide.on('close', () => sock.destroy())
    })
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve))
    const { port } = front.address() as { port: number }
    // Back-off 30 ms doubling, capped at a minute as in production.
    const options = { ...parse({ server: '127.0.0.1', port, system_id: SMSC_SYSTEM_ID, password: SMSC_PASSWORD, source_addr: 'ACME' }), reconnectMinMs: 30, reconnectMaxMs: 60_000 }
    const logs: string[] = []
    const p = SmppSmsProviderClass.create(options, { name: 'smpp-backoff', logger: recordingLogger(logs) })
    providers.push(p)
    const failures = () => logs.filter((l) => l.includes('"msg":"SMPP bind failed"')).length
    try {
      assert.equal((await send(p)).status, 'sent')
      // Mocked clock from here (see the test above): "at once" means with no mocked time passing.
      t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.now() })
      up = false
      for (const sock of sockets.splice(0)) sock.destroy() // the SMSC goes away
      await ioUntil(() => logs.some((l) => l.includes('"msg":"SMPP connection lost; reconnecting"')), 'the client to see the drop')
      for (const [i, delay] of [30, 60, 120, 240, 480, 960].entries()) {
        t.mock.timers.tick(delay)
        await ioUntil(() => failures() === i + 1, `background retry ${i + 1}`)
      }
      // Six background retries: the next one is 1.92 s away. 50 ms pass (more than the minimum gap).
      t.mock.timers.tick(50)

      // A burst of sends while it is still down: one connection attempt for all, each answered
      // with the mocked clock standing still (tick(0) only runs timers due now).
      const attempts = stamps.length
      const burstAt = Date.now()
      const burst = Promise.all(Array.from({ length: 5 }, (_, i) => send(p, { ...MSG, transactionId: `burst-${i}` })))
      const burstResults = await ioSettle(burst, () => t.mock.timers.tick(0), 'the burst')
      assert.equal(Date.now(), burstAt, 'no mocked time passed')
      for (const r of burstResults) assert.match(r.status === 'unavailable' ? r.reason : r.status, /^the SMSC at 127\.0\.0\.1:\d+ closed the connection during the bind/)
      assert.equal(stamps.length, attempts + 1)
      const burstAttempt = stamps.at(-1)!

      // Right after an attempt, a send waits for the minimum gap instead of hammering the SMSC.
      const again = send(p, { ...MSG, transactionId: 'again' })
      await ioFor(20)
      t.mock.timers.tick(29)
      await ioFor(50)
      assert.equal(stamps.length, attempts + 1, 'no attempt before the 30 ms minimum gap')
      t.mock.timers.tick(1)
      assert.equal((await ioSettle(again, () => undefined, 'the second send')).status, 'unavailable')
      assert.equal(stamps.length, attempts + 2)
      assert.equal(stamps.at(-1)! - burstAttempt, 30, 'attempts 30 ms apart')

      // The SMSC is back; the scheduled retry is seconds away, but the next send waits only for
      // the minimum gap: 30 ms of mocked time and no more.
      up = true
      const back = send(p, { ...MSG, text: 'after the outage' })
      await ioFor(20)
      t.mock.timers.tick(30)
      const r = await ioSettle(back, () => undefined, 'the send after the outage')
      assert.equal(r.status, 'sent', JSON.stringify(r))
      assert.deepEqual(good.submits.map((s) => s.decoded), [OTP_TEXT, 'after the outage'])
      assert.equal(good.binds.length, 2)
    } finally {
      t.mock.timers.reset()
      await p.close?.()
      for (const sock of sockets) sock.destroy()
      await new Promise<void>((resolve) => front.close(() => resolve()))
    }
  })

  it('an unbind from the SMSC is answered and the bind re-opened', async () => {
    const { own, p } = await isolated()
    assert.equal((await send(p)).status, 'sent')
    const [resp] = await own.unbindAll()
    assert.equal(resp!.command, 'unbind_resp')
    assert.equal(resp!.command_status, 0)
    await until(() => own.binds.length === 2)
    assert.equal((await send(p, { ...MSG, text: 'again' })).status, 'sent')
    assert.deepEqual(own.submits.map((s) => s.connection), [1, 2])
  })

  it('sends pending when the connection is lost are unavailable', async () => {
    const { own, p } = await isolated({}, { hangSubmits: true })
    const pending = send(p)
    await until(() => own.submits.length === 1)
    own.dropAll()
    const r = await pending
    assert.equal(r.status, 'unavailable')
    assert.match(r.status === 'unavailable' ? r.reason : '', /^connection to the SMSC at 127\.0\.0\.1:\d+ lost$/)
  })

  it('sends enquire_link when idle', async () => {
    const { own, p } = await isolated({ enquire_link_interval: 0.05 })
    assert.equal((await send(p)).status, 'sent')
    await until(() => own.enquireLinks >= 3)
    assert.equal(own.binds.length, 1)
    await p.close!()
  })

  it('an SMSC that stops answering enquire_link is dropped and re-bound', async () => {
    const { own, p } = await isolated({ enquire_link_interval: 0.05, TIMEOUT: 0.1 }, { answerEnquireLink: false })
    assert.equal((await p.test!(new AbortController().signal)).status, 'sent')
    await until(() => own.binds.length >= 2)
    assert.equal(own.binds[1]!.connection, 2)
    await p.close!()
  })

  it('test() opens the bind; on a dead port it reports unavailable', async () => {
    smsc.reset()
    assert.deepEqual(await make().test!(new AbortController().signal), { status: 'sent' })
    assert.equal(smsc.binds.length, 1)
    assert.equal(smsc.submits.length, 0)
    const r = await make({ port: await freePort() }).test!(new AbortController().signal)
    assert.equal(r.status, 'unavailable')
  })

  it('close() unbinds and closes the connection; it is idempotent and later sends are unavailable', async () => {
    const own = await startSmsc()
    try {
      const options = parse({ server: '127.0.0.1', port: own.port, system_id: SMSC_SYSTEM_ID, password: SMSC_PASSWORD, source_addr: 'ACME' })
      const p = SmppSmsProviderClass.create(options, { name: 'c', logger: silentLogger })
      assert.equal((await send(p)).status, 'sent')
      assert.equal(own.openConnections, 1)
      await Promise.all([p.close!(), p.close!()])
      assert.equal(own.unbinds, 1)
      assert.ok(await own.waitForNoConnections(1000), 'the SMSC still sees the connection')
      await p.close!()
      assert.equal(own.unbinds, 1)
      assert.deepEqual(await send(p), { status: 'unavailable', reason: 'provider is closed' })
    } finally {
      await own.close()
    }
  })

  it('close() on a provider that never sent does nothing', async () => {
    smsc.reset()
    await make().close!()
    assert.equal(smsc.binds.length, 0)
  })
})

describe('SMPPSMSProvider delivery receipts and logs', () => {
  it('registered_delivery: receipts requested and logged against the transaction id, phone masked', async () => {
    smsc.reset()
    const lines: string[] = []
    const p = make({ registered_delivery: 'True' }, recordingLogger(lines))
    assert.equal((await send(p, { ...MSG, transactionId: 'tx-receipt' })).status, 'sent')
    const s = smsc.submits[0]!
    assert.equal(s.registeredDelivery, 1)
    const resp = await smsc.sendReceipt(s.messageId, 'DELIVRD', OTP_TEXT)
    assert.equal(resp.command_status, 0)
    await until(() => lines.some((l) => l.includes('SMS delivery receipt')))
    const line = JSON.parse(lines.find((l) => l.includes('"SMS delivery receipt"'))!)
    assert.deepEqual(
      { level: line.level, transactionId: line.transactionId, messageId: line.messageId, state: line.state, error: line.error, phone: line.phone },
      { level: 'info', transactionId: undefined, messageId: s.messageId, state: 'DELIVRD', error: '000', phone: maskPhone(PHONE) },
    )
    // The transaction id answers an open challenge together with the OTP: debug level only.
    const debug = JSON.parse(lines.find((l) => l.includes('SMS delivery receipt: transaction'))!)
    assert.deepEqual({ level: debug.level, transactionId: debug.transactionId }, { level: 'debug', transactionId: 'tx-receipt' })
  })

  it('receipt ids match in decimal and hexadecimal spelling; the map is bounded', () => {
    const map = new ReceiptMap(2)
    map.remember('1A2B', { transactionId: 't1', phone: 'p' })
    map.remember('4242', { transactionId: 't2', phone: 'p' })
    assert.equal(map.find('1a2b')?.transactionId, 't1')
    assert.equal(map.find('6699')?.transactionId, 't1') // 0x1A2B
    assert.equal(map.find('1092')?.transactionId, 't2') // 4242 = 0x1092
    map.remember('x', { transactionId: 't3', phone: 'p' })
    assert.equal(map.size, 2)
    assert.equal(map.find('1a2b'), undefined)
  })

  it('nothing secret reaches the logger: no text, OTP, full phone or password', async () => {
    smsc.reset()
    const lines: string[] = []
    const logger = recordingLogger(lines)
    const ok = make({ registered_delivery: 1 }, logger)
    assert.equal((await send(ok)).status, 'sent')
    await smsc.sendReceipt(smsc.submits[0]!.messageId, 'DELIVRD', OTP_TEXT)
    await smsc.sendReceipt('unknown-id', 'UNDELIV', OTP_TEXT)
    smsc.reset({ submitStatus: 0x45 })
    assert.equal((await send(ok)).status, 'rejected')
    assert.equal((await send(make({ password: 'wrongpw1' }, logger))).status, 'unavailable')
    assert.equal((await send(make({ port: await freePort() }, logger))).status, 'unavailable')
    await until(() => lines.some((l) => l.includes('unknown message')))
    assert.ok(lines.length >= 5)
    for (const line of lines) {
      for (const secret of ['123456', 'OTP', '1701234567', SMSC_PASSWORD, 'wrongpw1']) assert.ok(!line.includes(secret), `${secret} in ${line}`)
    }
    assert.ok(lines.some((l) => l.includes(`"phone":"${maskPhone(PHONE)}"`)))
  })
})

describe('SMPPSMSProvider product document example', () => {
  const registry = new ProviderRegistry().register(SmppSmsProviderClass)
  const forms = [
    'SMPPSMSProvider',
    'smsprovider.SMPPSMSProvider',
    'smsprovider.SMPPSMSProvider.SMPPSMSProvider',
    'linotp.provider.smsprovider.SMPPSMSProvider',
    'linotp.provider.smsprovider.SMPPSMSProvider.SMPPSMSProvider',
  ]

  it('as published, its "smmp-port" placeholder is a clear ConfigError', () => {
    const config = PRODUCT_EXAMPLE.replace('"smpp-server"', '"127.0.0.1"')
    assert.throws(
      () => loadProvider({ name: 'doc', className: forms[2]!, config, timeout: 120 }, registry, silentLogger),
      (err: unknown) => err instanceof ConfigError && /port: expected the SMSC's TCP port number \(1-65535\), got string "smmp-port"/.test(err.message),
    )
  })

  for (const className of forms) {
    it(`loads under '${className}' (trailing comma warned) and delivers`, async () => {
      smsc.reset()
      const lines: string[] = []
      const config = PRODUCT_EXAMPLE.replace('"smpp-server"', '"127.0.0.1"').replace('"smmp-port"', `"${smsc.port}"`)
      const loaded: LoadedProvider = loadProvider({ name: 'doc', className, config, timeout: 120 }, registry, recordingLogger(lines))
      providers.push(loaded.instance)
      assert.ok(lines.some((l) => l.includes('trailing comma in provider configuration ignored')), lines.join('\n'))
      assert.ok(lines.some((l) => l.includes('source_addr is longer than the 20 characters')))
      const r = await loaded.instance.send(MSG, new AbortController().signal)
      assert.equal(r.status, 'sent')
      assert.deepEqual(smsc.binds.map((b) => [b.systemId, b.systemType, b.accepted]), [['login-name', '', true]])
      const s = smsc.submits[0]!
      assert.deepEqual([s.sourceAddr, s.sourceTon, s.sourceNpi, s.destAddr, s.destTon, s.destNpi, s.decoded], [
        'displayed-source-address', 5, 0, '491701234567', 1, 1, OTP_TEXT,
      ])
    })
  }
})

describe('SMPPSMSProvider config parsing', () => {
  const base = { server: 'smsc.example', system_id: 'id', password: 'pw', source_addr: 'ACME' }

  it('defaults, numeric strings, frozen options', () => {
    const warnings: string[] = []
    const o = parse({ ...base, MSISDN: true, SUPPRESS_PREFIX: '+' }, warnings)
    assert.deepEqual(warnings, [])
    assert.ok(Object.isFrozen(o))
    assert.deepEqual(o, {
      host: 'smsc.example', port: 5100, systemId: 'id', password: 'pw', systemType: '', sourceAddr: 'ACME',
      sourceAddrTon: 1, sourceAddrNpi: 1, destAddrTon: 1, destAddrNpi: 1, registeredDelivery: false,
      window: 10, connectTimeoutMs: 5000, responseTimeoutMs: 5000, enquireLinkMs: 30_000,
    })
    const p = parse({ ...base, server: ' [::1] ', port: '2775', dest_addr_ton: '0', window: '3', TIMEOUT: '2,10', enquire_link_interval: '15', registered_delivery: '1' })
    assert.deepEqual([p.host, p.port, p.destAddrTon, p.window, p.connectTimeoutMs, p.responseTimeoutMs, p.enquireLinkMs, p.registeredDelivery], [
      '::1', 2775, 0, 3, 2000, 10_000, 15_000, true,
    ])
    assert.equal(parse({ ...base, timeout: 1.5, TIMEOUT: 9 }, warnings).responseTimeoutMs, 1500)
    assert.match(warnings[0]!, /both 'timeout' and 'TIMEOUT'/)
    assert.equal(parse({ ...base, TIMEOUT: 0 }).responseTimeoutMs, 5000)
  })

  it('missing required keys name the key', () => {
    for (const key of ['server', 'system_id', 'password', 'source_addr'] as const) {
      const config: Record<string, unknown> = { ...base }
      delete config[key]
      assertConfigError(() => parse(config), new RegExp(`^missing required key '${key}'$`))
    }
  })

  it('refuses bad values, naming the key and never quoting the password', () => {
    assertConfigError(() => parse({ ...base, port: 'smmp-port' }), /^port: expected the SMSC's TCP port number/)
    assertConfigError(() => parse({ ...base, port: 70000 }), /^port:/)
    assertConfigError(() => parse({ ...base, source_addr_ton: 256 }), /^source_addr_ton: expected an integer from 0 to 255/)
    assertConfigError(() => parse({ ...base, dest_addr_npi: 'one' }), /^dest_addr_npi:/)
    assertConfigError(() => parse({ ...base, window: 0 }), /^window: expected an integer from 1 to 1000/)
    assertConfigError(() => parse({ ...base, TIMEOUT: 'soon' }), /^TIMEOUT: expected seconds/)
    assertConfigError(() => parse({ ...base, enquire_link_interval: -1 }), /^enquire_link_interval:/)
    assertConfigError(() => parse({ ...base, server: 'smsc example' }), /^server:/)
    assertConfigError(() => parse({ ...base, source_addr: 'Bänk' }), /^source_addr: only printable ASCII/)
    assert.throws(() => parse({ ...base, password: 'pässwörd' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError)
      assert.equal(err.message, 'password: only printable ASCII characters are possible in SMPP')
      return true
    })
  })

  it('warns about target_encoding, over-long fields, Timeout and unknown keys', () => {
    const warnings: string[] = []
    parse({ ...base, target_encoding: 'ISO8859-1', password: 'longer-than-8', system_id: 'x'.repeat(16), Timeout: 30, colour: 'red' }, warnings)
    assert.deepEqual(warnings.sort(), [
      "'Timeout' in the config is ignored: the network timeout key is 'TIMEOUT' (the provider Timeout is the OTP validity)",
      'password is longer than the 8 characters SMPP 3.4 allows; some SMSCs refuse it',
      'system_id is longer than the 15 characters SMPP 3.4 allows; some SMSCs refuse it',
      'target_encoding is ignored: the encoding is chosen per message (GSM 03.38 when the text fits, else UCS-2)',
      "unknown key 'colour' ignored",
    ])
  })

  it('create() does no I/O', () => {
    const p = SmppSmsProviderClass.create(parse({ ...base, server: '127.0.0.1', port: 1 }), { name: 'x', logger: silentLogger })
    assert.equal(typeof p.send, 'function')
    providers.push(p)
  })
})
