/**
 * LinOTP's DeviceSMSProvider: SMS through a phone or GSM modem attached to this machine, in one
 * of two modes picked by the config keys:
 * - `CONFIGFILE` → gnokii mode (LinOTP's way, spec §3.6): the gnokii program does the talking.
 * - `PORT` → native mode: AT commands straight to the modem over `serialport`.
 *
 * Deviations from LinOTP, on purpose:
 * - A missing or unreadable CONFIGFILE is a config error at load (LinOTP fails every send).
 * - An admin-defined provider's CONFIGFILE may hold only harmless settings (`gnokiirc.ts`), and
 *   gnokii reads a private snapshot of them, not the file.
 * - The phone number must be `+` and digits (separators removed) before it goes into gnokii's
 *   argument vector or an AT command; anything else is rejected without starting anything.
 * - gnokii exit codes that mean "phone unreachable" (and a hung gnokii) are `unavailable`, so the
 *   next provider is tried; other non-zero codes are `rejected` (LinOTP: every failure is false).
 */
import { accessSync, constants } from 'node:fs'
import { resolve } from 'node:path'
import { ConfigError } from '../../errors.js'
import { configInt, configString } from '../config-values.js'
import { configSeconds } from './common.js'
import { createGnokiiProvider, type GnokiiOptions } from './gnokii.js'
import { createModemProvider, type ModemOptions } from './modem.js'
import { checkGnokiirc } from './gnokiirc.js'
import { readRegularFile } from '../read-file.js'
import { LOCAL, confinePath, confineProgram, type ResourceContext } from '../resources.js'
import type { ProviderClass, SmsProvider } from '../types.js'

export type { GnokiiOptions } from './gnokii.js'
export type { ModemOptions } from './modem.js'

/** Parsed DeviceSMSProvider options: one of the two modes. */
export type DeviceOptions = GnokiiOptions | ModemOptions

const COMMON_KEYS = ['SMSC', 'TIMEOUT', 'timeout', 'MSISDN', 'SUPPRESS_PREFIX']
const GNOKII_KEYS = new Set([...COMMON_KEYS, 'CONFIGFILE', 'GNOKII'])
const NATIVE_KEYS = new Set([...COMMON_KEYS, 'PORT', 'BAUDRATE', 'PIN', 'SEND_TIMEOUT', 'MODE'])
const MODE_HELP = "set CONFIGFILE (gnokii mode: the gnokii program sends) or PORT (native mode: AT commands to a serial modem), not both"
const NUMBER = /^\+?[0-9]{3,20}$/

function parse(config: Record<string, unknown>, warn: (message: string) => void, resources: ResourceContext = LOCAL): DeviceOptions {
  const configFile = configString(config, 'CONFIGFILE')?.trim()
  const port = configString(config, 'PORT')?.trim()
  const hasFile = configFile !== undefined && configFile !== ''
  const hasPort = port !== undefined && port !== ''
  if (hasFile === hasPort) throw new ConfigError(`${hasFile ? 'both CONFIGFILE and PORT given' : 'missing CONFIGFILE or PORT'}: ${MODE_HELP}`)

  const known = hasFile ? GNOKII_KEYS : NATIVE_KEYS
  for (const key of Object.keys(config)) {
    if (known.has(key)) continue
    if (key === 'Timeout') warn(`'Timeout' in the config is ignored: the device timeout key is 'TIMEOUT' (the provider Timeout is the OTP validity)`)
    else if (GNOKII_KEYS.has(key) || NATIVE_KEYS.has(key)) warn(`'${key}' belongs to ${hasFile ? 'native (PORT)' : 'gnokii (CONFIGFILE)'} mode and is ignored`)
    else warn(`unknown key '${key}' ignored`)
  }
  if (config.TIMEOUT !== undefined && config.timeout !== undefined) warn(`both 'TIMEOUT' and 'timeout' given: 'TIMEOUT' is used`)
  const timeoutKey = config.TIMEOUT !== undefined ? 'TIMEOUT' : 'timeout'

  const smsc = configString(config, 'SMSC')?.replace(/[ ()./-]/g, '')
  // SMSC goes into gnokii's argv and into AT+CSCA="…": digits only, so it can carry nothing else.
  if (smsc !== undefined && smsc !== '' && !NUMBER.test(smsc)) throw new ConfigError('SMSC: must be an optional + followed by 3 to 20 digits')
  const smscValue = smsc === '' ? undefined : smsc

  if (hasFile) return Object.freeze(parseGnokii(config, configFile, smscValue, timeoutKey, warn, resources))
  // An admin-defined provider opens only a device the operator allowed (by realpath, so a link
  // swapped later does not change which device is opened).
  const device = confinePath(resources, 'PORT', port as string)?.path ?? (port as string)
  return Object.freeze(parseNative(config, device, smscValue, timeoutKey))
}

function parseGnokii(
  config: Record<string, unknown>, file: string, smsc: string | undefined, timeoutKey: string, warn: (m: string) => void, resources: ResourceContext,
): GnokiiOptions {
  // Judged before the file is looked at: a refusal says nothing about whether it exists.
  const configFile = confinePath(resources, 'CONFIGFILE', file)?.path ?? resolve(file)
  const binary = confineProgram(resources, 'GNOKII', configString(config, 'GNOKII')?.trim() || 'gnokii')
  let text: string
  try {
    // Never readFileSync: a FIFO or device would block the event loop for good.
    text = readRegularFile(configFile, 'CONFIGFILE', { noFollow: resources.origin === 'admin' })
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(`CONFIGFILE: cannot read '${configFile}' (${(err as NodeJS.ErrnoException).code ?? 'error'})`, undefined, err)
  }
  // Admin-defined: only harmless settings, and gnokii later reads a snapshot of them, never the
  // file (which an admin-defined FileSMSProvider may be able to rewrite). Local: the file as is.
  const checked = resources.origin === 'admin' ? checkGnokiirc(text, resources) : undefined
  warnAboutPort(checked === undefined ? /^\s*port\s*=\s*(.*?)\s*$/m.exec(text)?.[1] : checked.port, configFile, warn)
  if (binary.includes('/')) {
    try {
      accessSync(binary, constants.X_OK)
    } catch {
      warn(`GNOKII: '${binary}' is not an executable file now; sends report unavailable until it is`)
    }
  }
  return { mode: 'gnokii', configFile, smsc, binary, timeoutMs: configSeconds(config, timeoutKey, 60), ...(checked !== undefined && { snapshot: checked.text }) }
}

/**
 * gnokii copies `port` into a 32-byte buffer (GN_DEVICE_NAME_MAX_LENGTH): a longer path is cut
 * and gnokii fails with "Telephone interface init failed" on every send. Say so at load.
 */
function warnAboutPort(port: string | undefined, file: string, warn: (m: string) => void): void {
  if (port === undefined) warn(`CONFIGFILE: no 'port =' line found in '${file}'`)
  else if (port.length > 31) warn(`CONFIGFILE: gnokii cuts the port path '${port}' to 31 characters; use a shorter path or symlink`)
}

function parseNative(config: Record<string, unknown>, port: string, smsc: string | undefined, timeoutKey: string): ModemOptions {
  // eslint-disable-next-line no-control-regex -- a device path with control characters is a mistake
  if (/[\x00-\x1f]/.test(port)) throw new ConfigError('PORT: must be a device path such as /dev/ttyUSB0')
  const pin = configString(config, 'PIN')?.trim()
  // Never echo the PIN in the message.
  if (pin !== undefined && pin !== '' && !/^[0-9]{4,8}$/.test(pin)) throw new ConfigError('PIN: must be 4 to 8 digits')
  const mode = (configString(config, 'MODE') ?? 'auto').trim().toLowerCase()
  if (mode !== 'auto' && mode !== 'text' && mode !== 'pdu') throw new ConfigError(`MODE: must be auto, text or pdu, got ${JSON.stringify(configString(config, 'MODE'))}`)
  const timeoutMs = configSeconds(config, timeoutKey, 10)
  return {
    mode: 'native',
    port,
    baudRate: configInt(config, 'BAUDRATE', 50, 4_000_000) ?? 115200,
    pin: pin === '' ? undefined : pin,
    smsc,
    timeoutMs,
    // The network round trip after Ctrl-Z takes far longer than a local command.
    sendTimeoutMs: configSeconds(config, 'SEND_TIMEOUT', Math.max(60, timeoutMs / 1000)),
    format: mode,
  }
}

/** The DeviceSMSProvider class (gnokii or native mode, chosen by the config). */
export const DeviceSmsProviderClass: ProviderClass<DeviceOptions> = {
  id: 'DeviceSMSProvider',
  parse,
  create(options, ctx): SmsProvider {
    const log = ctx.logger.child({ class: 'DeviceSMSProvider', mode: options.mode })
    return options.mode === 'gnokii' ? createGnokiiProvider(options, log) : createModemProvider(options, log)
  },
}
