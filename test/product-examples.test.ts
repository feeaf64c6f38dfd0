/**
 * Issue: every configuration example of the product document loads and delivers, with its host
 * pointed at a loopback peer, under every class-name form LinOTP accepts. The examples below are
 * copied verbatim from the product document; `point()` changes nothing but host, port (and, for
 * the https gateways, the scheme, since the loopback peer cannot hold their public certificates).
 * Each one goes through the real sidecar: /system/setProvider → PIN → SMS at the peer → OTP.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startGateway, type Gateway } from './helpers/gateway.js'
import { startProxy, type ForwardProxy } from './helpers/proxy.js'
import { startSmsc, type Smsc } from './helpers/smsc.js'
import { parseMail, startSmtpServer, type SmtpTestServer } from './helpers/smtp-server.js'
import { decodeSubmit, missingTools, startModem, type ScriptedModem } from './helpers/modem.js'
import { existsSync, realpathSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { enrolAlice, startHarness, type Harness } from './helpers/harness.js'
import { ALICE_PIN, check } from './helpers/validate-helpers.js'
import { CLICKATELL_EXAMPLE, CLX_EXAMPLE, DEVICE_EXAMPLE, HTTP_EXAMPLE, SMPP_EXAMPLE, SMTP_EXAMPLE, SWISSCOM_EXAMPLE, classForms, point } from './helpers/product-examples.js'

// ---- harness ------------------------------------------------------------------------------------

interface Delivery {
  /** How many SMS the peer has received so far. */
  count(): number
  /** The text of the newest SMS (whatever the peer's format). */
  lastText(): string
}

/**
 * Sets the provider under each class form and runs PIN → SMS → OTP. The provider replaces the
 * harness's outbox as default; a fresh challenge per form (the clock moves past the block).
 */
async function deliversUnderEveryForm(h: Harness, short: string, config: string, peer: Delivery, expectText: (otp: string) => string): Promise<void> {
  for (const [i, form] of classForms(short).entries()) {
    const set = await h.admin('/system/setProvider', { name: 'example', type: 'sms', class: form, config, timeout: '120', default: 'true' })
    assert.equal(set.body.result.value, true, `${form}: ${JSON.stringify(set.body)}`)
    h.clock.advance(31_000)
    const before = peer.count()
    const r = await check(h, { user: 'alice', pass: ALICE_PIN })
    assert.equal(r.body.detail?.message, 'sms submitted', `${form}: ${JSON.stringify(h.audit.at(-1))}`)
    assert.equal(peer.count(), before + 1, `${form}: the peer got the SMS`)
    const otp = /\d{6}/.exec(peer.lastText())?.[0] ?? ''
    assert.equal(peer.lastText(), expectText(otp), form)
    const ok = await check(h, { user: 'alice', transactionid: r.body.detail.transactionid, pass: otp })
    assert.equal(ok.body.result.value, true, `${form}: the delivered OTP authenticates (round ${i + 1})`)
  }
}

describe('product document examples deliver under every class-name form', () => {
  let h: Harness
  before(async () => {
    // The peers listen on loopback and the examples are set through the admin API, which may reach
    // only what the operator allowed (serve --allow-host / --allow-program); the gnokiirc lies in
    // the harness directory, an allowed path, and its port (the modem's pty) must be allowed too.
    const gnokii = (process.env.PATH ?? '').split(':').map((d) => join(d, 'gnokii')).find((f) => existsSync(f))
    const ptys = existsSync('/dev/pts') ? ['/dev/pts'] : []
    h = await startHarness({ resources: { allowHosts: ['127.0.0.1'], allowPrograms: gnokii === undefined ? [] : [gnokii], allowPaths: ptys } })
    await enrolAlice(h)
  })
  after(() => h.close())

  describe('HttpSMSProvider', () => {
    let gw: Gateway
    let proxy: ForwardProxy
    before(async () => {
      gw = await startGateway({ behaviour: { body: 'ID: 4711' } })
    })
    after(async () => {
      await gw.close()
      await proxy.close()
    })
    const viaGateway: Delivery = {
      count: () => gw.requests.length,
      lastText: () => gw.requests.at(-1)?.query.find(([k]) => k === 'text')?.[1] ?? '',
    }

    it('the generic example (GET, PARAMETER, PROXY with credentials, RETURN_SUCCESS)', async () => {
      proxy = await startProxy({ username: 'username', password: 'password' })
      const config = point(HTTP_EXAMPLE, [
        ['http://smsgateway.com/sms_send_api.cgi', `${gw.url}/sms_send_api.cgi`],
        ['your-proxy:8080', `127.0.0.1:${proxy.port}`],
      ])
      await deliversUnderEveryForm(h, 'HttpSMSProvider', config, viaGateway, (otp) => otp)
      const last = gw.requests.at(-1)
      assert.equal(last?.path, '/sms_send_api.cgi')
      assert.deepEqual(last?.query, [['destination', '+4915112345678'], ['text', last?.query[1]?.[1] ?? ''], ['from', '0170111111'], ['password', 'yoursecret'], ['sender', 'name'], ['account', 'company_ltd']])
      assert.equal(proxy.proxied.filter((p) => p.allowed).length, 5, 'every send went through the proxy, with its credentials')
      await proxy.close()
    })

    it('the clickatell example', async () => {
      proxy = await startProxy({ username: 'user', password: 'pass' })
      const config = point(CLICKATELL_EXAMPLE, [
        ['http://api.clickatell.com/http/sendmsg', `${gw.url}/http/sendmsg`],
        ['192.168.100.250:8080', `127.0.0.1:${proxy.port}`],
      ])
      await deliversUnderEveryForm(h, 'HttpSMSProvider', config, viaGateway, (otp) => otp)
      assert.deepEqual(gw.requests.at(-1)?.query.map(([k]) => k), ['to', 'text', 'user', 'password', 'api_id'])
      assert.equal(proxy.proxied.filter((p) => p.allowed).length, 5, 'every send went through the proxy, with its credentials')
    })
  })

  describe('RestSMSProvider', () => {
    let gw: Gateway
    before(async () => {
      gw = await startGateway({ behaviour: { status: 201, body: '{"id":"batch-1"}' } })
    })
    after(() => gw.close())
    const viaJson = (key: string): Delivery => ({
      count: () => gw.requests.length,
      lastText: () => String((JSON.parse(gw.requests.at(-1)?.body ?? '{}') as Record<string, unknown>)[key] ?? ''),
    })

    it('the Swisscom example (basic auth, flat payload)', async () => {
      const config = point(SWISSCOM_EXAMPLE, [['https://messagingproxy.swisscom.ch:4300', gw.url]])
      await deliversUnderEveryForm(h, 'RestSMSProvider', config, viaJson('short_message'), (otp) => `Your OTP is: ${otp}`)
      const last = gw.requests.at(-1)
      assert.equal(last?.path, '/rest/1.0.0/submit_sm/123456')
      assert.equal(last?.headers.authorization, `Basic ${Buffer.from('123456:SECRET').toString('base64')}`)
      const body = JSON.parse(last?.body ?? '{}') as Record<string, unknown>
      assert.deepEqual(Object.keys(body), ['destination_addr', 'source_addr', 'short_message', 'source_addr_ton', 'source_addr_npi', 'dest_addr_ton', 'dest_addr_npi'])
      assert.equal(body.destination_addr, '+4915112345678')
      assert.equal(body.source_addr_ton, 6)
    })

    it('the CLX example (bearer header, phone list)', async () => {
      const config = point(CLX_EXAMPLE, [['https://api.clxcommunications.com', gw.url]])
      await deliversUnderEveryForm(h, 'RestSMSProvider', config, viaJson('body'), (otp) => `Your OTP is: ${otp}`)
      const last = gw.requests.at(-1)
      assert.equal(last?.headers.authorization, 'Bearer e215354ab28041daa3cbf2f11cbd1257')
      assert.deepEqual((JSON.parse(last?.body ?? '{}') as { to: string[] }).to, ['+4915112345678'])
    })
  })

  describe('SmtpSMSProvider', () => {
    let smtp: SmtpTestServer
    before(async () => {
      smtp = await startSmtpServer({ login: { user: 'account-to-login-to-smtp-server', pass: 'somesecret' } })
    })
    after(() => smtp.close())

    it('the example (login, <phone> in the subject, <otp> in the body)', async () => {
      const config = point(SMTP_EXAMPLE, [['"smtp.yourdomain.com"', `"127.0.0.1:${smtp.port}"`]])
      const last = () => parseMail(smtp.messages.at(-1)?.raw ?? '')
      await deliversUnderEveryForm(h, 'SmtpSMSProvider', config, { count: () => smtp.messages.length, lastText: () => last().body.trim() }, (otp) => `This is your OTP-value: ${otp}`)
      assert.equal(last().header('subject'), '+4915112345678')
      assert.deepEqual(smtp.messages.at(-1)?.to, ['mailadress@smstp-gateway'])
      assert.equal(smtp.messages.at(-1)?.from, 'linotp@yourdomain.com')
      assert.equal(smtp.messages.at(-1)?.user, 'account-to-login-to-smtp-server')
    })
  })

  describe('DeviceSMSProvider', () => {
    const skip = missingTools('socat', 'gnokii')
    let modem: ScriptedModem | undefined
    let rc = ''
    before(async () => {
      if (skip) return
      modem = await startModem()
      rc = join(h.dir, 'gnokiirc')
      // The pty itself (/dev/pts/N, allowed above), not the link to it in a temporary directory.
      await writeFile(rc, `[global]\nmodel = AT\nport = ${realpathSync(modem.path)}\nconnection = serial\n`)
    })
    after(() => modem?.close())

    it('the gnokii example, the real gnokii driving a scripted modem over a pty', { skip }, async () => {
      const config = point(DEVICE_EXAMPLE, [['/etc/linotp2/gnokiirc', rc]])
      const m = modem as ScriptedModem
      // gnokii submits in PDU mode: decode what the modem received.
      const last = () => decodeSubmit(m.bodies.at(-1) ?? '')
      await deliversUnderEveryForm(h, 'DeviceSMSProvider', config, { count: () => m.bodies.length, lastText: () => last().text }, (otp) => otp)
      assert.equal(last().phone, '+4915112345678')
      assert.ok(m.commands.some((c) => c.startsWith('AT+CMGS')), 'gnokii submitted the message to the modem')
    })
  })

  describe('SMPPSMSProvider', () => {
    let smsc: Smsc
    before(async () => {
      smsc = await startSmsc({ accounts: [['login-name', 'password']] })
    })
    after(async () => {
      await h.admin('/system/setProvider', { name: 'example', type: 'sms', class: 'FileSMSProvider', config: `{"file":"${h.outbox}","append":true}`, timeout: '120' })
      await smsc.close()
    })

    it('the example with its trailing comma and a text source address', async () => {
      const config = point(SMPP_EXAMPLE, [['"smpp-server"', '"127.0.0.1"'], ['"smmp-port"', `"${smsc.port}"`]])
      await deliversUnderEveryForm(h, 'SMPPSMSProvider', config, { count: () => smsc.submits.length, lastText: () => smsc.submits.at(-1)?.decoded ?? '' }, (otp) => otp)
      const last = smsc.submits.at(-1)
      assert.equal(last?.sourceAddr, 'displayed-source-address')
      assert.equal(last?.sourceTon, 5)
      assert.equal(last?.sourceNpi, 0)
      assert.equal(h.logs.some((l) => l.includes('trailing comma in provider configuration ignored')), true, 'the trailing comma is reported')
    })
  })
})
