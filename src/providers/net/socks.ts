/**
 * SOCKS5 client protocol (RFC 1928, with RFC 1929 username/password authentication) for the PROXY
 * setting of the HTTP-based providers: the proxy URL, the handshake over an already connected
 * socket, and errors whose messages are safe for logs and audit (they name the proxy host:port and
 * the SOCKS reply, never the credentials). The undici connector that uses this lives in
 * `socks-connector.ts`.
 *
 * LinOTP gets SOCKS from python-requests with PySocks; the same URL forms are accepted here:
 * `socks5://` (the gateway's host name is resolved locally) and `socks5h://` (the proxy resolves it).
 */
import { isIP, type Socket } from 'node:net'
import { ConfigError } from '../../errors.js'

/** One SOCKS5 proxy, from a `socks5://` or `socks5h://` URL. */
export interface SocksProxy {
  /** `socks5h`: the proxy resolves the gateway's host name; `socks5`: it is resolved here. */
  readonly scheme: 'socks5' | 'socks5h'
  /** Host name or IP address (IPv6 without brackets). */
  readonly host: string
  /** @default 1080 */
  readonly port: number
  /** RFC 1929 credentials (secret). Without them only "no authentication" is offered. */
  readonly username?: string
  readonly password?: string
}

/** The SOCKS port when the proxy URL names none. */
export const DEFAULT_SOCKS_PORT = 1080

/**
 * Parses a `socks5://[user:pass@]host[:port]` or `socks5h://…` proxy URL (credentials
 * percent-decoded). `socks4://` and `socks4a://` are refused: SOCKS4 has no password
 * authentication (a user id at most) and no IPv6, and SOCKS servers in use (Dante, `ssh -D`, Tor)
 * speak SOCKS5.
 * @throws ConfigError naming `key`; the message never repeats the credentials.
 */
export function parseSocksUrl(text: string, key: string): SocksProxy {
  const scheme = (/^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1] ?? '').toLowerCase()
  if (scheme === 'socks4' || scheme === 'socks4a') {
    throw new ConfigError(`${key}: unsupported proxy scheme ${scheme}: (SOCKS4 has no password authentication and no IPv6; use socks5:// or socks5h://)`)
  }
  if (scheme !== 'socks5' && scheme !== 'socks5h') {
    throw new ConfigError(`${key}: unsupported proxy scheme ${scheme}: (socks5, socks5h, http or https)`)
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new ConfigError(`${key}: not a valid proxy URL`)
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  if (host === '') throw new ConfigError(`${key}: proxy URL has no host`)
  const port = url.port === '' ? DEFAULT_SOCKS_PORT : Number(url.port)
  if (port < 1 || port > 65535) throw new ConfigError(`${key}: proxy port must be 1..65535`)
  if (url.username === '' && url.password === '') return Object.freeze({ scheme, host, port })
  let username: string
  let password: string
  try {
    username = decodeURIComponent(url.username)
    password = decodeURIComponent(url.password)
  } catch {
    throw new ConfigError(`${key}: credentials in the proxy URL are not validly percent-encoded`)
  }
  // RFC 1929: one length byte each; the user name must not be empty.
  if (username === '') throw new ConfigError(`${key}: the proxy URL has a password but no user name`)
  if (Buffer.byteLength(username) > 255 || Buffer.byteLength(password) > 255) {
    throw new ConfigError(`${key}: SOCKS5 user name and password are limited to 255 bytes each`)
  }
  return Object.freeze({ scheme, host, port, username, password })
}

/**
 * A failed SOCKS connection. `message` is a complete reason for the audit, ending in the code in
 * parentheses; `code` is a Node error code (`ECONNREFUSED`, `ETIMEDOUT` …) or a `SOCKS_*` code.
 */
export class SocksError extends Error {
  readonly code: string
  constructor(code: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'SocksError'
    this.code = code
  }
}

/** RFC 1928 §6 reply codes, worded for "the proxy could not connect to the gateway: …". */
export const SOCKS5_REPLIES: Readonly<Record<number, string>> = Object.freeze({
  0x01: 'general SOCKS server failure',
  0x02: 'connection not allowed by the proxy rules',
  0x03: 'network unreachable',
  0x04: 'host unreachable',
  0x05: 'connection refused',
  0x06: 'TTL expired',
  0x07: 'command not supported',
  0x08: 'address type not supported',
})

/** Handshake steps, reported to the caller so a timeout can say where it happened. */
export type SocksPhase = 'greeting' | 'auth' | 'request'

const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`

/**
 * Runs the SOCKS5 handshake on a socket connected to the proxy, up to a successful CONNECT to
 * `target`. `target.host` is sent as an IPv4 or IPv6 address when it is one, else as a domain
 * name (ATYP 3). Reads exactly the reply bytes, so whatever follows stays in the socket for the
 * next protocol (HTTP or TLS).
 * @param label `host:port` of the proxy, for messages.
 * @throws SocksError
 */
export async function socksHandshake(
  socket: Socket,
  proxy: SocksProxy,
  target: { readonly host: string; readonly port: number },
  label: string,
  onPhase: (phase: SocksPhase) => void = () => {},
): Promise<void> {
  const who = `SOCKS proxy ${label}`
  const read = (n: number, during: string) => readExactly(socket, n, `${who} closed the connection during ${during} (SOCKS_CLOSED)`)
  const auth = proxy.username !== undefined
  const address = encodeAddress(target.host, who) // before anything is sent: a bad name is ours

  onPhase('greeting')
  socket.write(Buffer.from(auth ? [0x05, 0x02, 0x00, 0x02] : [0x05, 0x01, 0x00]))
  const [version, method] = await read(2, 'the greeting')
  if (version !== 0x05) throw new SocksError('SOCKS_PROTOCOL', `${who} is not a SOCKS5 proxy (reply version ${version}) (SOCKS_PROTOCOL)`)
  if (method === 0xff) {
    throw new SocksError(
      'SOCKS_NO_ACCEPTABLE_METHOD',
      auth
        ? `${who} accepts neither no authentication nor username/password (SOCKS_NO_ACCEPTABLE_METHOD)`
        : `${who} requires authentication; put user:password into the PROXY URL (SOCKS_NO_ACCEPTABLE_METHOD)`,
    )
  }
  if (method === 0x02 && auth) {
    onPhase('auth')
    const user = Buffer.from(proxy.username ?? '', 'utf8')
    const pass = Buffer.from(proxy.password ?? '', 'utf8')
    socket.write(Buffer.concat([Buffer.from([0x01, user.length]), user, Buffer.from([pass.length]), pass]))
    const [, status] = await read(2, 'authentication')
    if (status !== 0x00) {
      throw new SocksError('SOCKS_AUTH_FAILED', `${who} refused the user name or password (RFC 1929 status ${hex(status ?? 0)}) (SOCKS_AUTH_FAILED)`)
    }
  } else if (method !== 0x00) {
    throw new SocksError('SOCKS_PROTOCOL', `${who} chose an authentication method that was not offered (${hex(method ?? 0)}) (SOCKS_PROTOCOL)`)
  }

  onPhase('request')
  const port = Buffer.from([target.port >> 8, target.port & 0xff])
  socket.write(Buffer.concat([Buffer.from([0x05, 0x01, 0x00]), address, port]))
  // Version and reply first: some proxies close right after a failure reply without an address.
  const [replyVersion, reply] = await read(2, 'the CONNECT request')
  if (replyVersion !== 0x05) throw new SocksError('SOCKS_PROTOCOL', `${who} sent an invalid CONNECT reply (version ${replyVersion}) (SOCKS_PROTOCOL)`)
  if (reply !== 0x00) {
    const what = SOCKS5_REPLIES[reply ?? 0] ?? 'unassigned reply code'
    throw new SocksError(`SOCKS_REPLY_${hex(reply ?? 0).slice(2)}`, `${who} could not connect to the gateway: ${what} (SOCKS reply ${hex(reply ?? 0)})`)
  }
  // The bound address is not used, but it must be consumed.
  const [, atyp] = await read(2, 'the CONNECT reply')
  const length = atyp === 0x01 ? 4 : atyp === 0x04 ? 16 : atyp === 0x03 ? ((await read(1, 'the CONNECT reply'))[0] ?? 0) : -1
  if (length < 0) throw new SocksError('SOCKS_PROTOCOL', `${who} sent an unknown address type ${hex(atyp ?? 0)} (SOCKS_PROTOCOL)`)
  await read(length + 2, 'the CONNECT reply')
}

/** ATYP and address bytes: 0x01 IPv4, 0x04 IPv6, 0x03 length-prefixed domain name. */
function encodeAddress(host: string, who: string): Buffer {
  const family = isIP(host)
  if (family === 4) return Buffer.from([0x01, ...host.split('.').map(Number)])
  if (family === 6) return Buffer.concat([Buffer.from([0x04]), ipv6Bytes(host)])
  // URL host names are already ASCII (IDNA), so the byte length is the character count.
  const name = Buffer.from(host, 'utf8')
  if (name.length === 0 || name.length > 255) {
    throw new SocksError('SOCKS_BAD_NAME', `${who}: the gateway host name is too long for SOCKS5 (SOCKS_BAD_NAME)`)
  }
  return Buffer.concat([Buffer.from([0x03, name.length]), name])
}

/** The 16 bytes of a valid IPv6 literal (`::` and a trailing dotted IPv4 part expanded). */
export function ipv6Bytes(address: string): Buffer {
  let text = address.replace(/%.*$/, '') // a zone id is local to this host
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1]
  if (v4 !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = v4.split('.').map(Number)
    text = `${text.slice(0, -v4.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const groups = (s: string) => (s === '' ? [] : s.split(':'))
  const left = groups(head)
  const right = tail === undefined ? [] : groups(tail)
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
  const out = Buffer.alloc(16)
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2))
  return out
}

/**
 * Reads exactly `n` bytes in paused mode (`read(n)`), so nothing beyond them is taken from the
 * socket. Rejects with `closedMessage` when the socket ends first, or with the socket's error.
 */
function readExactly(socket: Socket, n: number, closedMessage: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      socket.off('readable', attempt)
      socket.off('end', closed)
      socket.off('close', closed)
      socket.off('error', failed)
    }
    const closed = () => {
      cleanup()
      reject(new SocksError('SOCKS_CLOSED', closedMessage))
    }
    const failed = (err: Error) => {
      cleanup()
      reject(err)
    }
    function attempt() {
      const chunk = socket.read(n) as Buffer | null
      if (chunk === null) {
        if (socket.readableEnded || socket.destroyed) closed()
        return
      }
      cleanup()
      // After the end, read(n) hands out what is left even when it is less than n.
      if (chunk.length < n) reject(new SocksError('SOCKS_CLOSED', closedMessage))
      else resolve(chunk)
    }
    socket.on('readable', attempt)
    socket.once('end', closed)
    socket.once('close', closed)
    socket.once('error', failed)
    attempt()
  })
}
