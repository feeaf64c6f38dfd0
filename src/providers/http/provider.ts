/**
 * LinOTP's HttpSMSProvider: the phone number and the SMS text as two form parameters (GET query
 * or POST form body) to a gateway URL, the reply judged by one RETURN_* rule (spec §3.2).
 *
 * Deviations from LinOTP, on purpose:
 * - URL is required at load (LinOTP silently "fails" every send without it).
 * - With no RETURN_* rule the HTTP status decides (2xx = sent, 5xx = unavailable so the next
 *   provider is tried, other = rejected) instead of "always success".
 * - Redirects are not followed: a 3xx reply is `rejected` with a reason telling the admin to
 *   configure the final URL (a redirect would re-send the OTP to wherever the gateway points).
 * - An unknown AUTH_TYPE is a config error (LinOTP silently sends without credentials).
 */
import { ConfigError } from '../../errors.js'
import { configString, configStringMap, configTimeoutPair } from '../config-values.js'
import { providerTransport, type HttpAuth } from '../net/http-client.js'
import { configHeaders, loadServerCertificate, parseGatewayUrl, parseProxy, type ProxyConfig, type TlsTrust } from '../net/http-config.js'
import { evaluateReply, type ReplyRule } from '../net/http-reply.js'
import { LOCAL, type ResourceContext } from '../resources.js'
import type { ProviderClass, SendResult, SmsProvider } from '../types.js'

export interface HttpOptions {
  /** Gateway URL without userinfo. */
  readonly url: string
  readonly method: 'GET' | 'POST'
  readonly phoneKey: string
  readonly textKey: string
  /** Fixed parameters, applied after phone and text (they win on a name clash). */
  readonly parameters: ReadonlyArray<readonly [string, string]>
  readonly auth: HttpAuth | undefined
  /** Extra request headers, names lower-cased. */
  readonly headers: Readonly<Record<string, string>>
  readonly proxy: ProxyConfig | undefined
  readonly tls: TlsTrust
  readonly connectTimeoutMs: number
  readonly readTimeoutMs: number
  readonly rule: ReplyRule
}

const KNOWN_KEYS = new Set([
  'URL', 'HTTP_Method', 'SMS_PHONENUMBER_KEY', 'SMS_TEXT_KEY', 'PARAMETER', 'USERNAME', 'PASSWORD',
  'AUTH_TYPE', 'PROXY', 'HEADERS', 'SERVER_CERTIFICATE', 'timeout', 'TIMEOUT', 'RETURN_SUCCESS_REGEX',
  'RETURN_FAIL_REGEX', 'RETURN_SUCCESS', 'RETURN_FAIL', 'PREFERRED_HTTPLIB', 'MSISDN', 'SUPPRESS_PREFIX',
])
const DEFAULT_TIMEOUT = { connectMs: 5000, readMs: 5000 }

function parse(config: Record<string, unknown>, warn: (message: string) => void, resources: ResourceContext = LOCAL): HttpOptions {
  for (const key of Object.keys(config)) {
    if (KNOWN_KEYS.has(key)) continue
    if (key === 'Timeout') warn(`'Timeout' in the config is ignored: the network timeout key is 'timeout' (the provider Timeout is the OTP validity)`)
    else warn(`unknown key '${key}' ignored`)
  }

  // URL and credentials in its userinfo
  const rawUrl = configString(config, 'URL')?.trim()
  if (rawUrl === undefined || rawUrl === '') throw new ConfigError(`missing required key 'URL'`)
  const url = parseGatewayUrl(rawUrl, 'URL', resources)

  const method = (configString(config, 'HTTP_Method') ?? 'POST').trim().toUpperCase()
  if (method !== 'GET' && method !== 'POST') {
    throw new ConfigError(`Method for HttpSmsProvider method must be GET or POST - unsupported method: ${configString(config, 'HTTP_Method')}`)
  }

  const phoneKey = configString(config, 'SMS_PHONENUMBER_KEY') ?? 'phone'
  const textKey = configString(config, 'SMS_TEXT_KEY') ?? 'sms'
  if (phoneKey === '') throw new ConfigError('SMS_PHONENUMBER_KEY: must not be empty')
  if (textKey === '') throw new ConfigError('SMS_TEXT_KEY: must not be empty')
  if (phoneKey === textKey) throw new ConfigError('SMS_PHONENUMBER_KEY and SMS_TEXT_KEY must differ')
  const parameters = Object.entries(configStringMap(config, 'PARAMETER'))
  for (const [name] of parameters) {
    if (name === phoneKey || name === textKey) {
      warn(`PARAMETER.${name} replaces the ${name === phoneKey ? 'phone number' : 'SMS text'} parameter`)
    }
  }

  // Authentication: USERNAME/PASSWORD, else the URL's userinfo (LinOTP)
  let username = configString(config, 'USERNAME')
  let password = configString(config, 'PASSWORD')
  if (username === undefined && password === undefined && url.credentials !== undefined) {
    username = url.credentials.username
    password = url.credentials.password
  }
  const authType = (configString(config, 'AUTH_TYPE') ?? '').trim().toLowerCase() || 'basic'
  if (authType !== 'basic' && authType !== 'digest') {
    throw new ConfigError(`AUTH_TYPE: must be basic or digest, got '${configString(config, 'AUTH_TYPE')}'`)
  }
  let auth: HttpAuth | undefined
  if (username !== undefined && username !== '' && password !== undefined) {
    auth = Object.freeze({ username, password, type: authType })
    if (url.href.startsWith('http:') && authType === 'basic') warn('basic authentication over plain http sends the password in clear text')
  } else if (username !== undefined && username !== '') {
    warn('USERNAME without PASSWORD: requests are sent without authentication')
  }

  const proxy = parseProxy(config.PROXY, 'PROXY', resources)

  const headers = configHeaders(config)
  if ('authorization' in headers && auth !== undefined) warn('HEADERS.Authorization is replaced by the configured USERNAME/PASSWORD')

  const tls = loadServerCertificate(config.SERVER_CERTIFICATE, 'SERVER_CERTIFICATE', resources)
  if (!tls.rejectUnauthorized) warn('SERVER_CERTIFICATE is false: the gateway certificate is not verified')

  // LinOTP's key is `timeout`; `TIMEOUT` is accepted too. 0/"" mean the default (LinOTP).
  const timeoutKey = config.timeout !== undefined && config.timeout !== null ? 'timeout' : 'TIMEOUT'
  if (config.timeout !== undefined && config.TIMEOUT !== undefined) warn(`both 'timeout' and 'TIMEOUT' given: 'timeout' is used`)
  const rawTimeout = config[timeoutKey]
  const { connectMs, readMs } =
    rawTimeout === 0 || rawTimeout === '0' ? DEFAULT_TIMEOUT : configTimeoutPair(config, timeoutKey, DEFAULT_TIMEOUT)

  const rule = parseRule(config)
  if (rule.kind === 'status') warn('no RETURN_* rule configured: a send counts as successful when the gateway answers HTTP 2xx')

  const lib = configString(config, 'PREFERRED_HTTPLIB')
  if (lib !== undefined && !['requests', 'urllib', 'httplib'].includes(lib.trim().toLowerCase())) {
    warn(`PREFERRED_HTTPLIB '${lib}' is unknown (and ignored: one HTTP client is used)`)
  }

  return Object.freeze({
    url: url.href,
    method,
    phoneKey,
    textKey,
    parameters: Object.freeze(parameters.map((p) => Object.freeze(p))),
    auth,
    headers: Object.freeze(headers),
    proxy,
    tls,
    connectTimeoutMs: connectMs,
    readTimeoutMs: readMs,
    rule,
  })
}

/** LinOTP precedence: presence of the key selects the rule, even when another would match. */
function parseRule(config: Record<string, unknown>): ReplyRule {
  for (const kind of ['RETURN_SUCCESS_REGEX', 'RETURN_FAIL_REGEX'] as const) {
    const source = configString(config, kind)
    if (source !== undefined) return Object.freeze({ kind, regex: compilePythonRegex(source, kind) })
  }
  for (const kind of ['RETURN_SUCCESS', 'RETURN_FAIL'] as const) {
    const prefix = configString(config, kind)
    if (prefix !== undefined) return Object.freeze({ kind, prefix })
  }
  return Object.freeze({ kind: 'status' })
}

/**
 * LinOTP configs hold Python `re` patterns: leading inline flags `(?i)`/`(?s)`/`(?m)` and
 * `(?P<name>…)`/`(?P=name)` are translated; anything JavaScript cannot compile is a ConfigError.
 * No `g`/`y` flag, so the frozen RegExp carries no state between sends.
 */
function compilePythonRegex(source: string, key: string): RegExp {
  let flags = ''
  let body = source
  const inline = /^\(\?([a-zA-Z]+)\)/.exec(body)
  if (inline) {
    for (const f of inline[1] as string) {
      if (f === 'i' || f === 'm' || f === 's') flags += flags.includes(f) ? '' : f
      else if (f !== 'u') throw new ConfigError(`${key}: inline flag '${f}' is not supported`)
    }
    body = body.slice(inline[0].length)
  }
  body = body.replace(/\(\?P</g, '(?<').replace(/\(\?P=(\w+)\)/g, '\\k<$1>')
  try {
    return new RegExp(body, flags)
  } catch (err) {
    throw new ConfigError(`${key}: invalid regular expression (${err instanceof Error ? err.message : String(err)})`, undefined, err)
  }
}

export const HttpSmsProviderClass: ProviderClass<HttpOptions> = {
  id: 'HttpSMSProvider',
  parse,
  create(options, ctx): SmsProvider {
    const log = ctx.logger.child({ class: 'HttpSMSProvider' }) // the loader already binds the provider name
    const transport = providerTransport({
      tls: options.tls,
      proxy: options.proxy,
      connectTimeoutMs: options.connectTimeoutMs,
      readTimeoutMs: options.readTimeoutMs,
      destinations: ctx.resources ?? LOCAL,
    })
    const headers: Record<string, string> = { 'user-agent': 'sms-otp', ...options.headers }
    if (options.method === 'POST' && !('content-type' in headers)) headers['content-type'] = 'application/x-www-form-urlencoded'

    return {
      async send(msg, signal): Promise<SendResult> {
        // A Map keeps LinOTP's order (phone, text, then PARAMETER) and lets PARAMETER win.
        const params = new Map<string, string>([[options.phoneKey, msg.phone], [options.textKey, msg.text]])
        for (const [name, value] of options.parameters) params.set(name, value)
        const encoded = new URLSearchParams([...params]).toString()
        const url = new URL(options.url)
        if (options.method === 'GET') url.search = url.search === '' ? `?${encoded}` : `${url.search}&${encoded}`
        return transport.exchange(
          { method: options.method, url, headers, ...(options.method === 'POST' && { body: encoded }), auth: options.auth },
          signal,
          (res) => evaluateReply(options.rule, res.status, res.bodyText),
          { logger: log, phone: msg.phone, transactionId: msg.transactionId },
        )
      },
      close: () => transport.close(),
    }
  },
}
