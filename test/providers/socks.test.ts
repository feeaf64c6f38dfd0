import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { after, before, describe, it } from 'node:test'
import { ConfigError } from '../../src/errors.js'
import { silentLogger } from '../../src/logger.js'
import { maskPhone } from '../../src/phone/index.js'
import { HttpSmsProviderClass } from '../../src/providers/http/provider.js'
import { parseProxy } from '../../src/providers/net/http-config.js'
import { loadProvider, sendVia } from '../../src/providers/loader.js'
import { ProviderRegistry } from '../../src/providers/registry.js'
import { RestSmsProviderClass } from '../../src/providers/rest/provider.js'
import { ipv6Bytes } from '../../src/providers/net/socks.js'
import type { SendResult, SmsMessage, SmsProvider } from '../../src/providers/types.js'
import { startGateway, type Gateway } from '../helpers/gateway.js'
import { recordingLogger } from '../helpers/harness.js'
import { startProxy, type ForwardProxy } from '../helpers/proxy.js'
import { startSocksServer, type SocksServer } from '../helpers/socks-server.js'
import { createTestPki, type TestPki } from '../helpers/tls.js'
import { SWISSCOM_EXAMPLE, classForms, point } from '../helpers/product-examples.js'
import { assertConfigError, freePort } from '../helpers/assertions.js'

const PHONE = '+41791234567'
const OTP = '123456'
const MSG: SmsMessage = { phone: PHONE, text: OTP, transactionId: 'tx-socks' }
const PAYLOAD = { to: ['<phone>'], body: 'Your OTP is: <message>' }
const BODY = JSON.stringify({ to: [PHONE], body: `Your OTP is: ${OTP}` })
/** A password that must never show up in a reason or a log line. */
const PROXY_PASSWORD = 'Sx9-proxy-p@ss'

const providers: SmsProvider[] = []
let gw: Gateway
let tgw: Gateway
let socks: SocksServer
let authSocks: SocksServer
let httpProxy: ForwardProxy
let pki: TestPki
let clientPem: string

function rest(cfg: Record<string, unknown>, logger = silentLogger): SmsProvider {
  const options = RestSmsProviderClass.parse({ PAYLOAD, SMS_TEXT_KEY: 'body', SMS_PHONENUMBER_KEY: 'to', ...cfg }, () => {})
  const p = RestSmsProviderClass.create(options, { name: 'rest', logger })
  providers.push(p)
  return p
}

function http(cfg: Record<string, unknown>): SmsProvider {
  const options = HttpSmsProviderClass.parse({ HTTP_Method: 'GET', RETURN_SUCCESS: 'OK', ...cfg }, () => {})
  const p = HttpSmsProviderClass.create(options, { name: 'http', logger: silentLogger })
  providers.push(p)
  return p
}

const send = (p: SmsProvider): Promise<SendResult> => p.send(MSG, new AbortController().signal)
const reasonOf = (r: SendResult) => (r.status === 'sent' ? '' : r.reason)
const authUrl = (password = PROXY_PASSWORD, scheme = 'socks5') =>
  `${scheme}://su:${encodeURIComponent(password)}@127.0.0.1:${authSocks.port}`



before(async () => {
  pki = createTestPki()
  gw = await startGateway()
  tgw = await startGateway({ tls: { key: pki.serverKey, cert: pki.serverCert } })
  socks = await startSocksServer()
  authSocks = await startSocksServer({ username: 'su', password: PROXY_PASSWORD })
  httpProxy = await startProxy()
  clientPem = join(pki.dir, 'client-combined.pem')
  writeFileSync(clientPem, `${pki.clientCert}${pki.clientKey}`)
})

after(async () => {
  await Promise.all(providers.map((p) => p.close?.()))
  await Promise.all([gw.close(), tgw.close(), socks.close(), authSocks.close(), httpProxy.close()])
  pki.cleanup()
})

describe('PROXY with SOCKS URLs (parsing)', () => {
  it('socks5 and socks5h URLs, default port 1080, percent-decoded credentials, IPv6 hosts', () => {
    assert.deepEqual(parseProxy('socks5://proxy.local'), {
      http: { uri: 'socks5://proxy.local:1080', socks: { scheme: 'socks5', host: 'proxy.local', port: 1080 } },
      https: { uri: 'socks5://proxy.local:1080', socks: { scheme: 'socks5', host: 'proxy.local', port: 1080 } },
    })
    const map = parseProxy({ http: ' SOCKS5H://us%40r:p%3Ass@[::1]:9050 ', https: 'http://10.10.1.10:3128' })
    assert.deepEqual(map?.http, { uri: 'socks5h://[::1]:9050', socks: { scheme: 'socks5h', host: '::1', port: 9050, username: 'us@r', password: 'p:ss' } })
    assert.deepEqual(map?.https, { uri: 'http://10.10.1.10:3128' })
    assert.deepEqual(parseProxy({ all: 'socks5://u@h:1' })?.https, { uri: 'socks5://h:1', socks: { scheme: 'socks5', host: 'h', port: 1, username: 'u', password: '' } })
  })

  it('refuses socks4, bad URLs and credentials RFC 1929 cannot carry, naming the key', () => {
    assertConfigError(() => parseProxy({ http: 'socks4://h:1080' }), /^PROXY\.http: unsupported proxy scheme socks4: \(SOCKS4 has no password authentication and no IPv6; use socks5:\/\/ or socks5h:\/\/\)$/)
    assertConfigError(() => parseProxy('SOCKS4A://h'), /^PROXY: unsupported proxy scheme socks4a:/)
    assertConfigError(() => parseProxy('socks://h'), /^PROXY: unsupported proxy scheme socks: \(socks5, socks5h, http or https\)$/)
    assertConfigError(() => parseProxy({ https: `socks5h://user:${PROXY_PASSWORD}@host:port` }), /^PROXY\.https: not a valid proxy URL$/)
    assertConfigError(() => parseProxy(`socks5://:${PROXY_PASSWORD}@h`), /^PROXY: the proxy URL has a password but no user name$/)
    assertConfigError(() => parseProxy(`socks5://${'u'.repeat(256)}:${PROXY_PASSWORD}@h`), /^PROXY: SOCKS5 user name and password are limited to 255 bytes each$/)
    assertConfigError(() => parseProxy(`socks5://u:${PROXY_PASSWORD}%zz@h`), /not validly percent-encoded/)
    assertConfigError(() => parseProxy('socks5://h:0'), /^PROXY: proxy port must be 1\.\.65535$/)
    assertConfigError(() => parseProxy('socks5://'), /^PROXY: (proxy URL has no host|not a valid proxy URL)$/)
  })

  it('IPv6 literals are encoded for CONNECT as 16 bytes', () => {
    assert.equal(ipv6Bytes('::1').toString('hex'), '00000000000000000000000000000001')
    assert.equal(ipv6Bytes('2001:db8::8:800:200c:417a').toString('hex'), '20010db80000000000080800200c417a')
    assert.equal(ipv6Bytes('::ffff:192.0.2.1').toString('hex'), '00000000000000000000ffffc0000201')
    assert.equal(ipv6Bytes('fe80::1%eth0').toString('hex'), 'fe800000000000000000000000000001')
  })
})

describe('RestSMSProvider through a SOCKS5 proxy', () => {
  it('http gateway via socks5 (no authentication): CONNECT by IPv4, origin-form request, exact body', async () => {
    gw.reset()
    socks.reset()
    assert.deepEqual(await send(rest({ URL: `${gw.url}/send`, PROXY: socks.url })), { status: 'sent' })
    assert.deepEqual(
      socks.handshakes.map((h) => [h.methods, h.auth, h.command, h.addressType, h.host, h.port, h.reply]),
      [[[0], 'none', 1, 'ipv4', '127.0.0.1', gw.port, 0]],
    )
    assert.equal(gw.requests.length, 1)
    assert.equal(gw.requests[0]!.target, '/send', 'a tunnel carries the request in origin form')
    assert.equal(gw.requests[0]!.body, BODY)
  })

  it('https gateway via socks5 with username/password: TLS inside the tunnel, the test CA trusted', async () => {
    tgw.reset()
    authSocks.reset({ username: 'su', password: PROXY_PASSWORD })
    // socks5 resolves "localhost" here (IPv4 first) and sends the address; TLS still checks the name.
    const url = `https://localhost:${tgw.port}/send`
    assert.deepEqual(await send(rest({ URL: url, PROXY: { https: authUrl() }, SERVER_CERTIFICATE: pki.caCertPath })), { status: 'sent' })
    assert.deepEqual(
      authSocks.handshakes.map((h) => [h.methods, h.username, h.password, h.auth, h.addressType, h.host, h.port]),
      [[[0, 2], 'su', PROXY_PASSWORD, 'ok', 'ipv4', '127.0.0.1', tgw.port]],
    )
    assert.equal(tgw.requests.length, 1)
    assert.equal(tgw.requests[0]!.body, BODY)
  })

  it('SERVER_CERTIFICATE is honoured inside the tunnel as for direct connections', async () => {
    tgw.reset()
    socks.reset()
    const r = await send(rest({ URL: `${tgw.url}/send`, PROXY: socks.url }))
    assert.equal(r.status, 'unavailable')
    assert.match(reasonOf(r), /^TLS failure \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)$/)
    assert.equal(tgw.requests.length, 0)
    assert.equal(socks.handshakes.length, 1, 'the tunnel was built; TLS refused the gateway')
    assert.deepEqual(await send(rest({ URL: `${tgw.url}/send`, PROXY: socks.url, SERVER_CERTIFICATE: false })), { status: 'sent' })
  })

  it('keep-alive through the proxy: two sends, one SOCKS handshake, one gateway connection', async () => {
    for (const [g, extra] of [[gw, {}], [tgw, { SERVER_CERTIFICATE: pki.caCertPath }]] as const) {
      g.reset()
      socks.reset()
      const p = rest({ URL: `${g.url}/send`, PROXY: socks.url, ...extra })
      assert.deepEqual(await send(p), { status: 'sent' })
      // undici re-validates an idle socket in a setImmediate before reusing it (as in the
      // HttpSMSProvider keep-alive test); sends are never that close together in practice.
      await new Promise((resolve) => setImmediate(resolve))
      assert.deepEqual(await send(p), { status: 'sent' })
      assert.equal(socks.connections, 1, g.url)
      assert.equal(socks.handshakes.length, 1, g.url)
      assert.deepEqual(g.requests.map((r) => [r.socketId, r.body]), [[g.requests[0]!.socketId, BODY], [g.requests[0]!.socketId, BODY]])
    }
  })

  it('a per-scheme map mixes SOCKS and an http proxy: {"http": "socks5://…", "https": "http://…"}', async () => {
    const PROXY = { http: socks.url, https: httpProxy.url }
    gw.reset()
    tgw.reset()
    socks.reset()
    httpProxy.proxied.length = 0
    assert.deepEqual(await send(rest({ URL: `${gw.url}/send`, PROXY })), { status: 'sent' })
    assert.deepEqual(await send(rest({ URL: `${tgw.url}/send`, PROXY, SERVER_CERTIFICATE: pki.caCertPath })), { status: 'sent' })
    assert.deepEqual(socks.handshakes.map((h) => h.port), [gw.port], 'only the http target went through SOCKS')
    assert.deepEqual(httpProxy.proxied.map((p) => [p.kind, p.target]), [['connect', `127.0.0.1:${tgw.port}`]])
    assert.deepEqual([gw.requests[0]?.body, tgw.requests[0]?.body], [BODY, BODY])
  })

  it('a SOCKS proxy for https only leaves http targets direct', async () => {
    gw.reset()
    socks.reset()
    assert.deepEqual(await send(rest({ URL: `${gw.url}/send`, PROXY: { https: socks.url } })), { status: 'sent' })
    assert.equal(socks.connections, 0)
    assert.equal(gw.requests[0]?.body, BODY)
  })

  it('the proxy may answer with a domain or IPv6 bound address', async () => {
    for (const boundAddressType of ['domain', 'ipv6'] as const) {
      gw.reset()
      socks.reset({ boundAddressType })
      assert.deepEqual(await send(rest({ URL: `${gw.url}/send`, PROXY: socks.url })), { status: 'sent' }, boundAddressType)
      assert.equal(gw.requests[0]?.body, BODY)
    }
    socks.reset()
  })
})

describe('RestSMSProvider over mutual TLS through SOCKS', () => {
  let server: HttpsServer
  const seen: Array<{ sni: string | false; cn: string; body: string }> = []
  before(async () => {
    server = createHttpsServer({ key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const socket = req.socket as TLSSocket & { servername?: string | false }
        seen.push({ sni: socket.servername ?? false, cn: String(socket.getPeerCertificate().subject?.CN), body: Buffer.concat(chunks).toString('utf8') })
        res.writeHead(202).end('{}')
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('CLIENT_CERTIFICATE_FILE is presented inside the tunnel (socks5h, the proxy resolves the name)', async () => {
    seen.length = 0
    authSocks.reset({ username: 'su', password: PROXY_PASSWORD })
    const url = `https://localhost:${(server.address() as AddressInfo).port}/sms`
    const r = await send(rest({ URL: url, PROXY: authUrl(PROXY_PASSWORD, 'socks5h'), SERVER_CERTIFICATE: pki.caCertPath, CLIENT_CERTIFICATE_FILE: clientPem }))
    assert.deepEqual(r, { status: 'sent' })
    // SNI carries the URL's host name through the tunnel, as on a direct connection.
    assert.deepEqual(seen, [{ sni: 'localhost', cn: 'sms-otp test client', body: BODY }])
    assert.deepEqual(authSocks.handshakes.map((h) => [h.addressType, h.host]), [['domain', 'localhost']])
    const without = await send(rest({ URL: url, PROXY: authUrl(PROXY_PASSWORD, 'socks5h'), SERVER_CERTIFICATE: pki.caCertPath }))
    assert.equal(without.status, 'unavailable', 'the gateway demands the client certificate')
    assert.equal(seen.length, 1)
  })
})

describe('HttpSMSProvider through a SOCKS5 proxy', () => {
  it('socks5h: the host name goes to the proxy (CONNECT by domain name), the query arrives intact', async () => {
    gw.reset()
    socks.reset()
    const p = http({ URL: `http://localhost:${gw.port}/sms?user=u1`, PROXY: `socks5h://127.0.0.1:${socks.port}` })
    assert.deepEqual(await send(p), { status: 'sent' })
    assert.deepEqual(socks.handshakes.map((h) => [h.addressType, h.host, h.port, h.reply]), [['domain', 'localhost', gw.port, 0]])
    assert.equal(gw.requests.length, 1)
    assert.equal(gw.requests[0]!.method, 'GET')
    assert.deepEqual(gw.requests[0]!.query, [['user', 'u1'], ['phone', PHONE], ['sms', OTP]])
  })

  it('https via socks5 with authentication and Digest: one handshake carries challenge and retry', async () => {
    tgw.reset({ digest: { username: 'gw', password: 'gwpass' }, body: 'OK' })
    authSocks.reset({ username: 'su', password: PROXY_PASSWORD })
    const p = http({
      URL: `${tgw.url}/sms`,
      HTTP_Method: 'POST',
      USERNAME: 'gw',
      PASSWORD: 'gwpass',
      AUTH_TYPE: 'digest',
      SERVER_CERTIFICATE: pki.caCertPath,
      PROXY: { https: authUrl() },
    })
    assert.deepEqual(await send(p), { status: 'sent' })
    assert.deepEqual(tgw.requests.map((r) => r.auth), ['missing', 'ok'])
    assert.deepEqual(tgw.requests[1]!.form, [['phone', PHONE], ['sms', OTP]])
    assert.equal(authSocks.handshakes.length, 1)
  })
})

describe('SOCKS failures are unavailable with a reason naming the proxy step', () => {
  it('wrong proxy password: RFC 1929 refusal, no password in the reason', async () => {
    gw.reset()
    authSocks.reset({ username: 'su', password: PROXY_PASSWORD })
    const r = await send(rest({ URL: `${gw.url}/send`, PROXY: authUrl('wrong-Secret-1') }))
    assert.deepEqual(r, { status: 'unavailable', reason: `SOCKS proxy 127.0.0.1:${authSocks.port} refused the user name or password (RFC 1929 status 0x01) (SOCKS_AUTH_FAILED)` })
    assert.deepEqual(authSocks.handshakes.map((h) => [h.auth, h.password]), [['wrong', 'wrong-Secret-1']])
    assert.equal(gw.requests.length, 0)
  })

  it('a proxy that demands authentication when the URL has none', async () => {
    authSocks.reset({ username: 'su', password: PROXY_PASSWORD })
    const r = await send(rest({ URL: `${gw.url}/send`, PROXY: `socks5://127.0.0.1:${authSocks.port}` }))
    assert.deepEqual(r, {
      status: 'unavailable',
      reason: `SOCKS proxy 127.0.0.1:${authSocks.port} requires authentication; put user:password into the PROXY URL (SOCKS_NO_ACCEPTABLE_METHOD)`,
    })
    assert.deepEqual(authSocks.handshakes.map((h) => [h.methods, h.auth]), [[[0], 'no-method']])
  })

  it('CONNECT refused by the proxy (reply 0x05 and others): the reply is named', async () => {
    for (const [code, text] of [[0x05, 'connection refused'], [0x02, 'connection not allowed by the proxy rules'], [0x01, 'general SOCKS server failure'], [0x09, 'unassigned reply code']] as const) {
      gw.reset()
      socks.reset({ refuseWith: code })
      const r = await send(rest({ URL: `${gw.url}/send`, PROXY: socks.url }))
      const hex = `0x0${code}`
      assert.deepEqual(r, { status: 'unavailable', reason: `SOCKS proxy 127.0.0.1:${socks.port} could not connect to the gateway: ${text} (SOCKS reply ${hex})` })
      assert.equal(gw.requests.length, 0)
    }
    socks.reset()
  })

  it('gateway unreachable via the proxy (nothing listens): the proxy answers 0x05', async () => {
    socks.reset()
    const port = await freePort()
    const r = await send(rest({ URL: `http://127.0.0.1:${port}/send`, PROXY: socks.url }))
    assert.deepEqual(r, { status: 'unavailable', reason: `SOCKS proxy 127.0.0.1:${socks.port} could not connect to the gateway: connection refused (SOCKS reply 0x05)` })
    assert.deepEqual(socks.handshakes.map((h) => [h.port, h.reply]), [[port, 5]])
  })

  it('an IPv6 gateway address is sent as address type 4', async () => {
    socks.reset({ refuseWith: 0x04 })
    const r = await send(http({ URL: `http://[::1]:${gw.port}/sms`, PROXY: socks.url }))
    assert.deepEqual(r, { status: 'unavailable', reason: `SOCKS proxy 127.0.0.1:${socks.port} could not connect to the gateway: host unreachable (SOCKS reply 0x04)` })
    assert.deepEqual(socks.handshakes.map((h) => [h.addressType, h.host, h.port]), [['ipv6', '::1', gw.port]])
    socks.reset()
  })

  it('dead proxy port: the proxy is named unreachable', async () => {
    const port = await freePort()
    const r = await send(rest({ URL: `${gw.url}/send`, PROXY: `socks5://127.0.0.1:${port}` }))
    assert.deepEqual(r, { status: 'unavailable', reason: `SOCKS proxy 127.0.0.1:${port} unreachable (ECONNREFUSED)` })
  })

  it('a silent proxy: the connect timeout covers the SOCKS handshake', async () => {
    socks.reset({ silent: true })
    const started = Date.now()
    const r = await send(rest({ URL: `${gw.url}/send`, PROXY: socks.url, TIMEOUT: '(0.3,5)' }))
    const ms = Date.now() - started
    // The reason names the 300 ms timer that fired (not the 5 s read timeout); the lower bound
    // proves the wait, the upper one only catches a hang.
    assert.deepEqual(r, { status: 'unavailable', reason: `connect timed out after 300 ms during the SOCKS greeting via SOCKS proxy 127.0.0.1:${socks.port} (ETIMEDOUT)` })
    assert.ok(ms >= 280 && ms < 10_000, `took ${ms} ms`)
    socks.reset()
  })

  it('socks5 resolves the gateway name locally: an unknown name never reaches the proxy', async () => {
    socks.reset()
    const r = await send(rest({ URL: 'http://no-such-gateway.invalid/send', PROXY: socks.url, TIMEOUT: '(2,5)' }))
    assert.equal(r.status, 'unavailable')
    assert.match(reasonOf(r), /gateway host name/)
    assert.equal(socks.connections, 0)
  })

  it('a proxy that is not SOCKS5 (an http proxy) is a protocol error', async () => {
    const r = await send(rest({ URL: `${gw.url}/send`, PROXY: `socks5://127.0.0.1:${httpProxy.port}`, TIMEOUT: '(1,5)' }))
    assert.equal(r.status, 'unavailable')
    assert.match(reasonOf(r), new RegExp(`^SOCKS proxy 127\\.0\\.0\\.1:${httpProxy.port} (is not a SOCKS5 proxy|closed the connection during the greeting)`))
  })

  it('an aborted send is unavailable and does not wait for the proxy', async () => {
    socks.reset({ silent: true })
    const ctl = new AbortController()
    setTimeout(() => ctl.abort(), 50)
    const started = Date.now()
    // A 30 s connect timeout: an abort that waited for it would trip the hang guard.
    const r = await rest({ URL: `${gw.url}/send`, PROXY: socks.url, TIMEOUT: '(30,5)' }).send(MSG, ctl.signal)
    assert.deepEqual(r, { status: 'unavailable', reason: 'request aborted' })
    assert.ok(Date.now() - started < 10_000, 'hang guard')
    socks.reset()
  })
})

describe('SOCKS with the product document example', () => {
  /** The Swisscom example plus the document's socks PROXY line (double quotes), pointed at loopback. */
  const example = (url: string, port: number, quote = '"') =>
    point(SWISSCOM_EXAMPLE, [
      ['https://messagingproxy.swisscom.ch:4300/rest/1.0.0/submit_sm/123456', url],
      [
        '"USERNAME":"123456"\n}',
        `"USERNAME":"123456",\n"PROXY" : { ${quote}http${quote}: ${quote}socks5://user:pass@127.0.0.1:${port}${quote}, ${quote}https${quote}: ${quote}socks5://user:pass@127.0.0.1:${port}${quote} }\n}`,
      ],
    ])
  const CLASS_FORMS = classForms('RestSMSProvider')

  it('loads under every class-name form and delivers through the SOCKS proxy, logging no secret', async () => {
    const proxy = await startSocksServer({ username: 'user', password: 'pass' })
    try {
      const lines: string[] = []
      const registry = new ProviderRegistry().register(RestSmsProviderClass)
      for (const className of CLASS_FORMS) {
        gw.reset({ basic: { username: '123456', password: 'SECRET' } })
        proxy.reset({ username: 'user', password: 'pass' })
        const loaded = loadProvider({ name: 'swisscom', className, config: example(`${gw.url}/rest/1.0.0/submit_sm/123456`, proxy.port), timeout: 120 }, registry, recordingLogger(lines))
        providers.push(loaded.instance)
        assert.deepEqual(await sendVia(loaded, MSG, new AbortController().signal), { status: 'sent' }, className)
        assert.deepEqual(proxy.handshakes.map((h) => [h.auth, h.host, h.port]), [['ok', '127.0.0.1', gw.port]], className)
        assert.equal(gw.requests.length, 1)
        assert.equal(gw.requests[0]!.auth, 'ok')
        assert.equal(
          gw.requests[0]!.body,
          '{"destination_addr":"+41791234567","source_addr":"123456","short_message":"Your OTP is: 123456","source_addr_ton":6,"source_addr_npi":0,"dest_addr_ton":1,"dest_addr_npi":1}',
        )
        await loaded.instance.close?.()
      }
      assert.ok(lines.some((l) => l.includes(maskPhone(PHONE))), 'sends are logged with the masked phone')
      for (const line of lines) {
        for (const secret of [OTP, PHONE, PHONE.slice(1), 'SECRET', 'user:pass']) assert.ok(!line.includes(secret), `log line leaks ${secret}: ${line}`)
      }
    } finally {
      await proxy.close()
    }
  })

  it("the document's single quotes are a JSON error that says to use double quotes", () => {
    const registry = new ProviderRegistry().register(RestSmsProviderClass)
    assert.throws(
      () => loadProvider({ name: 'swisscom', className: 'smsprovider.RestSMSProvider', config: example('https://gw.example/x', 1080, "'"), timeout: 120 }, registry, silentLogger),
      (err: unknown) => err instanceof ConfigError && /use double quotes/.test(err.message) && !err.message.includes('pass'),
    )
  })

  it('failed sends log no proxy credential, OTP or phone number', async () => {
    const lines: string[] = []
    gw.reset()
    authSocks.reset({ username: 'su', password: PROXY_PASSWORD })
    const bad = await send(rest({ URL: `${gw.url}/send`, PROXY: authUrl('wrong-Secret-2') }, recordingLogger(lines)))
    const good = await send(rest({ URL: `${gw.url}/send`, PROXY: authUrl() }, recordingLogger(lines)))
    assert.deepEqual([bad.status, good.status], ['unavailable', 'sent'])
    assert.ok(lines.length >= 2)
    for (const line of lines) {
      for (const secret of [PROXY_PASSWORD, encodeURIComponent(PROXY_PASSWORD), 'wrong-Secret-2', OTP, PHONE.slice(1)]) {
        assert.ok(!line.includes(secret), `log line leaks ${secret}: ${line}`)
      }
    }
  })
})
