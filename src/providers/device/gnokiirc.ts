/**
 * The gnokiirc of an admin-defined DeviceSMSProvider. gnokii runs `connect_script` and
 * `disconnect_script` through a shell, reads `[gnokiid] bindir` for helper programs, and speaks
 * to a network peer with `connection = tcp`; a file in an allowed directory may well have been
 * written by an admin-defined FileSMSProvider (with text partly the caller's). So for admin-defined
 * providers the file is read once, when the provider is set or loaded, and accepted only if every
 * section, key and value is on a strict list of harmless settings; gnokii is then given a private
 * snapshot written from the checked settings, never the file itself, so a later rewrite of the
 * file changes nothing. The list follows gnokii 0.6.30's sample gnokiirc (Debian gnokii-common):
 * what an AT phone or a Nokia cable on a serial, USB or Bluetooth line needs, nothing that runs,
 * writes or connects. Refusals name the line, section or key, never a line's text (an outbox line
 * holds a phone number and an OTP).
 */
import { ResourceError, confinePath, type ResourceContext } from '../resources.js'

const ADMIN = 'a provider set through the admin API'
const INTEGER = /^-?[0-9]{1,7}$/
const CONNECTIONS = ['serial', 'dau9p', 'dlr3p', 'm2bus', 'bluetooth', 'irda', 'infrared', 'dku2', 'dku2libusb', 'dku5', 'pcsc', 'tekram', 'phonet']

/** Allowed keys per section, each with the values it may take (`port` is judged by {@link checkPort}). Maps: no prototype keys. */
const ALLOWED: ReadonlyMap<string, ReadonlyMap<string, RegExp>> = new Map([
  ['global', new Map([
    ['port', /^/],
    ['model', /^[A-Za-z0-9_.+-]{1,32}$/],
    ['connection', new RegExp(`^(${CONNECTIONS.join('|')})$`)],
    ['initlength', /^(default|[0-9]{1,4})$/],
    ['use_locking', /^(yes|no)$/],
    ['serial_baudrate', /^[0-9]{1,7}$/],
    ['serial_write_usleep', INTEGER],
    ['handshake', /^(hardware|software|rtscts|xonxoff)$/],
    ['require_dcd', INTEGER],
    ['smsc_timeout', INTEGER],
    ['rfcomm_channel', /^[0-9]{1,2}$/],
    ['sm_retry', INTEGER],
    ['irda_string', /^[A-Za-z0-9 ._-]{1,64}$/],
  ])],
  ['logging', new Map([['debug', /^(on|off)$/], ['rlpdebug', /^(on|off)$/], ['xdebug', /^(on|off)$/]])],
])
const ALLOWED_TEXT = [...ALLOWED].map(([section, keys]) => `[${section}] ${[...keys.keys()].join(', ')}`).join('; ')

/** What {@link checkGnokiirc} found. */
export interface CheckedGnokiirc {
  /** The snapshot gnokii reads: the accepted settings, written out again (`port` as its realpath). */
  readonly text: string
  /** The `port` value as gnokii will use it, if any. */
  readonly port: string | undefined
}

/**
 * Checks the text of an admin-defined provider's gnokiirc against the allow-list above.
 * @throws ResourceError (`ERR_OTP_RESOURCE_NOT_ALLOWED`) naming the line, section or key.
 * @example
 * checkGnokiirc('[global]\nport = /dev/ttyUSB0\nmodel = AT\nconnection = serial\n', ctx).text
 */
export function checkGnokiirc(content: string, resources: ResourceContext): CheckedGnokiirc {
  const refuse = (what: string) => new ResourceError(`CONFIGFILE: ${what} is not allowed for ${ADMIN} (allowed: ${ALLOWED_TEXT}); other settings need a provider from the operator's config file`)
  const sections = new Map<string, Map<string, string>>()
  let current: Map<string, string> | undefined
  let currentName = ''
  content.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '').trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return
    const section = /^\[([^\]]*)\]$/.exec(line)?.[1]?.trim()
    if (section !== undefined) {
      if (!ALLOWED.has(section)) throw refuse(`section [${/^[A-Za-z0-9_ ]{1,40}$/.test(section) ? section : '…'}]`)
      currentName = section
      current = sections.get(section) ?? new Map<string, string>()
      sections.set(section, current)
      return
    }
    const eq = line.indexOf('=')
    if (eq <= 0) throw new ResourceError(`CONFIGFILE: line ${index + 1} is neither a [section] nor a key = value line; ${ADMIN} may use only a plain gnokiirc`)
    const key = line.slice(0, eq).trim()
    const value = line.slice(eq + 1).trim()
    const shownKey = /^[A-Za-z0-9_]{1,40}$/.test(key) ? key : 'a key'
    if (current === undefined) throw new ResourceError(`CONFIGFILE: line ${index + 1}: ${shownKey} outside a [section]; ${ADMIN} may use only a plain gnokiirc`)
    const pattern = ALLOWED.get(currentName)?.get(key)
    if (pattern === undefined) throw refuse(`[${currentName}] ${shownKey}`)
    if (current.has(key)) throw new ResourceError(`CONFIGFILE: [${currentName}] ${key} is given twice`)
    if (!pattern.test(value)) throw new ResourceError(`CONFIGFILE: [${currentName}] ${key}: this value is not allowed for ${ADMIN}`)
    current.set(key, value)
  })
  const global = sections.get('global')
  const given = global?.get('port')
  const port = given === undefined ? undefined : checkPort(given, global?.get('connection') ?? 'serial', resources)
  if (port !== undefined) global?.set('port', port)
  const text = [...sections].map(([name, entries]) => [`[${name}]`, ...[...entries].map(([k, v]) => `${k} = ${v}`)].join('\n')).join('\n\n')
  return Object.freeze({ text: `${text}\n`, port })
}

/**
 * `port` names a device (a path, confined like native mode's `PORT`), or — for the connections
 * whose port is no path — a Bluetooth address, a USB endpoint number or a network interface.
 */
function checkPort(value: string, connection: string, resources: ResourceContext): string {
  if (value.startsWith('/')) {
    // eslint-disable-next-line no-control-regex -- a device path with spaces or control characters is not one
    if (/[\s\x00-\x1f]/.test(value)) throw new ResourceError('CONFIGFILE: [global] port: not a device path')
    return confinePath(resources, 'CONFIGFILE: [global] port', value)?.path ?? value
  }
  if (connection === 'bluetooth' && /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/.test(value)) return value
  if ((connection === 'dku2libusb' || connection === 'pcsc') && /^[0-9]{1,3}$/.test(value)) return value
  if (connection === 'phonet' && /^[a-z][a-z0-9]{0,14}$/.test(value)) return value
  throw new ResourceError(`CONFIGFILE: [global] port: ${ADMIN} must name a device by its absolute path under an allowed path (--allow-path /dev/ttyUSB0), a Bluetooth address with connection = bluetooth, an endpoint number with dku2libusb or pcsc, or an interface with phonet`)
}
