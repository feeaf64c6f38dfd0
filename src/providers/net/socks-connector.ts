/**
 * An undici connector (`new Agent({ connect })`) that opens every connection through a SOCKS5
 * proxy: TCP to the proxy, the SOCKS handshake (`socks.ts`), then for https targets TLS inside the
 * tunnel with the same trust and client certificate as a direct connection. undici pools and
 * keeps alive the returned sockets exactly as it does its own, so one handshake serves many sends.
 *
 * One timer covers the proxy connect, the SOCKS handshake and the TLS handshake (the provider's
 * connect timeout). Every failure is handed to undici as an Error whose message is a finished
 * reason naming the proxy host:port and the step (see `classifyHttpError`); TLS errors inside the
 * tunnel keep their own codes so they read exactly as for direct connections.
 */
import type { LookupAddress } from 'node:dns'
import { connect as netConnect, isIP, type LookupFunction, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls'
import type { buildConnector } from 'undici'
import { destinationError, destinationRefusal, guardedLookup, type DestinationContext } from './destinations.js'
import { LOCAL } from '../resources.js'
import { socksHandshake, SocksError, type SocksPhase, type SocksProxy } from './socks.js'

/** TLS settings for https targets (the provider's SERVER_CERTIFICATE and client certificate). */
export type SocksTargetTls = Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'passphrase' | 'rejectUnauthorized'>

export interface SocksConnectorOptions {
  readonly proxy: SocksProxy
  readonly tls: SocksTargetTls
  /** Budget for proxy connect + SOCKS handshake + TLS handshake, in ms. */
  readonly timeoutMs: number
  /**
   * What the provider may reach: the proxy's addresses are judged on connect, a gateway name
   * resolved here (socks5://) on resolution; socks5h:// names are judged by their text at load.
   * @default trusted, no allow-lists
   */
  readonly destinations?: DestinationContext
}

type Phase = 'lookup' | 'connect' | SocksPhase | 'tls'
const DURING: Record<Phase, string> = {
  lookup: 'resolving the gateway host name',
  connect: 'connecting to the SOCKS proxy',
  greeting: 'the SOCKS greeting',
  auth: 'the SOCKS authentication',
  request: 'the SOCKS CONNECT request',
  tls: 'the TLS handshake with the gateway',
}

/** Builds the connector for one proxy; it keeps no state between connections. */
export function createSocksConnector(opts: SocksConnectorOptions): buildConnector.connector {
  const { proxy } = opts
  const guard = opts.destinations ?? LOCAL
  const lookup = guardedLookup(guard)
  const label = isIP(proxy.host) === 6 ? `[${proxy.host}]:${proxy.port}` : `${proxy.host}:${proxy.port}`

  return (options, callback) => {
    const https = options.protocol === 'https:'
    const target = { host: options.hostname, port: Number(options.port) || (https ? 443 : 80) }
    let phase: Phase = 'lookup'
    let socket: Socket | undefined
    let tlsSocket: TLSSocket | undefined
    let settled = false

    const fail = (err: unknown) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      const error = toConnectError(err, phase, label)
      tlsSocket?.destroy()
      socket?.destroy()
      callback(error, null)
    }
    const timer = setTimeout(() => {
      fail(new SocksError('ETIMEDOUT', `connect timed out after ${opts.timeoutMs} ms during ${DURING[phase]} via SOCKS proxy ${label} (ETIMEDOUT)`))
    }, opts.timeoutMs)

    const run = async (): Promise<Socket> => {
      // socks5: resolve here (PySocks does too, IPv4 first); socks5h: the proxy gets the name.
      const host = proxy.scheme === 'socks5' && isIP(target.host) === 0 ? await resolve(target.host, lookup) : target.host
      if (settled) throw new Error('superseded')
      phase = 'connect'
      const literal = isIP(proxy.host) === 0 ? undefined : destinationRefusal(guard, undefined, proxy.host)
      if (literal !== undefined) throw destinationError(literal)
      const raw = netConnect({ host: proxy.host, port: proxy.port, lookup })
      socket = raw
      // Until the connection is handed over, any socket error ends the attempt.
      raw.on('error', fail)
      raw.setNoDelay(true)
      raw.setKeepAlive(true, 60_000)
      await new Promise<void>((ok) => raw.once('connect', ok))
      await socksHandshake(raw, proxy, { host, port: target.port }, label, (p) => {
        phase = p
      })
      if (!https) return raw
      phase = 'tls'
      const servername = options.servername ?? target.host
      const secure = tlsConnect({
        ...opts.tls,
        socket: raw,
        // checkServerIdentity uses `host` when there is no SNI name (an IP literal has none).
        host: target.host,
        ...(isIP(servername) === 0 && servername !== '' && { servername }),
        ALPNProtocols: ['http/1.1'],
      })
      tlsSocket = secure
      secure.on('error', fail)
      await new Promise<void>((ok) => secure.once('secureConnect', ok))
      return secure
    }

    run().then(
      (ready) => {
        if (settled) {
          ready.destroy()
          return
        }
        settled = true
        clearTimeout(timer)
        // From here undici owns the socket and its error handling; a TLS socket forwards the
        // errors of the tunnel socket below it.
        socket?.off('error', fail)
        tlsSocket?.off('error', fail)
        callback(null, ready)
      },
      fail,
    )
  }
}

/** A gateway host name resolved locally (socks5://): IPv4 preferred, as PySocks does. */
async function resolve(host: string, lookup: LookupFunction): Promise<string> {
  const addresses = await new Promise<LookupAddress[]>((ok, fail) => {
    lookup(host, { all: true }, (err, result) => (err ? fail(err) : ok(Array.isArray(result) ? result : [])))
  })
  const chosen = addresses.find((a) => a.family === 4) ?? addresses[0]
  if (chosen === undefined) throw Object.assign(new Error('no address'), { code: 'ENOTFOUND' })
  return chosen.address
}

/** Turns what went wrong in `phase` into the error undici reports; the message is the reason. */
function toConnectError(err: unknown, phase: Phase, label: string): Error {
  if (err instanceof SocksError) return err
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'ERROR'
  if (code === 'ERR_OTP_RESOURCE_NOT_ALLOWED' && err instanceof Error) return err // a finished reason (destinations.ts)
  switch (phase) {
    case 'tls':
      // Certificate and handshake errors keep their codes: classified as for direct connections.
      return err instanceof Error ? err : new SocksError(code, `TLS failure via SOCKS proxy ${label} (${code})`, err)
    case 'lookup':
      return new SocksError(code, `gateway host name not resolved (${code}); socks5:// resolves it locally, socks5h:// lets the SOCKS proxy resolve it`, err)
    case 'connect':
      return new SocksError(code, `SOCKS proxy ${label} unreachable (${code})`, err)
    default:
      return new SocksError(code, `SOCKS proxy ${label}: connection failed during ${DURING[phase]} (${code})`, err)
  }
}
