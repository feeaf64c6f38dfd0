/**
 * Typed access to the `smpp` package (0.5.x, CommonJS, ships no type declarations). Only the
 * surface sms-otp uses is declared here; `createRequire` keeps the untyped module out of the
 * public type graph, so no ambient `declare module` is needed.
 */
import type { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import type { LookupFunction, Server as NetServer, Socket } from 'node:net'

/** A decoded PDU. Field names are those of the SMPP specification. */
export interface SmppPdu {
  readonly command: string
  readonly command_id: number
  readonly command_status: number
  readonly sequence_number: number
  /** Request parameters and TLVs, decoded by the package (`short_message` becomes `{ udh?, message }`). */
  readonly [field: string]: unknown
  isResponse(): boolean
  /** The matching `*_resp` PDU (or `generic_nack` for an unknown command). */
  response(options?: Record<string, unknown>): SmppPdu
}

/** One SMPP connection, client or server side. Events: connect, close, error, pdu, `<command>`. */
export interface SmppSession extends EventEmitter {
  readonly socket: Socket
  /**
   * Sends a request or response PDU. Returns false when the socket is not writable.
   * @param onResponse called with the response PDU (matched by sequence number).
   */
  send(pdu: SmppPdu, onResponse?: (pdu: SmppPdu) => void, onSent?: (pdu: SmppPdu) => void): boolean
  close(callback?: () => void): void
  destroy(callback?: () => void): void
  pause(): void
  resume(): void
}

/** The SMPP server (a `net.Server` emitting `session`). */
export interface SmppServer extends NetServer {
  readonly sessions: SmppSession[]
}

interface SmppModule {
  connect(options: { host: string; port: number; lookup?: LookupFunction }): SmppSession
  createServer(listener?: (session: SmppSession) => void): SmppServer
  PDU: new (command: string, options?: Record<string, unknown>) => SmppPdu
  errors: Record<string, number>
}

// The package is CommonJS without types; the cast names exactly the surface declared above.
const lib = createRequire(import.meta.url)('smpp') as SmppModule

/** Opens a TCP connection to an SMSC (no bind yet). */
export const connectSmpp = (host: string, port: number, lookup?: LookupFunction): SmppSession =>
  lib.connect({ host, port, ...(lookup !== undefined && { lookup }) }) // the package hands these to net.connect

/** Builds a PDU. Strings in C-string fields are written as ASCII; `short_message` may be a Buffer (sent as is). */
export const createPdu = (command: string, options: Record<string, unknown> = {}): SmppPdu => new lib.PDU(command, options)

/** Creates an SMPP server (used by the test SMSC). */
export const createSmppServer = (listener?: (session: SmppSession) => void): SmppServer => lib.createServer(listener)

const statusNames = new Map<number, string>()
for (const [name, code] of Object.entries(lib.errors)) if (!statusNames.has(code)) statusNames.set(code, name)

/**
 * The SMPP name and hex code of a `command_status`, for reasons and logs.
 * @example describeStatus(0x45) // 'ESME_RSUBMITFAIL (0x00000045)'
 */
export function describeStatus(status: number): string {
  const hex = `0x${status.toString(16).toUpperCase().padStart(8, '0')}`
  return `${statusNames.get(status) ?? 'unknown status'} (${hex})`
}

/** command_status values used by sms-otp. */
export const SmppStatus = {
  OK: 0x00,
  INVALID_BIND_STATUS: 0x04,
  SYSTEM_ERROR: 0x08,
  BIND_FAILED: 0x0d,
  INVALID_PASSWORD: 0x0e,
  INVALID_SYSTEM_ID: 0x0f,
  MESSAGE_QUEUE_FULL: 0x14,
  INVALID_COMMAND_ID: 0x03,
} as const
