/**
 * LinOTP's RestSMSProvider: the SMS as a JSON document (the PAYLOAD template with the text and the
 * phone number written at two paths) POSTed to a gateway's REST API (spec §3.5). The payload
 * itself is built in `payload.ts`, the client certificate read in `client-cert.ts`; the
 * transport is the one of HttpSMSProvider (`../net/http-client.ts`).
 *
 * Deviations from LinOTP, on purpose:
 * - A CLIENT_CERTIFICATE_FILE that does not exist (or lacks the key or the certificate) is a config
 *   error; LinOTP silently connects without a client certificate.
 * - Paths are checked against PAYLOAD at load (LinOTP fails each send); a path step that names a
 *   key on a list is an error (LinOTP silently writes nothing).
 * - A 5xx, 401, 403, 407, 408 or 429 reply is `unavailable` (the next provider is tried) instead
 *   of a plain failure; other 4xx are `rejected`.
 * - A timeout is `unavailable` at once (failover with back-off) instead of three attempts.
 * - Redirects are not followed: a 3xx reply is `rejected` (LinOTP follows them and judges the
 *   final reply; a redirect would re-send the OTP to wherever the gateway points).
 * - PROXY: socks5/socks5h work as with PySocks (`../net/socks.ts`); socks4/socks4a are refused at load.
 */
import { ConfigError } from '../../errors.js'
import { configString, configTimeoutPair, requireString } from '../config-values.js'
import { providerTransport, type ClientTls, type HttpAuth } from '../net/http-client.js'
import { configHeaders, loadServerCertificate, parseGatewayUrl, parseProxy, type ProxyConfig } from '../net/http-config.js'
import { evaluateReply } from '../net/http-reply.js'
import { loadClientCertificate } from './client-cert.js'
import { buildPayload, compilePayload, type PayloadPlan } from './payload.js'
import { LOCAL, confinePath, type ResourceContext } from '../resources.js'
import type { ProviderClass, SendResult, SmsProvider } from '../types.js'

/** Validated, frozen RestSMSProvider options. */
export interface RestOptions {
  /** The first URL of `URL`, without userinfo. */
  readonly url: string
  readonly plan: PayloadPlan
  /** Request headers, names lower-cased: the JSON defaults with HEADERS merged over them. */
  readonly headers: Readonly<Record<string, string>>
  readonly auth: HttpAuth | undefined
  readonly proxy: ProxyConfig | undefined
  /** Server verification (SERVER_CERTIFICATE) and the client certificate (CLIENT_CERTIFICATE_FILE). */
  readonly tls: ClientTls
  /** @default 3000 */
  readonly connectTimeoutMs: number
  /** @default 30000 */
  readonly readTimeoutMs: number
}

const KNOWN_KEYS = new Set([
  'URL', 'PAYLOAD', 'SMS_TEXT_KEY', 'SMS_PHONENUMBER_KEY', 'HEADERS', 'USERNAME', 'PASSWORD', 'AUTHENTICATION',
  'PROXY', 'TIMEOUT', 'CLIENT_CERTIFICATE_FILE', 'SERVER_CERTIFICATE', 'MSISDN', 'SUPPRESS_PREFIX',
])
/** LinOTP's `RestSMSProvider.DEFAULT_TIMEOUT` (connect, read) in seconds: (3, 30). */
const DEFAULT_TIMEOUT = { connectMs: 3000, readMs: 30_000 }
const DEFAULT_HEADERS = { 'content-type': 'application/json', accept: 'application/json', 'user-agent': 'sms-otp' }

function parse(config: Record<string, unknown>, warn: (message: string) => void, resources: ResourceContext = LOCAL): RestOptions {
  if (Object.keys(config).length === 0) throw new ConfigError('missing configuration')
  for (const key of Object.keys(config)) {
    if (KNOWN_KEYS.has(key)) continue
    if (key === 'timeout' || key === 'Timeout') {
      warn(`'${key}' in the config is ignored: RestSMSProvider reads its network timeout from 'TIMEOUT' (the provider Timeout is the OTP validity)`)
    } else warn(`unknown key '${key}' ignored`)
  }

  // LinOTP accepts a comma-separated list and uses only the first URL.
  const urls = requireString(config, 'URL').split(',').map((u) => u.trim())
  const first = urls[0] ?? ''
  if (first === '') throw new ConfigError('URL: the first URL of the list is empty')
  const url = parseGatewayUrl(first, 'URL', resources)
  const ignored = urls.slice(1).filter((u) => u !== '').length
  if (ignored > 0) warn(`URL: ${ignored} further URL${ignored === 1 ? ' is' : 's are'} ignored; only the first URL of the list is used`)

  if (config.PAYLOAD === undefined || config.PAYLOAD === null || config.PAYLOAD === '') throw new ConfigError(`missing required key 'PAYLOAD'`)
  const plan = compilePayload(config.PAYLOAD, requireString(config, 'SMS_TEXT_KEY'), requireString(config, 'SMS_PHONENUMBER_KEY'), warn)

  const authType = (configString(config, 'AUTHENTICATION') ?? 'BASIC').trim().toLowerCase()
  if (authType !== 'basic' && authType !== 'digest') {
    throw new ConfigError(`AUTHENTICATION: no valid Authentication type provided: '${configString(config, 'AUTHENTICATION')}' (BASIC or DIGEST)`)
  }
  // LinOTP authenticates whenever USERNAME is non-empty (a missing PASSWORD counts as empty);
  // without USERNAME, credentials in the URL are used (python-requests does that).
  const username = configString(config, 'USERNAME') ?? ''
  const password = configString(config, 'PASSWORD')
  let auth: HttpAuth | undefined
  if (username !== '') {
    if (password === undefined) warn('USERNAME without PASSWORD: an empty password is sent')
    auth = Object.freeze({ username, password: password ?? '', type: authType })
  } else if (url.credentials !== undefined) {
    auth = Object.freeze({ ...url.credentials, type: authType })
  } else if (password !== undefined && password !== '') {
    warn('PASSWORD without USERNAME: requests are sent without authentication')
  }
  const plainHttp = url.href.startsWith('http:')
  if (auth?.type === 'basic' && plainHttp) warn('basic authentication over plain http sends the password in clear text')

  const extra = configHeaders(config)
  if ('authorization' in extra && auth !== undefined) warn('HEADERS.Authorization is replaced by the configured USERNAME/PASSWORD')
  const contentType = extra['content-type']
  if (contentType !== undefined && !/json/i.test(contentType)) warn(`HEADERS.Content-Type '${contentType}' does not say JSON, but the body is JSON`)

  const proxy = parseProxy(config.PROXY, 'PROXY', resources)

  const trust = loadServerCertificate(config.SERVER_CERTIFICATE, 'SERVER_CERTIFICATE', resources)
  if (!trust.rejectUnauthorized) warn('SERVER_CERTIFICATE is false: the gateway certificate is not verified')
  let tls: ClientTls = trust
  const certFile = config.CLIENT_CERTIFICATE_FILE
  if (certFile !== undefined && certFile !== null && certFile !== '') {
    if (typeof certFile !== 'string') throw new ConfigError('CLIENT_CERTIFICATE_FILE: expected the path of a PEM file')
    const given = certFile.trim()
    const client = loadClientCertificate(confinePath(resources, 'CLIENT_CERTIFICATE_FILE', given)?.path ?? given, 'CLIENT_CERTIFICATE_FILE', { noFollow: resources.origin === 'admin' })
    if (plainHttp) warn('CLIENT_CERTIFICATE_FILE is not used: the URL is plain http')
    if (client.validTo.getTime() < Date.now()) warn(`CLIENT_CERTIFICATE_FILE: the certificate expired on ${client.validTo.toISOString()}`)
    tls = Object.freeze({ ...trust, cert: client.cert, key: client.key })
  }

  const { connectMs, readMs } = configTimeoutPair(config, 'TIMEOUT', DEFAULT_TIMEOUT)

  return Object.freeze({
    url: url.href,
    plan,
    headers: Object.freeze({ ...DEFAULT_HEADERS, ...extra }),
    auth,
    proxy,
    tls,
    connectTimeoutMs: connectMs,
    readTimeoutMs: readMs,
  })
}

/** The RestSMSProvider class (`smsprovider.RestSMSProvider` and every other LinOTP form). */
export const RestSmsProviderClass: ProviderClass<RestOptions> = {
  id: 'RestSMSProvider',
  parse,
  create(options, ctx): SmsProvider {
    const log = ctx.logger.child({ class: 'RestSMSProvider' }) // the loader already binds the provider name
    const transport = providerTransport({
      tls: options.tls,
      proxy: options.proxy,
      connectTimeoutMs: options.connectTimeoutMs,
      readTimeoutMs: options.readTimeoutMs,
      destinations: ctx.resources ?? LOCAL,
    })

    return {
      async send(msg, signal): Promise<SendResult> {
        let body: string
        try {
          body = JSON.stringify(buildPayload(options.plan, msg.phone, msg.text))
        } catch (err) {
          // parse() proved every build succeeds; this is a bug guard, never a runtime outcome.
          return { status: 'rejected', reason: `internal error building the payload (${err instanceof Error ? err.name : typeof err})` }
        }
        // LinOTP: status < 400 is success. Ours (evaluateReply): 2xx sent, 3xx rejected (not
        // followed), outages (5xx, 401/403/407/408/429) unavailable, other 4xx rejected.
        return transport.exchange(
          { method: 'POST', url: options.url, headers: options.headers, body, auth: options.auth },
          signal,
          (res) => evaluateReply({ kind: 'status' }, res.status, ''),
          { logger: log, phone: msg.phone, transactionId: msg.transactionId },
        )
      },
      close: () => transport.close(),
    }
  },
}
