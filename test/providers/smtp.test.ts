import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { silentLogger } from '../../src/logger.js'
import { loadProvider, sendVia } from '../../src/providers/loader.js'
import { ProviderRegistry } from '../../src/providers/registry.js'
import { composeMail, parseMailserver, SmtpSmsProviderClass, type SmtpOptions } from '../../src/providers/smtp/provider.js'
import type { SendResult, SmsMessage, SmsProvider } from '../../src/providers/types.js'
import { recordingLogger } from '../helpers/harness.js'
import { freePort, parseMail, startSilentServer, startSmtpServer, type SmtpTestServer } from '../helpers/smtp-server.js'
import { createTestPki, type TestPki } from '../helpers/tls.js'
import { SMTP_EXAMPLE, classForms, point } from '../helpers/product-examples.js'
import { assertConfigError } from '../helpers/assertions.js'

const PHONE = '+491701234567'
const TEXT = 'Your OTP: 736251'
const MSG: SmsMessage = { phone: PHONE, text: TEXT, transactionId: 'tx-1' }
const SENDER = 'linotp@yourdomain.com'

const providers: SmsProvider[] = []
const servers: Array<{ close(): Promise<void> }> = []
let pki: TestPki

function parse(config: Record<string, unknown>, warnings: string[] = []): SmtpOptions {
  return SmtpSmsProviderClass.parse(config, (w) => warnings.push(w))
}

function make(config: Record<string, unknown>, warnings: string[] = []): SmsProvider {
  const p = SmtpSmsProviderClass.create(parse(config, warnings), { name: 'smtp-test', logger: silentLogger })
  providers.push(p)
  return p
}

function send(p: SmsProvider, msg: SmsMessage = MSG, signal: AbortSignal = new AbortController().signal): Promise<SendResult> {
  return p.send(msg, signal)
}

async function server(opts: Parameters<typeof startSmtpServer>[0] = {}): Promise<SmtpTestServer> {
  const s = await startSmtpServer(opts)
  servers.push(s)
  return s
}

/** The product document's example, pointed at a loopback server. */
function base(port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { mailserver: `127.0.0.1:${port}`, mailsender: SENDER, mailto: '<phone>@sms.example.net', subject: '<phone>', body: 'This is your OTP-value: <otp>', ...extra }
}

function reason(r: SendResult): string {
  return r.status === 'sent' ? '' : r.reason
}


const tlsServer = () => ({ key: pki.serverKey, cert: pki.serverCert })

before(() => {
  pki = createTestPki()
})

after(async () => {
  await Promise.all(providers.map((p) => p.close?.()))
  await Promise.all(servers.map((s) => s.close()))
  pki.cleanup()
})

describe('SmtpSMSProvider delivery', () => {
  let plain: SmtpTestServer
  before(async () => {
    plain = await server()
  })

  it('sends the product example: <phone> and <otp> replaced in To, Subject and body', async () => {
    plain.reset()
    const r = await send(make(base(plain.port)))
    assert.equal(r.status, 'sent')
    assert.match(r.status === 'sent' ? (r.gatewayId ?? '') : '', /^<.+@yourdomain\.com>$/)
    assert.equal(plain.messages.length, 1)
    const m = plain.messages[0]!
    assert.equal(m.from, SENDER)
    assert.deepEqual(m.to, [`${PHONE}@sms.example.net`])
    assert.equal(m.secure, false)
    const mail = parseMail(m.raw)
    assert.equal(mail.header('from'), SENDER)
    assert.equal(mail.header('to'), `${PHONE}@sms.example.net`)
    assert.equal(mail.header('subject'), PHONE)
    assert.equal(mail.body, `This is your OTP-value: ${TEXT}`)
    assert.equal(mail.headers.get('bcc'), undefined)
    assert.equal(mail.headers.get('cc'), undefined)
  })

  it('defaults: subject [LinOTP], body is the whole SMS text; port 25 unless given', async () => {
    plain.reset()
    const cfg = { mailserver: '127.0.0.1', mailserver_port: plain.port, mailsender: SENDER, mailto: 'gateway@sms.example.net' }
    assert.equal(parse({ ...cfg, mailserver_port: undefined }).port, 25)
    const r = await send(make(cfg), { ...MSG, text: 'Code 736251 for <phone> & <otp>' })
    assert.deepEqual(r.status, 'sent')
    const mail = parseMail(plain.messages[0]!.raw)
    assert.deepEqual(plain.messages[0]!.to, ['gateway@sms.example.net'])
    assert.equal(mail.header('subject'), '[LinOTP]')
    // tags inside the substituted text are not expanded again
    assert.equal(mail.body, 'Code 736251 for <phone> & <otp>')
  })

  it('UTF-8 in subject and body arrives intact; a display name in mailto/mailsender is kept', async () => {
    plain.reset()
    const text = 'Ihr Code: 736251 – gültig 2 Minuten ✓'
    const r = await send(make(base(plain.port, { mailsender: 'LinOTP Server <linotp@yourdomain.com>', mailto: 'SMS Gateway <<phone>@sms.example.net>', subject: 'SMS für <phone>: <otp>' })), { ...MSG, text })
    assert.equal(r.status, 'sent')
    const m = plain.messages[0]!
    assert.equal(m.from, SENDER)
    assert.deepEqual(m.to, [`${PHONE}@sms.example.net`])
    const mail = parseMail(m.raw)
    assert.equal(mail.header('subject'), `SMS für ${PHONE}: ${text}`)
    assert.equal(mail.body, `This is your OTP-value: ${text}`)
    assert.equal(mail.header('to'), `SMS Gateway <${PHONE}@sms.example.net>`)
    assert.equal(mail.header('from'), 'LinOTP Server <linotp@yourdomain.com>')
  })

  it('a long ASCII line (quoted-printable on the wire) arrives exactly', async () => {
    plain.reset()
    const text = `Your one-time code is 736251 (ref 63650173681980016). ${'Do not share this code with anybody. '.repeat(3)}`.trim()
    assert.equal((await send(make(base(plain.port, { subject: '<otp>' })), { ...MSG, text })).status, 'sent')
    const mail = parseMail(plain.messages[0]!.raw)
    assert.equal(mail.body, `This is your OTP-value: ${text}`)
    assert.equal(mail.header('subject'), text)
    assert.match(plain.messages[0]!.raw, /Content-Transfer-Encoding: quoted-printable/)
    assert.ok(plain.messages[0]!.raw.includes('736251'), 'the OTP is not split by a soft line break')
  })

  it('a line break in the text is kept in the body and cannot add a header or recipient', async () => {
    plain.reset()
    const text = 'Code 736251\r\nBcc: evil@attacker.example\r\n\r\n.\r\nMAIL FROM:<x@y>'
    const r = await send(make(base(plain.port)), { ...MSG, text })
    assert.equal(r.status, 'sent')
    assert.equal(plain.messages.length, 1)
    const m = plain.messages[0]!
    assert.deepEqual(m.to, [`${PHONE}@sms.example.net`])
    const mail = parseMail(m.raw)
    assert.equal(mail.headers.get('bcc'), undefined)
    assert.equal(mail.body, `This is your OTP-value: ${text}`)
  })

  it('pooled: consecutive sends reuse one connection', async () => {
    plain.reset()
    const p = make(base(plain.port))
    assert.equal((await send(p)).status, 'sent')
    assert.equal((await send(p, { ...MSG, text: 'second 111222' })).status, 'sent')
    assert.equal(plain.messages.length, 2)
    assert.equal(plain.sessions.length, 1)
    assert.equal(plain.messages[0]!.sessionId, plain.messages[1]!.sessionId)
    assert.equal(parseMail(plain.messages[1]!.raw).body, 'This is your OTP-value: second 111222')
  })

  it('a bracketed IPv6 literal works', async (t) => {
    const probe = createServer()
    const ok = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false))
      probe.listen(0, '::1', () => resolve(true))
    })
    if (ok) await new Promise<void>((resolve) => probe.close(() => resolve()))
    if (!ok) return t.skip('no IPv6 loopback here')
    const { SMTPServer } = await import('smtp-server')
    const received: string[] = []
    const s6 = new SMTPServer({ logger: false, authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], disableReverseLookup: true, closeTimeout: 200,
      onData(stream, session, cb) { stream.resume(); stream.on('end', () => { received.push(session.envelope.rcptTo[0]?.address ?? ''); cb() }) } })
    await new Promise<void>((resolve) => s6.listen(0, '::1', () => resolve()))
    servers.push({ close: () => new Promise<void>((resolve) => s6.close(() => resolve())) })
    const port = (s6.server.address() as { port: number }).port
    assert.equal((await send(make(base(port, { mailserver: `[::1]:${port}` })))).status, 'sent')
    assert.deepEqual(received, [`${PHONE}@sms.example.net`])
  })
})

describe('SmtpSMSProvider TLS', () => {
  it('start_tls: upgrades with STARTTLS, verifying the server against SERVER_CERTIFICATE (CA file)', async () => {
    const s = await server(tlsServer())
    const r = await send(make(base(s.port, { start_tls: 'True', SERVER_CERTIFICATE: pki.caCertPath })))
    assert.equal(r.status, 'sent')
    assert.equal(s.messages.length, 1)
    assert.equal(s.messages[0]!.secure, true)
    assert.equal(parseMail(s.messages[0]!.raw).body, `This is your OTP-value: ${TEXT}`)
  })

  it('SERVER_CERTIFICATE as a directory of CA files works too', async () => {
    const s = await server(tlsServer())
    const r = await send(make(base(s.port, { start_tls: true, SERVER_CERTIFICATE: pki.dir })))
    assert.equal(r.status, 'sent')
    assert.equal(s.messages[0]!.secure, true)
  })

  it('start_tls false: no opportunistic upgrade although the server offers STARTTLS', async () => {
    const s = await server(tlsServer())
    const r = await send(make(base(s.port, { start_tls: 'false', SERVER_CERTIFICATE: pki.caCertPath })))
    assert.equal(r.status, 'sent')
    assert.equal(s.messages[0]!.secure, false)
    assert.equal(s.sessions[0]!.secure, false)
  })

  it('start_tls against a server without STARTTLS is unavailable, nothing sent in clear text', async () => {
    const s = await server()
    const r = await send(make(base(s.port, { start_tls: true })))
    assert.equal(r.status, 'unavailable')
    assert.equal(reason(r), 'server refused STARTTLS (SMTP 500)')
    assert.equal(s.messages.length, 0)
  })

  it('without SERVER_CERTIFICATE the system CAs are used: an unknown CA fails verification → unavailable', async () => {
    const s = await server(tlsServer())
    const r = await send(make(base(s.port, { start_tls: true })))
    assert.deepEqual(r, { status: 'unavailable', reason: 'TLS failure (UNABLE_TO_VERIFY_LEAF_SIGNATURE)' })
    assert.equal(s.messages.length, 0)
  })

  it('SERVER_CERTIFICATE false skips verification (with a warning)', async () => {
    const s = await server(tlsServer())
    const warnings: string[] = []
    const r = await send(make(base(s.port, { start_tls: true, SERVER_CERTIFICATE: 'False' }), warnings))
    assert.equal(r.status, 'sent')
    assert.equal(s.messages[0]!.secure, true)
    assert.ok(warnings.some((w) => /not verified/.test(w)), warnings.join('; '))
  })

  it('use_ssl: implicit TLS (SMTPS), and the alias user_ssl from the product document', async () => {
    const s = await server({ ...tlsServer(), secure: true })
    for (const key of ['use_ssl', 'user_ssl']) {
      s.reset()
      const r = await send(make(base(s.port, { [key]: 'True', SERVER_CERTIFICATE: pki.caCertPath })))
      assert.equal(r.status, 'sent', `${key}: ${reason(r)}`)
      assert.equal(s.messages.length, 1)
      assert.equal(s.messages[0]!.secure, true)
    }
    // plain SMTP against an SMTPS port fails, it does not hang
    s.reset()
    const r = await send(make(base(s.port, { TIMEOUT: 0.5 })))
    assert.equal(r.status, 'unavailable')
    assert.equal(s.messages.length, 0)
  })

  it('use_ssl takes precedence over start_tls; default ports 465 / 587', () => {
    const warnings: string[] = []
    const o = parse({ mailserver: 'smtp.example.net', mailsender: SENDER, mailto: 'a@b.example', use_ssl: true, start_tls: true }, warnings)
    assert.equal(o.security, 'tls')
    assert.equal(o.port, 465)
    assert.ok(warnings.some((w) => /start_tls is ignored/.test(w)))
    assert.equal(parse({ mailserver: 'smtp.example.net', mailsender: SENDER, mailto: 'a@b.example', start_tls: 'True' }).port, 587)
    const none = parse({ mailserver: 'smtp.example.net', mailsender: SENDER, mailto: 'a@b.example', start_tls: 'yes' })
    assert.equal(none.security, 'none') // Decision 9: only true/"true"/"True"/1
    assert.equal(none.port, 25)
  })

  it('client certificate: certfile/keyfile are presented to a server that asks for one', async () => {
    const s = await server({ ...tlsServer(), clientCa: pki.caCert })
    const r = await send(make(base(s.port, { start_tls: 'True', certfile: pki.clientCertPath, keyfile: pki.clientKeyPath, SERVER_CERTIFICATE: pki.caCertPath })))
    assert.equal(r.status, 'sent', reason(r))
    assert.equal(s.messages.length, 1)
    assert.equal(s.sessions.at(-1)!.clientCN, 'sms-otp test client')
  })

  it('client certificate over implicit TLS, key inside certfile (LinOTP accepts that)', async () => {
    const s = await server({ ...tlsServer(), secure: true, clientCa: pki.caCert })
    const combined = join(pki.dir, 'client-combined.pem')
    writeFileSync(combined, `${pki.clientCert}\n${pki.clientKey}`)
    const r = await send(make(base(s.port, { use_ssl: true, certfile: combined, SERVER_CERTIFICATE: pki.caCertPath })))
    assert.equal(r.status, 'sent', reason(r))
    assert.equal(s.sessions.at(-1)!.clientCN, 'sms-otp test client')
  })

  it('a server that requires a client certificate refuses us without one → unavailable', async () => {
    const s = await server({ ...tlsServer(), secure: true, clientCa: pki.caCert })
    const r = await send(make(base(s.port, { use_ssl: true, SERVER_CERTIFICATE: pki.caCertPath, TIMEOUT: 2 })))
    assert.equal(r.status, 'unavailable')
    assert.match(reason(r), /^TLS failure \(|^connection failed \(/)
    assert.equal(s.messages.length, 0)
  })
})

describe('SmtpSMSProvider login', () => {
  let authServer: SmtpTestServer
  before(async () => {
    authServer = await server({ ...tlsServer(), login: { user: 'account-to-login-to-smtp-server', pass: 'somesecret' } })
  })

  for (const method of ['PLAIN', 'LOGIN']) {
    it(`AUTH ${method} with the right password delivers`, async () => {
      const s = await server({ ...tlsServer(), login: { user: 'u1', pass: 'p@ss wörd' }, authMethods: [method] })
      const r = await send(make(base(s.port, { mailuser: 'u1', mailpassword: 'p@ss wörd', start_tls: true, SERVER_CERTIFICATE: pki.caCertPath })))
      assert.equal(r.status, 'sent', reason(r))
      assert.equal(s.messages[0]!.user, 'u1')
      assert.equal(s.messages[0]!.secure, true)
    })
  }

  it('a wrong password (SMTP 535) is unavailable, so the next provider is tried; nothing delivered', async () => {
    authServer.reset()
    const r = await send(make(base(authServer.port, { mailuser: 'account-to-login-to-smtp-server', mailpassword: 'wrong', start_tls: true, SERVER_CERTIFICATE: pki.caCertPath })))
    assert.equal(r.status, 'unavailable')
    assert.match(reason(r), /^login refused \(SMTP 535/)
    assert.equal(authServer.messages.length, 0)
    assert.equal(authServer.authFailures, 1)
  })

  it('credentials against a server that offers no AUTH: unavailable (fail over), not sent unauthenticated', async () => {
    const s = await server()
    const r = await send(make(base(s.port, { mailuser: 'u', mailpassword: 'p' })))
    assert.equal(r.status, 'unavailable')
    assert.match(reason(r), /^login refused \(SMTP 5\d\d/)
    assert.equal(s.messages.length, 0)
  })

  it('a server that requires a login refuses a provider without credentials → unavailable (fail over)', async () => {
    authServer.reset()
    const r = await send(make(base(authServer.port, { start_tls: true, SERVER_CERTIFICATE: pki.caCertPath })))
    assert.equal(r.status, 'unavailable')
    assert.match(reason(r), /^server requires a login for the sender \(SMTP 530/)
    assert.equal(authServer.messages.length, 0)
  })
})

describe('SmtpSMSProvider refusals and failures', () => {
  it('recipient refused (550) → rejected; temporarily refused (450) → unavailable', async () => {
    const s550 = await server({ rcptError: 550 })
    assert.deepEqual(await send(make(base(s550.port))), { status: 'rejected', reason: 'server refused the recipient (SMTP 550)' })
    assert.equal(s550.messages.length, 0)
    const s450 = await server({ rcptError: 450 })
    assert.deepEqual(await send(make(base(s450.port))), { status: 'unavailable', reason: 'server temporarily refused the recipient (SMTP 450)' })
  })

  it('message refused after DATA (554) → rejected', async () => {
    const s = await server({ dataError: 554 })
    assert.deepEqual(await send(make(base(s.port))), { status: 'rejected', reason: 'server refused the message (SMTP 554)' })
  })

  it('connection refused → unavailable', async () => {
    const port = await freePort()
    assert.deepEqual(await send(make(base(port))), { status: 'unavailable', reason: 'connection refused (ECONNREFUSED)' })
  })

  it('a server that accepts TCP but never greets is unavailable within TIMEOUT', async () => {
    // It greets after 2.5 s: long past TIMEOUT (0.3 s), well inside the 5 s default. Had TIMEOUT
    // not applied, the greeting would arrive and the send fail later for another reason.
    let greeted = false
    const silent = await startSilentServer((socket) => {
      setTimeout(() => {
        if (socket.destroyed) return
        greeted = true
        socket.write('220 late.example ESMTP\r\n')
      }, 2500).unref()
    })
    servers.push(silent)
    const started = Date.now()
    const r = await send(make(base(silent.port, { TIMEOUT: 0.3 })))
    const elapsed = Date.now() - started
    assert.deepEqual(r, { status: 'unavailable', reason: 'no greeting within TIMEOUT (ETIMEDOUT)' })
    assert.equal(greeted, false, 'the client gave up before the late greeting')
    // The lower bound proves it waited; the upper one only catches a hang.
    assert.ok(elapsed >= 250 && elapsed < 10_000, `took ${elapsed} ms`)
    assert.equal(silent.accepted(), 1)
  })

  it('misbehaving peers: closes at once, refuses the session (554), speaks no SMTP → unavailable, promptly', async () => {
    const cases: Array<[(socket: Socket) => void, string, number]> = [
      // no byte of the message was sent: nodemailer retries twice on a new connection
      [(socket) => socket.destroy(), 'connection failed (ECONNECTION)', 3],
      [(socket) => socket.write('554 no SMTP service here\r\n'), 'server refused the connection (SMTP 554)', 1],
      [(socket) => socket.write('HTTP/1.1 400 Bad Request\r\n\r\n'), 'unexpected server reply (EPROTOCOL)', 1],
    ]
    for (const [script, expected, connections] of cases) {
      const peer = await startSilentServer(script)
      servers.push(peer)
      const started = Date.now()
      // TIMEOUT 30 s: a client that waited for a timeout instead of reacting would trip the hang guard.
      assert.deepEqual(await send(make(base(peer.port, { TIMEOUT: 30 }))), { status: 'unavailable', reason: expected })
      assert.ok(Date.now() - started < 10_000, `${expected}: took ${Date.now() - started} ms`)
      assert.equal(peer.accepted(), connections, expected)
    }
  })

  it('a server that stalls mid-transaction is cut off after 3 × TIMEOUT', async () => {
    const s = await server({ rcptHang: true })
    const started = Date.now()
    const r = await send(make(base(s.port, { TIMEOUT: 0.3 })))
    const elapsed = Date.now() - started
    // The reason names the 0.9 s deadline that fired (the server never answers, so nothing else
    // ends the send); the lower bound proves the wait, the upper one only catches a hang.
    assert.deepEqual(r, { status: 'unavailable', reason: 'no answer within 0.9 s (ETIMEDOUT)' })
    assert.ok(elapsed >= 850 && elapsed < 10_000, `took ${elapsed} ms`)
    assert.equal(s.messages.length, 0)
  })

  it('the caller’s abort signal ends a send promptly → unavailable', async () => {
    const silent = await startSilentServer()
    servers.push(silent)
    const p = make(base(silent.port, { TIMEOUT: 30 })) // an abort that waited for a timeout would trip the hang guard
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 50)
    const started = Date.now()
    assert.deepEqual(await send(p, MSG, ac.signal), { status: 'unavailable', reason: 'send aborted' })
    assert.ok(Date.now() - started < 10_000, 'hang guard')
    assert.deepEqual(await send(p, MSG, AbortSignal.abort()), { status: 'unavailable', reason: 'send aborted' })
  })

  it('close() is idempotent, ends a pending send, and later sends are unavailable', async () => {
    const silent = await startSilentServer()
    servers.push(silent)
    const p = make(base(silent.port))
    const pending = send(p)
    await new Promise((resolve) => setTimeout(resolve, 50))
    await p.close?.()
    await p.close?.()
    assert.deepEqual(await pending, { status: 'unavailable', reason: 'provider is closed' })
    assert.deepEqual(await send(p), { status: 'unavailable', reason: 'provider is closed' })
  })
})

describe('SmtpSMSProvider under load (more sends than pooled connections)', () => {
  /** Collects the process warnings of one kind while `fn` runs (they are emitted on a later tick). */
  async function warningsDuring<T>(name: string, fn: () => Promise<T>): Promise<{ result: T; warnings: string[] }> {
    const warnings: string[] = []
    const onWarning = (w: Error) => {
      if (w.name === name) warnings.push(w.message)
    }
    process.on('warning', onWarning)
    try {
      const result = await fn()
      await new Promise((resolve) => setImmediate(resolve))
      return { result, warnings }
    } finally {
      process.off('warning', onWarning)
    }
  }

  async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms
    while (!cond()) {
      assert.ok(Date.now() < deadline, `timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  it('sends queued behind a busy pool all arrive: the 3 × TIMEOUT deadline starts when a connection is free; no MaxListeners warning', async () => {
    // 25 sends, 5 connections, 300 ms per message: the last wave ends after about 1.5 s,
    // well past the 0.9 s deadline that each exchange on its own easily meets.
    const s = await server({ dataDelayMs: 300 })
    const p = make(base(s.port, { TIMEOUT: 0.3, body: '<otp>' }))
    const texts = Array.from({ length: 25 }, (_, i) => `code ${String(i).padStart(2, '0')}`)
    const started = Date.now()
    const { result, warnings } = await warningsDuring('MaxListenersExceededWarning', () =>
      Promise.all(texts.map((text, i) => send(p, { phone: PHONE, text, transactionId: `tx-${i}` }))),
    )
    const elapsed = Date.now() - started
    assert.deepEqual(result.map((r) => r.status), texts.map(() => 'sent'), JSON.stringify(result.filter((r) => r.status !== 'sent')))
    assert.ok(elapsed > 900, `the queue outlasted one deadline (${elapsed} ms), else this test proves nothing`)
    assert.deepEqual(s.messages.map((m) => parseMail(m.raw).body).sort(), texts)
    assert.ok(s.messages.every((m) => m.to.length === 1 && m.to[0] === '+491701234567@sms.example.net'))
    assert.ok(s.sessions.length <= 5, `${s.sessions.length} connections for a pool of 5`)
    assert.deepEqual(warnings, [])
  })

  it('a send waiting for a connection: its abort signal ends it promptly, close() ends it too, and it never reaches the server', async () => {
    const s = await server({ rcptHang: true }) // holds every connection in the middle of a message
    const p = make(base(s.port, { TIMEOUT: 5 }))
    const busy = Array.from({ length: 5 }, (_, i) => send(p, { ...MSG, transactionId: `busy-${i}` }))
    await until(() => s.sessions.length === 5, 'five pooled connections')

    const ac = new AbortController()
    const queued = send(p, { ...MSG, transactionId: 'queued' }, ac.signal)
    await new Promise((resolve) => setTimeout(resolve, 50))
    const aborted = Date.now()
    ac.abort()
    assert.deepEqual(await queued, { status: 'unavailable', reason: 'send aborted' })
    // Hang guard: had the abort not ended the wait, the queued send would get a connection only
    // when a busy one hits its 15 s deadline.
    assert.ok(Date.now() - aborted < 10_000, `abort took ${Date.now() - aborted} ms`)

    const waiting = send(p, { ...MSG, transactionId: 'waiting' })
    await new Promise((resolve) => setTimeout(resolve, 50))
    const closing = Date.now()
    await p.close?.()
    assert.deepEqual(await waiting, { status: 'unavailable', reason: 'provider is closed' })
    for (const r of await Promise.all(busy)) assert.deepEqual(r, { status: 'unavailable', reason: 'provider is closed' })
    // Hang guard: without the close the busy sends would run to their 15 s deadline.
    assert.ok(Date.now() - closing < 10_000, `close took ${Date.now() - closing} ms`)
    assert.equal(s.sessions.length, 5, 'the aborted and the closed send never opened a connection')
    assert.equal(s.messages.length, 0)
  })
})

describe('SmtpSMSProvider injection (header/recipient smuggling)', () => {
  let s: SmtpTestServer
  before(async () => {
    s = await server()
  })

  const attempts: Array<[string, Partial<SmsMessage>, Record<string, unknown>, RegExp]> = [
    ['CRLF in the phone (mailto and subject)', { phone: '+49170\r\nBcc: evil@attacker.example' }, {}, /phone number contains control characters/],
    ['LF in the phone, phone only in the body', { phone: '+49170\nBcc: evil@attacker.example' }, { mailto: 'gw@sms.example.net', subject: 'x', body: '<phone> <otp>' }, /phone number contains control characters/],
    ['CRLF in the text that goes into the subject', { text: '736251\r\nBcc: evil@attacker.example' }, { subject: 'OTP <otp>' }, /line break .* header/],
    ['NUL in the text', { text: '736251\u0000' }, {}, /SMS text contains control characters/],
    ['U+2028 in the phone', { phone: '+49170\u20281234' }, {}, /phone number contains control characters/],
    ['a comma in the phone adds a recipient', { phone: '+49170,evil@attacker.example' }, {}, /cannot go into the mailto address/],
    ['angle brackets in the phone redirect the mail', { phone: 'x <evil@attacker.example> y' }, {}, /cannot go into the mailto address/],
    ['spaces in the phone (no MSISDN)', { phone: '+49 170 1234567' }, {}, /set MSISDN/],
  ]
  for (const [name, change, config, expected] of attempts) {
    it(`refused, nothing sent: ${name}`, async () => {
      s.reset()
      const r = await send(make(base(s.port, config)), { ...MSG, ...change })
      assert.equal(r.status, 'rejected')
      assert.match(reason(r), expected)
      assert.match(reason(r), /nothing was sent$/)
      assert.ok(!reason(r).includes('attacker') && !reason(r).includes('736251'))
      assert.equal(s.sessions.length, 0, 'no connection was even opened')
    })
  }

  it('composeMail never yields a header value with a line break', () => {
    const templates = { mailto: '<phone>@gw.example', subject: '<phone> <otp>', body: '<otp>' }
    for (const bad of ['\r', '\n', '\r\n', '\u0085', '\u2028', '\u000b']) {
      const out = composeMail(templates, '+4917012345', `123456${bad}Bcc: x@y`)
      assert.equal(out.ok, false, JSON.stringify(bad))
    }
  })
})

describe('SmtpSMSProvider connection test', () => {
  it('test() connects, secures, logs in and quits; wrong password → rejected; unreachable → unavailable', async () => {
    const s = await server({ ...tlsServer(), login: { user: 'u', pass: 'p' } })
    const good = make(base(s.port, { start_tls: true, SERVER_CERTIFICATE: pki.caCertPath, mailuser: 'u', mailpassword: 'p' }))
    assert.deepEqual(await good.test?.(AbortSignal.timeout(10_000)), { status: 'sent' })
    assert.equal(s.sessions.length, 1)
    assert.equal(s.sessions[0]!.secure, true)
    assert.equal(s.messages.length, 0, 'a test sends no mail')
    const bad = make(base(s.port, { start_tls: true, SERVER_CERTIFICATE: pki.caCertPath, mailuser: 'u', mailpassword: 'nope' }))
    const r = await bad.test?.(AbortSignal.timeout(10_000))
    assert.equal(r?.status, 'unavailable')
    assert.match(r ? reason(r) : '', /SMTP 535/)
    const port = await freePort()
    assert.deepEqual(await make(base(port)).test?.(AbortSignal.timeout(10_000)), { status: 'unavailable', reason: 'connection refused (ECONNREFUSED)' })
  })

  it('test() honours its signal and close()', async () => {
    const silent = await startSilentServer()
    servers.push(silent)
    const p = make(base(silent.port, { TIMEOUT: 30 })) // a test that waited for a timeout would trip the hang guard
    const started = Date.now()
    assert.deepEqual(await p.test?.(AbortSignal.timeout(100)), { status: 'unavailable', reason: 'test aborted' })
    assert.ok(Date.now() - started < 10_000, 'hang guard')
    const pending = p.test?.(new AbortController().signal)
    await new Promise((resolve) => setTimeout(resolve, 50))
    await p.close?.()
    assert.deepEqual(await pending, { status: 'unavailable', reason: 'provider is closed' })
  })
})

describe('SmtpSMSProvider config parsing', () => {
  const min = { mailserver: 'smtp.example.net', mailsender: SENDER, mailto: '<phone>@sms.example.net' }

  it('mailserver: host:port split at the last ":" unless mailserver_port is given; IPv6 literals', () => {
    assert.deepEqual(parseMailserver('smtp.example.net:2525', undefined), { host: 'smtp.example.net', port: 2525 })
    assert.deepEqual(parseMailserver('smtp.example.net', 587), { host: 'smtp.example.net', port: 587 })
    assert.deepEqual(parseMailserver('smtp.example.net:587', 587), { host: 'smtp.example.net', port: 587 })
    assert.deepEqual(parseMailserver('[2001:db8::1]:2525', undefined), { host: '2001:db8::1', port: 2525 })
    assert.deepEqual(parseMailserver('[::1]', undefined), { host: '::1', port: undefined })
    assert.deepEqual(parseMailserver('2001:db8::25', undefined), { host: '2001:db8::25', port: undefined })
    assert.deepEqual(parseMailserver(' 192.0.2.7:25 ', undefined), { host: '192.0.2.7', port: 25 })
    assertConfigError(() => parseMailserver('smtp.example.net:587', 25), /mailserver: names port 587 but mailserver_port is 25/)
    assertConfigError(() => parseMailserver('smtp.example.net:0', undefined), /mailserver: the port/)
    assertConfigError(() => parseMailserver('smtp.example.net:smtp', undefined), /mailserver: the port/)
    assertConfigError(() => parseMailserver('smtp://smtp.example.net', undefined), /not a URL/)
    assertConfigError(() => parseMailserver('smtp example.net', undefined), /^mailserver:/)
    assertConfigError(() => parseMailserver('[smtp.example.net]:25', undefined), /^mailserver:/)
    assert.equal(parse({ ...min, mailserver_port: '587' }).port, 587)
    assertConfigError(() => parse({ ...min, mailserver_port: '70000' }), /^mailserver_port:/)
  })

  it('missing required keys are ConfigErrors naming the key', () => {
    for (const key of ['mailserver', 'mailsender', 'mailto'] as const) {
      const cfg: Record<string, unknown> = { ...min }
      delete cfg[key]
      assertConfigError(() => parse(cfg), new RegExp(`missing required key '${key}'`))
      assertConfigError(() => parse({ ...cfg, [key]: '  ' }), new RegExp(`missing required key '${key}'`))
    }
  })

  it('addresses and templates are checked at load', () => {
    assertConfigError(() => parse({ ...min, mailsender: 'not an address' }), /^mailsender:/)
    assertConfigError(() => parse({ ...min, mailsender: 'a@b.example, c@d.example' }), /^mailsender:/)
    assertConfigError(() => parse({ ...min, mailto: '<phone>' }), /^mailto:/)
    assertConfigError(() => parse({ ...min, mailto: '<phone>@gw.example, other@gw.example' }), /^mailto:/)
    assertConfigError(() => parse({ ...min, subject: 'x\r\nBcc: y@z' }), /^subject:/)
    assertConfigError(() => parse({ ...min, body: 'x\u0000' }), /^body:/)
    const o = parse({ ...min, mailto: 'mailadress@smstp-gateway', body: 'line 1\nline 2 <otp>' })
    assert.equal(o.mailto, 'mailadress@smstp-gateway')
    assert.equal(o.body, 'line 1\nline 2 <otp>')
    assert.equal(o.subject, '[LinOTP]')
  })

  it('warns about templates that lose the phone or the text, and about <otp> in mailto', () => {
    const w: string[] = []
    parse({ ...min, mailto: 'gw@sms.example.net', subject: 'x', body: 'y' }, w)
    assert.ok(w.some((m) => /no <phone> tag/.test(m)))
    assert.ok(w.some((m) => /no <otp> tag/.test(m)))
    const w2: string[] = []
    parse({ ...min, mailto: '<phone>.<otp>@sms.example.net' }, w2)
    assert.ok(w2.some((m) => /mailto contains <otp>/.test(m)))
  })

  it('use_ssl and user_ssl must agree when both are given', () => {
    assert.equal(parse({ ...min, use_ssl: 'True', user_ssl: true }).security, 'tls')
    assertConfigError(() => parse({ ...min, use_ssl: 'True', user_ssl: 'false' }), /use_ssl and user_ssl/)
  })

  it('credentials: mailpassword required with mailuser; clear-text warning; password alone ignored', () => {
    assertConfigError(() => parse({ ...min, mailuser: 'u' }), /^mailpassword: required/)
    assertConfigError(() => parse({ ...min, mailuser: 'u', mailpassword: '' }), /^mailpassword: required/)
    const w: string[] = []
    assert.deepEqual(parse({ ...min, mailuser: 'u', mailpassword: 'secret-pw' }, w).auth, { user: 'u', pass: 'secret-pw' })
    assert.ok(w.some((m) => /clear text/.test(m)))
    assert.ok(!w.join(' ').includes('secret-pw'))
    const w2: string[] = []
    assert.equal(parse({ ...min, mailpassword: 'x' }, w2).auth, undefined)
    assert.ok(w2.some((m) => /mailpassword without mailuser/.test(m)))
  })

  it('certfile/keyfile are read at load; a missing file names the key', () => {
    assertConfigError(() => parse({ ...min, start_tls: true, certfile: '/nonexistent/client.crt', keyfile: pki.clientKeyPath }), /^certfile: cannot read \/nonexistent\/client\.crt \(ENOENT\)/)
    assertConfigError(() => parse({ ...min, start_tls: true, certfile: pki.clientCertPath, keyfile: '/nonexistent/client.key' }), /^keyfile: cannot read/)
    assertConfigError(() => parse({ ...min, start_tls: true, keyfile: pki.clientKeyPath }), /^keyfile: given without certfile/)
    assertConfigError(() => parse({ ...min, start_tls: true, certfile: pki.clientCertPath }), /^keyfile: required/)
    assertConfigError(() => parse({ ...min, start_tls: true, certfile: pki.clientKeyPath, keyfile: pki.clientKeyPath }), /^certfile: no PEM certificate/)
    assertConfigError(() => parse({ ...min, start_tls: true, certfile: pki.clientCertPath, keyfile: pki.serverKeyPath }), /^certfile\/keyfile: the certificate and key cannot be used together/)
    const o = parse({ ...min, start_tls: true, certfile: pki.clientCertPath, keyfile: pki.clientKeyPath })
    assert.equal(o.clientCert?.cert, pki.clientCert)
    assert.equal(o.clientCert?.key, pki.clientKey)
    const w: string[] = []
    parse({ ...min, certfile: pki.clientCertPath, keyfile: pki.clientKeyPath, SERVER_CERTIFICATE: pki.caCertPath }, w)
    assert.ok(w.some((m) => /certfile\/keyfile are unused/.test(m)))
    assert.ok(w.some((m) => /SERVER_CERTIFICATE is unused/.test(m)))
  })

  it('SERVER_CERTIFICATE has the HTTP provider semantics', () => {
    assertConfigError(() => parse({ ...min, start_tls: true, SERVER_CERTIFICATE: '/nonexistent/ca.pem' }), /certificate could not be found: \/nonexistent\/ca\.pem/)
    assert.equal(parse({ ...min, start_tls: true, SERVER_CERTIFICATE: false }).trust.rejectUnauthorized, false)
    assert.equal(parse({ ...min, start_tls: true, SERVER_CERTIFICATE: 'false' }).trust.rejectUnauthorized, false)
    assert.equal(parse({ ...min, start_tls: true }).trust.ca, undefined)
    assert.deepEqual(parse({ ...min, start_tls: true, SERVER_CERTIFICATE: pki.caCertPath }).trust.ca, [pki.caCert])
  })

  it('TIMEOUT (also timeout): seconds, default 5, 0 means the default', () => {
    assert.equal(parse(min).timeoutMs, 5000)
    assert.equal(parse({ ...min, TIMEOUT: 0.3 }).timeoutMs, 300)
    assert.equal(parse({ ...min, TIMEOUT: '12' }).timeoutMs, 12000)
    assert.equal(parse({ ...min, timeout: '2.5' }).timeoutMs, 2500)
    assert.equal(parse({ ...min, TIMEOUT: 0 }).timeoutMs, 5000)
    const w: string[] = []
    assert.equal(parse({ ...min, TIMEOUT: 3, timeout: 9 }, w).timeoutMs, 3000)
    assert.ok(w.some((m) => /both 'TIMEOUT' and 'timeout'/.test(m)))
    assertConfigError(() => parse({ ...min, TIMEOUT: 'soon' }), /^TIMEOUT:/)
    assertConfigError(() => parse({ ...min, timeout: -1 }), /^timeout:/)
  })

  it('unknown keys warn; raise_exception, MSISDN, SUPPRESS_PREFIX are accepted silently; port 465 hint', () => {
    const w: string[] = []
    parse({ ...min, raise_exception: true, MSISDN: true, SUPPRESS_PREFIX: '+', mail_server: 'x', Timeout: 30 }, w)
    assert.deepEqual(w.sort(), [
      "'Timeout' in the config is ignored: the network timeout key is 'TIMEOUT' (the provider Timeout is the OTP validity)",
      "unknown key 'mail_server' ignored",
    ])
    const w2: string[] = []
    parse({ ...min, mailserver_port: 465 }, w2)
    assert.ok(w2.some((m) => /port 465 normally expects implicit TLS/.test(m)))
  })

  it('options are frozen', () => {
    assert.ok(Object.isFrozen(parse(min)))
  })
})

describe('SmtpSMSProvider through the loader', () => {
  const FORMS = classForms('SmtpSMSProvider')
  const registry = new ProviderRegistry().register(SmtpSmsProviderClass)

  it('the product document example loads under every class-name form and delivers', async () => {
    const s = await server({ login: { user: 'account-to-login-to-smtp-server', pass: 'somesecret' } })
    for (const className of FORMS) {
      s.reset()
      // The example as printed, only the host pointed at the loopback server.
      const config = point(SMTP_EXAMPLE, [['"smtp.yourdomain.com"', `"127.0.0.1:${s.port}"`]])
      const loaded = loadProvider({ name: 'mailgw', className, config, timeout: 120 }, registry, silentLogger)
      providers.push(loaded.instance)
      const r = await sendVia(loaded, MSG, AbortSignal.timeout(10_000))
      assert.equal(r.status, 'sent', `${className}: ${reason(r)}`)
      assert.equal(s.messages.length, 1)
      const m = s.messages[0]!
      assert.equal(m.user, 'account-to-login-to-smtp-server')
      assert.deepEqual(m.to, ['mailadress@smstp-gateway'])
      const mail = parseMail(m.raw)
      assert.equal(mail.header('subject'), PHONE)
      assert.equal(mail.body, `This is your OTP-value: ${TEXT}`)
    }
  })

  it('the product document TLS keys (start_tls "True", certfile/keyfile, mailserver_port "587"-style, user_ssl "True") load and deliver', async () => {
    const starttls = await server({ ...tlsServer(), clientCa: pki.caCert })
    const config = JSON.stringify({
      mailserver: '127.0.0.1', mailserver_port: String(starttls.port), mailsender: 'linotp@yourdomain.com', mailto: '<phone>@smstp-gateway',
      subject: '<phone>', body: 'This is your OTP-value: <otp>', start_tls: 'True', certfile: pki.clientCertPath, keyfile: pki.clientKeyPath,
      SERVER_CERTIFICATE: pki.caCertPath,
    })
    const a = loadProvider({ name: 'starttls', className: 'smsprovider.SmtpSMSProvider.SmtpSMSProvider', config, timeout: 120 }, registry, silentLogger)
    providers.push(a.instance)
    assert.equal((await sendVia(a, MSG, AbortSignal.timeout(10_000))).status, 'sent')
    assert.equal(starttls.messages[0]!.secure, true)
    assert.equal(starttls.sessions.at(-1)!.clientCN, 'sms-otp test client')

    const smtps = await server({ ...tlsServer(), secure: true })
    const config2 = JSON.stringify({ mailserver: '127.0.0.1', mailserver_port: smtps.port, mailsender: SENDER, mailto: '<phone>@smstp-gateway', user_ssl: 'True', SERVER_CERTIFICATE: pki.caCertPath })
    const b = loadProvider({ name: 'smtps', className: 'SmtpSMSProvider', config: config2, timeout: 120 }, registry, silentLogger)
    providers.push(b.instance)
    assert.equal((await sendVia(b, MSG, AbortSignal.timeout(10_000))).status, 'sent')
    assert.equal(smtps.messages[0]!.secure, true)
    assert.deepEqual(smtps.messages[0]!.to, [`${PHONE}@smstp-gateway`])
  })

  it('MSISDN and SUPPRESS_PREFIX are applied before <phone> is substituted', async () => {
    const s = await server()
    const config = JSON.stringify({ ...base(s.port), MSISDN: 'True', SUPPRESS_PREFIX: '+' })
    const loaded = loadProvider({ name: 'msisdn', className: 'SmtpSMSProvider', config, timeout: 120 }, registry, silentLogger)
    providers.push(loaded.instance)
    const r = await sendVia(loaded, { ...MSG, phone: '+49 (170) 123-4567' }, AbortSignal.timeout(10_000))
    assert.equal(r.status, 'sent', reason(r))
    assert.deepEqual(s.messages[0]!.to, ['491701234567@sms.example.net'])
    assert.equal(parseMail(s.messages[0]!.raw).header('subject'), '491701234567')
  })

  it('a missing required key fails the load with the provider and key named', () => {
    assertConfigError(
      () => loadProvider({ name: 'broken', className: 'SmtpSMSProvider', config: '{"mailserver": "smtp.example.net", "mailsender": "a@b.example"}', timeout: 120 }, registry, silentLogger),
      /^provider 'broken' \(SmtpSMSProvider\): missing required key 'mailto'$/,
    )
  })

  it('nothing secret reaches the logger: no SMS text, OTP, full phone number or password', async () => {
    const lines: string[] = []
    const logger = recordingLogger(lines)
    const ok = await server({ ...tlsServer(), login: { user: 'mailer', pass: 'Pa55-secret-word' } })
    const refusing = await server({ rcptError: 550 })
    const secret = { ...MSG, phone: '+491709876543', text: 'Your code 918273 expires soon' }
    const load = (name: string, cfg: Record<string, unknown>) => {
      const l = loadProvider({ name, className: 'SmtpSMSProvider', config: JSON.stringify(cfg), timeout: 120 }, registry, logger)
      providers.push(l.instance)
      return l
    }
    const good = load('good', base(ok.port, { mailuser: 'mailer', mailpassword: 'Pa55-secret-word', start_tls: true, SERVER_CERTIFICATE: pki.caCertPath }))
    assert.equal((await sendVia(good, secret, AbortSignal.timeout(10_000))).status, 'sent')
    const wrongPw = load('wrong', base(ok.port, { mailuser: 'mailer', mailpassword: 'Other-secret-pw', start_tls: true, SERVER_CERTIFICATE: pki.caCertPath }))
    assert.equal((await sendVia(wrongPw, secret, AbortSignal.timeout(10_000))).status, 'unavailable')
    assert.equal((await wrongPw.instance.test?.(AbortSignal.timeout(10_000)))?.status, 'unavailable')
    const refused = load('refused', base(refusing.port, { mailuser: 'mailer', mailpassword: 'Clear-text-pw' }))
    const r = await sendVia(refused, secret, AbortSignal.timeout(10_000))
    assert.equal(r.status, 'unavailable') // the server offers no AUTH
    const injected = load('inject', base(ok.port, { start_tls: true, SERVER_CERTIFICATE: pki.caCertPath }))
    assert.equal((await sendVia(injected, { ...secret, phone: '+491709876543\r\nBcc: x@y.example' }, AbortSignal.timeout(10_000))).status, 'rejected')

    const all = lines.join('\n')
    assert.ok(lines.length >= 4, all)
    for (const needle of ['918273', 'Your code', '491709876543', '1709876543', 'Pa55-secret-word', 'Other-secret-pw', 'Clear-text-pw']) {
      assert.ok(!all.includes(needle), `log contains ${needle}: ${all}`)
    }
    assert.ok(all.includes('+49******6543'), 'the masked number is logged')
  })
})
