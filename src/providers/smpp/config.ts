/**
 * Configuration of the SMPPSMSProvider (spec §3.4): LinOTP's keys, plus `window`,
 * `enquire_link_interval` and `registered_delivery`. Validated once; the result is frozen.
 */
import { ConfigError } from '../../errors.js'
import { configBool, configInt, configString, configTimeoutPair, describeType, requireString } from '../config-values.js'
import { LOCAL, checkDestination, type ResourceContext } from '../resources.js'

export interface SmppOptions {
  /** SMSC host name or IP address (`server`). */
  readonly host: string
  /** @default 5100 */
  readonly port: number
  readonly systemId: string
  readonly password: string
  /** Sent in `bind_transceiver`. @default "" */
  readonly systemType: string
  readonly sourceAddr: string
  /** @default 1 */
  readonly sourceAddrTon: number
  /** @default 1 */
  readonly sourceAddrNpi: number
  /** @default 1 */
  readonly destAddrTon: number
  /** @default 1 */
  readonly destAddrNpi: number
  /** Request delivery receipts and log them. @default false */
  readonly registeredDelivery: boolean
  /** Outstanding submit_sm PDUs at most. @default 10 */
  readonly window: number
  /** TCP connect limit (first value of `TIMEOUT`). @default 5000 */
  readonly connectTimeoutMs: number
  /** Limit for each SMSC response (second value of `TIMEOUT`, else the first). @default 5000 */
  readonly responseTimeoutMs: number
  /** Idle time before an enquire_link. @default 30000 */
  readonly enquireLinkMs: number
}

const KNOWN_KEYS = new Set([
  'server', 'port', 'system_id', 'password', 'system_type', 'source_addr', 'source_addr_npi', 'source_addr_ton',
  'dest_addr_npi', 'dest_addr_ton', 'target_encoding', 'registered_delivery', 'window', 'TIMEOUT', 'timeout',
  'enquire_link_interval', 'MSISDN', 'SUPPRESS_PREFIX',
])
const DEFAULT_TIMEOUT = { connectMs: 5000, readMs: 5000 }

/**
 * A C-Octet string field of SMPP: printable ASCII only (the wire format is ASCII, NUL-terminated).
 * Longer than SMPP 3.4 allows is a warning, not an error: several SMSCs accept more.
 */
function smppString(
  config: Record<string, unknown>,
  key: string,
  maxLength: number,
  warn: (m: string) => void,
  required: boolean,
): string {
  const value = required ? requireString(config, key) : (configString(config, key) ?? '')
  // The value itself is never quoted back: `password` is one of these fields.
  if (!/^[\x20-\x7e]*$/.test(value)) throw new ConfigError(`${key}: only printable ASCII characters are possible in SMPP`)
  if (value.length > maxLength) warn(`${key} is longer than the ${maxLength} characters SMPP 3.4 allows; some SMSCs refuse it`)
  return value
}

/** A number of seconds (number or numeric string), > 0 and at most `max`. Returns milliseconds. */
function seconds(config: Record<string, unknown>, key: string, fallbackMs: number, max: number): number {
  const value = config[key]
  if (value === undefined || value === null || value === '') return fallbackMs
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN
  if (!Number.isFinite(n) || n <= 0 || n > max) {
    throw new ConfigError(`${key}: expected a number of seconds from 0 to ${max}, got ${describeType(value)}`)
  }
  return Math.round(n * 1000)
}

/** `port`: the product document's example carries the placeholder "smmp-port" there. */
function port(config: Record<string, unknown>): number {
  const value = config.port
  if (value === undefined || value === null || value === '') return 5100
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new ConfigError(`port: expected the SMSC's TCP port number (1-65535), got ${describeType(value)}`)
  }
  return n
}

function addressByte(config: Record<string, unknown>, key: string): number {
  return configInt(config, key, 0, 255) ?? 1
}

/** Validates an SMPPSMSProvider config. @throws ConfigError naming the key at fault. */
export function parseSmppConfig(config: Record<string, unknown>, warn: (message: string) => void, resources: ResourceContext = LOCAL): SmppOptions {
  for (const key of Object.keys(config)) {
    if (KNOWN_KEYS.has(key)) continue
    if (key === 'Timeout') warn(`'Timeout' in the config is ignored: the network timeout key is 'TIMEOUT' (the provider Timeout is the OTP validity)`)
    else warn(`unknown key '${key}' ignored`)
  }

  let host = requireString(config, 'server').trim()
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1) // IPv6 literal
  if (/[\s/]/.test(host)) throw new ConfigError(`server: expected a host name or IP address, got ${JSON.stringify(host.slice(0, 100))}`)

  const systemId = smppString(config, 'system_id', 15, warn, true)
  const password = smppString(config, 'password', 8, warn, true)
  const systemType = smppString(config, 'system_type', 12, warn, false)
  const sourceAddr = smppString(config, 'source_addr', 20, warn, true)

  if (config.target_encoding !== undefined) {
    warn('target_encoding is ignored: the encoding is chosen per message (GSM 03.38 when the text fits, else UCS-2)')
  }

  const timeoutKey = config.timeout !== undefined && config.timeout !== null ? 'timeout' : 'TIMEOUT'
  if (config.timeout !== undefined && config.TIMEOUT !== undefined) warn(`both 'timeout' and 'TIMEOUT' given: 'timeout' is used`)
  const rawTimeout = config[timeoutKey]
  const { connectMs, readMs } =
    rawTimeout === 0 || rawTimeout === '0' ? DEFAULT_TIMEOUT : configTimeoutPair(config, timeoutKey, DEFAULT_TIMEOUT)

  const smscPort = port(config)
  checkDestination(resources, 'server', host) // after the syntax checks; a name is judged again when it resolves (smpp.ts)
  return Object.freeze({
    host,
    port: smscPort,
    systemId,
    password,
    systemType,
    sourceAddr,
    sourceAddrTon: addressByte(config, 'source_addr_ton'),
    sourceAddrNpi: addressByte(config, 'source_addr_npi'),
    destAddrTon: addressByte(config, 'dest_addr_ton'),
    destAddrNpi: addressByte(config, 'dest_addr_npi'),
    registeredDelivery: configBool(config.registered_delivery),
    window: configInt(config, 'window', 1, 1000) ?? 10,
    connectTimeoutMs: connectMs,
    responseTimeoutMs: readMs,
    enquireLinkMs: seconds(config, 'enquire_link_interval', 30_000, 3600),
  })
}
