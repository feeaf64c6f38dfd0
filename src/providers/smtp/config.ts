/**
 * Config parsing for SmtpSMSProvider (spec §3.3): every key read and checked once, files read
 * here, so a broken config fails when it is saved and not at the first SMS.
 */
import { isIP, isIPv6 } from 'node:net'
import { createSecureContext } from 'node:tls'
import { ConfigError } from '../../errors.js'
import { configBool, configInt, configString, describeType, requireString } from '../config-values.js'
import { loadServerCertificate, type TlsTrust } from '../net/http-config.js'
import { readRegularFile } from '../read-file.js'
import { LOCAL, checkDestination, confinePath, type ResourceContext } from '../resources.js'
import { BODY_CONTROL_CHARS, CONTROL_CHARS, parseSingleMailbox, type Mailbox, type MailTemplates } from './message.js'

/** How the connection is secured. */
export type SmtpSecurity = 'none' | 'starttls' | 'tls'

/** Validated, frozen SmtpSMSProvider options. */
export interface SmtpOptions extends MailTemplates {
  /** Host name or IP address (IPv6 without brackets). */
  readonly host: string
  /** @default 25, 587 with `start_tls`, 465 with `use_ssl` */
  readonly port: number
  /** `tls` (use_ssl) wins over `starttls` (start_tls); `none` never upgrades. @default 'none' */
  readonly security: SmtpSecurity
  /** Header From and envelope sender. */
  readonly sender: Mailbox
  readonly auth: { readonly user: string; readonly pass: string } | undefined
  /** Verification of the server certificate (SERVER_CERTIFICATE). */
  readonly trust: TlsTrust
  /** Client certificate and key (PEM) for TLS. */
  readonly clientCert: { readonly cert: string; readonly key: string } | undefined
  /** Network timeout in ms (TIMEOUT). @default 5000 */
  readonly timeoutMs: number
}

const KNOWN_KEYS = new Set([
  'mailserver', 'mailserver_port', 'mailsender', 'mailto', 'subject', 'body', 'mailuser', 'mailpassword',
  'start_tls', 'use_ssl', 'user_ssl', 'certfile', 'keyfile', 'SERVER_CERTIFICATE', 'TIMEOUT', 'timeout',
  'raise_exception', 'MSISDN', 'SUPPRESS_PREFIX',
])
const DEFAULT_TIMEOUT_MS = 5000
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/
/** Values used to check the templates at load time. */
const SAMPLE_PHONE = '+491701234567'
const SAMPLE_TEXT = '123456'

/** Parses and validates a SmtpSMSProvider config. @throws ConfigError naming the key. */
export function parseSmtpConfig(config: Record<string, unknown>, warn: (message: string) => void, resources: ResourceContext = LOCAL): SmtpOptions {
  for (const key of Object.keys(config)) {
    if (KNOWN_KEYS.has(key)) continue
    if (key === 'Timeout') warn(`'Timeout' in the config is ignored: the network timeout key is 'TIMEOUT' (the provider Timeout is the OTP validity)`)
    else warn(`unknown key '${key}' ignored`)
  }

  const security = parseSecurity(config, warn)
  const explicitPort = configInt(config, 'mailserver_port', 1, 65535)
  const server = parseMailserver(requireString(config, 'mailserver'), explicitPort)
  const port = server.port ?? (security === 'tls' ? 465 : security === 'starttls' ? 587 : 25)
  if (port === 465 && security !== 'tls') warn('port 465 normally expects implicit TLS: set use_ssl')

  const sender = parseSingleMailbox(requireString(config, 'mailsender').trim())
  if (sender === undefined) throw new ConfigError('mailsender: expected one e-mail address (name@domain or "Name <name@domain>")')

  const templates = parseTemplates(config, warn)
  const auth = parseAuth(config, warn, security)
  // After the syntax checks, before any file is read. A name is judged again on every address it
  // resolves to when a connection is opened (`socket.ts`).
  checkDestination(resources, 'mailserver', server.host)
  const trust = loadServerCertificate(config.SERVER_CERTIFICATE, 'SERVER_CERTIFICATE', resources)
  const clientCert = loadClientCertificate(config, resources)
  if (security === 'none') {
    if (config.SERVER_CERTIFICATE !== undefined) warn('SERVER_CERTIFICATE is unused: neither start_tls nor use_ssl is set')
    if (clientCert !== undefined) warn('certfile/keyfile are unused: neither start_tls nor use_ssl is set')
  } else if (!trust.rejectUnauthorized) {
    warn('SERVER_CERTIFICATE is false: the mail server certificate is not verified')
  }

  return Object.freeze({
    host: server.host,
    port,
    security,
    sender,
    ...templates,
    auth,
    trust,
    clientCert,
    timeoutMs: parseTimeout(config, warn),
  })
}

/**
 * LinOTP's `mailserver`: a host, or `host:port` split at the last `:` when `mailserver_port` is
 * absent. IPv6 literals: `[2001:db8::1]` or `[2001:db8::1]:2525`; a bare IPv6 address is taken
 * as a host without port (a port cannot be told apart from its last group).
 */
export function parseMailserver(raw: string, explicitPort: number | undefined): { host: string; port: number | undefined } {
  const value = raw.trim()
  const bad = () => new ConfigError('mailserver: expected a host name or IP address, optionally with :port (IPv6 in brackets: [2001:db8::1]:25)')
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) throw new ConfigError('mailserver: give a host name, optionally with :port, not a URL')
  let host: string
  let portText: string | undefined
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(value)
  if (bracketed) {
    host = bracketed[1] as string
    portText = bracketed[2]
    if (!isIPv6(host)) throw bad()
  } else if (isIPv6(value)) {
    host = value
  } else {
    const colon = value.lastIndexOf(':')
    host = colon < 0 ? value : value.slice(0, colon)
    portText = colon < 0 ? undefined : value.slice(colon + 1)
    if (isIP(host) !== 4 && !HOST_NAME.test(host)) throw bad()
  }
  if (portText === undefined) return { host, port: explicitPort }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN
  if (!(port >= 1 && port <= 65535)) throw new ConfigError('mailserver: the port after ":" must be a number from 1 to 65535')
  if (explicitPort !== undefined && explicitPort !== port) {
    throw new ConfigError(`mailserver: names port ${port} but mailserver_port is ${explicitPort}; give the port once`)
  }
  return { host, port }
}

function parseSecurity(config: Record<string, unknown>, warn: (message: string) => void): SmtpSecurity {
  // `user_ssl` is the spelling in the product document's example; `use_ssl` is LinOTP's key.
  const given = (key: string) => config[key] !== undefined && config[key] !== null
  if (given('use_ssl') && given('user_ssl') && configBool(config.use_ssl) !== configBool(config.user_ssl)) {
    throw new ConfigError(`use_ssl and user_ssl (its alias) disagree: give only one of them`)
  }
  const useSsl = configBool(given('use_ssl') ? config.use_ssl : config.user_ssl)
  const startTls = configBool(config.start_tls)
  if (useSsl && startTls) warn('start_tls is ignored: use_ssl (implicit TLS) takes precedence')
  return useSsl ? 'tls' : startTls ? 'starttls' : 'none'
}

function parseTemplates(config: Record<string, unknown>, warn: (message: string) => void): MailTemplates {
  const mailto = requireString(config, 'mailto').trim()
  const subject = configString(config, 'subject') ?? '[LinOTP]'
  const body = configString(config, 'body') ?? '<otp>'
  if (CONTROL_CHARS.test(mailto)) throw new ConfigError('mailto: must not contain line breaks or control characters')
  if (CONTROL_CHARS.test(subject)) throw new ConfigError('subject: must not contain line breaks or control characters')
  if (BODY_CONTROL_CHARS.test(body)) throw new ConfigError('body: must not contain control characters other than line breaks and tabs')
  const sample = mailto.replace(/<phone>/g, SAMPLE_PHONE).replace(/<otp>/g, SAMPLE_TEXT)
  if (parseSingleMailbox(sample) === undefined) {
    throw new ConfigError('mailto: expected one e-mail address (tags <phone> and <otp> may stand in it, e.g. "<phone>@sms.example.net")')
  }
  const all = `${mailto}\n${subject}\n${body}`
  if (!all.includes('<phone>')) warn('no <phone> tag in mailto, subject or body: the gateway is not told the number')
  if (!all.includes('<otp>')) warn('no <otp> tag in mailto, subject or body: the SMS text (with the OTP) is not sent')
  if (mailto.includes('<otp>')) warn('mailto contains <otp>: the whole SMS text must then form a valid address, else sends are rejected')
  return { mailto, subject, body }
}

function parseAuth(config: Record<string, unknown>, warn: (message: string) => void, security: SmtpSecurity): SmtpOptions['auth'] {
  const user = configString(config, 'mailuser')
  const pass = configString(config, 'mailpassword')
  if (user === undefined || user === '') {
    if (pass !== undefined && pass !== '') warn('mailpassword without mailuser is ignored: mails are sent without login')
    return undefined
  }
  // nodemailer cannot log in with an empty password, so that is refused here rather than at send.
  if (pass === undefined || pass === '') throw new ConfigError('mailpassword: required (non-empty) when mailuser is given')
  if (security === 'none') warn('mailuser/mailpassword without start_tls or use_ssl: the password is sent in clear text')
  return Object.freeze({ user, pass })
}

function loadClientCertificate(config: Record<string, unknown>, resources: ResourceContext): SmtpOptions['clientCert'] {
  const certfile = configString(config, 'certfile')?.trim() || undefined
  const keyfile = configString(config, 'keyfile')?.trim() || undefined
  if (certfile === undefined) {
    if (keyfile !== undefined) throw new ConfigError('keyfile: given without certfile')
    return undefined
  }
  // Both paths are judged before either file is looked at.
  const certPath = confinePath(resources, 'certfile', certfile)?.path ?? certfile
  const keyPath = keyfile === undefined ? undefined : (confinePath(resources, 'keyfile', keyfile)?.path ?? keyfile)
  const noFollow = resources.origin === 'admin'
  const cert = readPem(certPath, 'certfile', noFollow)
  if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`certfile: no PEM certificate in ${certfile}`)
  // LinOTP (Python's load_cert_chain) accepts the key inside certfile when keyfile is absent.
  const key = keyPath === undefined ? cert : readPem(keyPath, 'keyfile', noFollow)
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
    throw new ConfigError(keyfile === undefined ? `keyfile: required (no private key in certfile ${certfile})` : `keyfile: no PEM private key in ${keyfile}`)
  }
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    const code = (err as { code?: unknown }).code
    throw new ConfigError(`certfile/keyfile: the certificate and key cannot be used together (${typeof code === 'string' ? code : 'invalid'})`, undefined, err)
  }
  return Object.freeze({ cert, key })
}

function readPem(path: string, key: string, noFollow: boolean): string {
  try {
    return readRegularFile(path, key, { noFollow }) // never blocks on a FIFO or device
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const code = (err as { code?: unknown }).code
    throw new ConfigError(`${key}: cannot read ${path} (${typeof code === 'string' ? code : 'error'})`, undefined, err)
  }
}

/** LinOTP's key is `TIMEOUT` (seconds); `timeout` is accepted too. 0 or "" mean the default. */
function parseTimeout(config: Record<string, unknown>, warn: (message: string) => void): number {
  const has = (k: string) => config[k] !== undefined && config[k] !== null
  if (has('TIMEOUT') && has('timeout')) warn(`both 'TIMEOUT' and 'timeout' given: 'TIMEOUT' is used`)
  const key = has('TIMEOUT') ? 'TIMEOUT' : 'timeout'
  const value = config[key]
  if (value === undefined || value === null || value === '' || value === 0 || value === '0') return DEFAULT_TIMEOUT_MS
  const seconds = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new ConfigError(`${key}: expected seconds (a number greater than 0, at most 3600), got ${describeType(value)}`)
  }
  return Math.max(1, Math.round(seconds * 1000))
}
