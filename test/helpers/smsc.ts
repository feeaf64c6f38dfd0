/**
 * A loopback SMSC for SMPP provider tests, built on the `smpp` package's server. It checks bind
 * credentials, answers submit_sm with a configurable status and message_id (optionally late or
 * never), records every submit_sm with the exact octets it received, answers enquire_link and
 * unbind, counts outstanding submits, can drop every connection and can send delivery receipts.
 *
 * The recorded fields are parsed here from the raw PDU octets, independently of the package's
 * decoder and of the client code under test.
 */
import type { AddressInfo } from 'node:net'
import { createPdu, createSmppServer, type SmppPdu, type SmppSession } from '../../src/providers/smpp/lib.js'

export interface RecordedSubmit {
  /** Which connection carried it (1, 2, ... in connection order). */
  readonly connection: number
  readonly serviceType: string
  readonly sourceAddr: string
  readonly sourceTon: number
  readonly sourceNpi: number
  readonly destAddr: string
  readonly destTon: number
  readonly destNpi: number
  readonly esmClass: number
  readonly registeredDelivery: number
  readonly dataCoding: number
  /** The exact short_message octets, UDH included. */
  readonly shortMessage: Buffer
  /** The message part as the `smpp` package decodes it (UDH removed when esm_class says so). */
  readonly decoded: string
  readonly messageId: string
}

export interface RecordedBind {
  readonly connection: number
  readonly systemId: string
  readonly password: string
  readonly systemType: string
  readonly interfaceVersion: number
  readonly accepted: boolean
}

export interface SmscOptions extends SmscBehaviour {
  /** Accepted system_id/password pairs. @default [[SMSC_SYSTEM_ID, SMSC_PASSWORD]] */
  accounts?: ReadonlyArray<readonly [string, string]>
}

export interface SmscBehaviour {
  /** command_status for the n-th submit_sm (0-based, counted since the last reset). @default 0 */
  submitStatus?: number | ((n: number) => number)
  /** Delay before each submit_sm_resp. @default 0 */
  responseDelayMs?: number
  /** Never answer submit_sm. */
  hangSubmits?: boolean
  /** Answer enquire_link. @default true */
  answerEnquireLink?: boolean
}

export interface Smsc {
  readonly port: number
  readonly submits: RecordedSubmit[]
  readonly binds: RecordedBind[]
  /** enquire_link PDUs received. */
  enquireLinks: number
  /** unbind PDUs received. */
  unbinds: number
  /** Most submit_sm received and not yet answered at one time, on any one connection. */
  maxOutstanding: number
  /** Connections currently open. */
  readonly openConnections: number
  /** Replaces the behaviour and clears all records. */
  reset(behaviour?: SmscBehaviour): void
  /** Destroys every open connection (the SMSC "crashes"). */
  dropAll(): void
  /** Sends unbind over every bound connection; resolves with the unbind_resp PDUs. */
  unbindAll(): Promise<SmppPdu[]>
  /** Sends a delivery receipt over the newest bound connection; resolves with the deliver_sm_resp. */
  sendReceipt(messageId: string, stat?: string, text?: string): Promise<SmppPdu>
  /** Resolves when no connection is open (polls; gives up after `ms`). */
  waitForNoConnections(ms?: number): Promise<boolean>
  close(): Promise<void>
}

export const SMSC_SYSTEM_ID = 'otp-esme'
export const SMSC_PASSWORD = 'secret12'

/** Reads the submit_sm body fields from the raw PDU (SMPP 3.4 §4.4.1). */
function parseSubmit(raw: Buffer) {
  let offset = 16
  const cstring = () => {
    const end = raw.indexOf(0, offset)
    const s = raw.toString('latin1', offset, end)
    offset = end + 1
    return s
  }
  const u8 = () => raw.readUInt8(offset++)
  const serviceType = cstring()
  const sourceTon = u8()
  const sourceNpi = u8()
  const sourceAddr = cstring()
  const destTon = u8()
  const destNpi = u8()
  const destAddr = cstring()
  const esmClass = u8()
  u8() // protocol_id
  u8() // priority_flag
  cstring() // schedule_delivery_time
  cstring() // validity_period
  const registeredDelivery = u8()
  u8() // replace_if_present_flag
  const dataCoding = u8()
  u8() // sm_default_msg_id
  const smLength = u8()
  const shortMessage = Buffer.from(raw.subarray(offset, offset + smLength))
  return { serviceType, sourceAddr, sourceTon, sourceNpi, destAddr, destTon, destNpi, esmClass, registeredDelivery, dataCoding, shortMessage }
}

/** Captures the octets of each PDU the package reads from this session's socket. */
function tapRawPdus(session: SmppSession): () => Buffer | undefined {
  const socket = session.socket
  const read = socket.read.bind(socket)
  let head: Buffer | undefined
  let last: Buffer | undefined
  socket.read = (size?: number) => {
    const chunk = read(size) as Buffer | null
    if (chunk !== null) {
      if (size === 4) head = chunk // command_length; the body is always longer than 4 octets
      else if (head !== undefined) last = Buffer.concat([head, chunk])
    }
    return chunk
  }
  return () => last
}

export async function startSmsc(initial: SmscOptions = {}): Promise<Smsc> {
  const accounts = initial.accounts ?? [[SMSC_SYSTEM_ID, SMSC_PASSWORD]]
  let behaviour: SmscBehaviour = initial
  let connections = 0
  let submitCount = 0
  let messageIds = 0
  const bound: SmppSession[] = []

  const server = createSmppServer((session) => {
    const connection = ++connections
    const lastRaw = tapRawPdus(session)
    let isBound = false
    let outstanding = 0
    session.on('error', () => session.destroy())
    session.on('close', () => {
      const i = bound.indexOf(session)
      if (i >= 0) bound.splice(i, 1)
    })
    session.on('bind_transceiver', (pdu: SmppPdu) => {
      const accepted = accounts.some(([id, pw]) => pdu.system_id === id && pdu.password === pw)
      smsc.binds.push({
        connection,
        systemId: String(pdu.system_id),
        password: String(pdu.password),
        systemType: String(pdu.system_type),
        interfaceVersion: Number(pdu.interface_version),
        accepted,
      })
      if (!accepted) {
        session.send(pdu.response({ command_status: 0x0d })) // ESME_RBINDFAIL
        return
      }
      isBound = true
      bound.push(session)
      session.send(pdu.response({ system_id: 'test-smsc' }))
    })
    session.on('submit_sm', (pdu: SmppPdu) => {
      if (!isBound) {
        session.send(pdu.response({ command_status: 0x04 })) // ESME_RINVBNDSTS
        return
      }
      const raw = lastRaw()
      if (raw === undefined) throw new Error('test SMSC: raw PDU not captured')
      const n = submitCount++
      const status = typeof behaviour.submitStatus === 'function' ? behaviour.submitStatus(n) : (behaviour.submitStatus ?? 0)
      const messageId = `m${(++messageIds).toString().padStart(4, '0')}`
      const sm = pdu.short_message as { message?: unknown } | undefined
      smsc.submits.push({ connection, ...parseSubmit(raw), decoded: typeof sm?.message === 'string' ? sm.message : '', messageId })
      outstanding++
      smsc.maxOutstanding = Math.max(smsc.maxOutstanding, outstanding)
      if (behaviour.hangSubmits) return
      const answer = () => {
        outstanding--
        session.send(pdu.response(status === 0 ? { message_id: messageId } : { command_status: status }))
      }
      if (behaviour.responseDelayMs) setTimeout(answer, behaviour.responseDelayMs)
      else answer()
    })
    session.on('enquire_link', (pdu: SmppPdu) => {
      smsc.enquireLinks++
      if (behaviour.answerEnquireLink !== false) session.send(pdu.response())
    })
    session.on('unbind', (pdu: SmppPdu) => {
      smsc.unbinds++
      session.send(pdu.response())
    })
  })

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  const smsc: Smsc = {
    port,
    submits: [],
    binds: [],
    enquireLinks: 0,
    unbinds: 0,
    maxOutstanding: 0,
    get openConnections() {
      return server.sessions.length
    },
    reset(next = {}) {
      behaviour = next
      submitCount = 0
      smsc.submits.length = 0
      smsc.binds.length = 0
      smsc.enquireLinks = 0
      smsc.unbinds = 0
      smsc.maxOutstanding = 0
    },
    dropAll() {
      for (const session of [...server.sessions]) session.destroy()
    },
    unbindAll() {
      return Promise.all(bound.map((session) => new Promise<SmppPdu>((resolve) => session.send(createPdu('unbind'), resolve))))
    },
    sendReceipt(messageId, stat = 'DELIVRD', text = 'Your OTP 123456') {
      const session = bound.at(-1)
      if (session === undefined) return Promise.reject(new Error('test SMSC: no bound connection'))
      const body = `id:${messageId} sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:${stat} err:000 text:${text}`
      const pdu = createPdu('deliver_sm', {
        source_addr_ton: 1,
        source_addr_npi: 1,
        source_addr: '491701234567',
        destination_addr: 'ACME',
        esm_class: 0x04,
        data_coding: 0,
        short_message: Buffer.from(body, 'latin1'),
      })
      return new Promise((resolve) => session.send(pdu, resolve))
    },
    async waitForNoConnections(ms = 2000) {
      const until = Date.now() + ms
      while (server.sessions.length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10))
      return server.sessions.length === 0
    },
    async close() {
      for (const session of [...server.sessions]) session.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return smsc
}
