/**
 * A scripted GSM modem on one end of a pty pair made by socat; the code under test opens the
 * other end (`modem.path`) as it would open /dev/ttyUSB0. It speaks enough of 27.007/27.005 for
 * our native mode and for gnokii's AT driver (ATZ, ATE1, AT+CGMI, AT+CSCA?, AT+CMGF, AT+CMGS…):
 * echo on until ATE0, OK to commands it does not know, a SIM that can be PIN-locked, the `> `
 * prompt and `+CMGS: <mr>` after Ctrl-Z. It records every command line and every message body.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SerialPort } from 'serialport'
import type { PortFactory } from '../../src/providers/device/at.js'

export interface ModemBehaviour {
  /** SIM PIN: the SIM starts locked (`+CPIN: SIM PIN`) until `AT+CPIN="<pin>"`. */
  pin?: string | undefined
  /** Stop answering (but keep recording bytes) once a command starting with this arrives. */
  silentAfter?: string | undefined
  /** Stop answering once a message body has been received (after Ctrl-Z). */
  silentAfterBody?: boolean
  /** Final result for a message body instead of `+CMGS: <mr>` + OK, e.g. `+CMS ERROR: 500`. */
  sendError?: string | undefined
  /** Exact replies (without the final OK) for given commands, e.g. `{ 'AT+CPIN?': '+CPIN: SIM PUK' }`. */
  replies?: Record<string, string>
  /** Final error results for given commands, e.g. `{ 'AT+CPIN?': '+CME ERROR: 10' }`. */
  errors?: Record<string, string>
}

export interface ScriptedModem {
  /** The device path for the code under test. */
  readonly path: string
  /** Command lines received, without CR, in order. */
  readonly commands: string[]
  /** Message bodies received after `> `, up to (without) Ctrl-Z, as latin1 text. */
  readonly bodies: string[]
  /** Every byte received. */
  readonly raw: () => Buffer
  /** Clears the records and restores the power-on state (echo on, SIM locked if a PIN is set, references from 1). */
  reset(behaviour?: ModemBehaviour): void
  close(): Promise<void>
}

/** True when `tool` is on PATH. */
export function hasTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0
}

/**
 * Why a test that needs `tools` cannot run, or undefined when it can. On CI (`CI=true`) a missing
 * tool throws instead: CI installs socat and gnokii-cli, so their absence is a broken setup.
 */
export function missingTools(...tools: string[]): string | undefined {
  const missing = tools.filter((t) => !hasTool(t))
  if (missing.length === 0) return undefined
  if (process.env.CI === 'true') throw new Error(`CI must provide ${missing.join(', ')} (apt-get install socat gnokii-cli)`)
  return `needs ${missing.join(', ')} (apt-get install socat gnokii-cli)`
}

/**
 * Starts socat and the modem script. The pty links live in a fresh short directory: gnokii
 * truncates its port path to 31 characters (GN_DEVICE_NAME_MAX_LENGTH 32).
 */
export async function startModem(initial: ModemBehaviour = {}): Promise<ScriptedModem> {
  const dir = mkdtempSync(join(tmpdir(), 'pty-'))
  const path = join(dir, 'dte')
  const dce = join(dir, 'dce')
  if (path.length > 31) throw new Error(`pty path ${path} is longer than gnokii accepts; set TMPDIR to a short directory`)
  const socat: ChildProcess = spawn('socat', [`pty,raw,echo=0,link=${path}`, `pty,raw,echo=0,link=${dce}`], { stdio: 'ignore' })
  const deadline = Date.now() + 5000
  while (!(existsSync(path) && existsSync(dce))) {
    if (Date.now() > deadline || socat.exitCode !== null) throw new Error('socat did not create the pty pair')
    await new Promise((r) => setTimeout(r, 10))
  }
  const port = new SerialPort({ path: dce, baudRate: 115200, autoOpen: false })
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())))

  const commands: string[] = []
  const bodies: string[] = []
  let raw: Buffer[] = []
  let behaviour: ModemBehaviour = initial
  let buf = Buffer.alloc(0)
  let echo = true
  let locked = initial.pin !== undefined
  let silent = false
  let inBody = false
  let mr = 0

  const say = (text: string): void => {
    port.write(Buffer.from(text, 'latin1'))
  }
  const final = (info?: string): void => say(`${info === undefined ? '' : `\r\n${info}\r\n`}\r\nOK\r\n`)

  function command(line: string): void {
    const cmd = line.trim()
    const upper = cmd.toUpperCase()
    if (behaviour.silentAfter !== undefined && upper.startsWith(behaviour.silentAfter.toUpperCase())) {
      silent = true
      return
    }
    const error = behaviour.errors?.[cmd]
    if (error !== undefined) return say(`\r\n${error}\r\n`)
    const reply = behaviour.replies?.[cmd]
    if (reply !== undefined) return final(reply)
    if (upper === 'ATZ') echo = true
    if (upper === 'ATE0' || upper === 'ATE1') echo = upper === 'ATE1'
    if (upper === 'AT+CPIN?') return final(locked ? '+CPIN: SIM PIN' : '+CPIN: READY')
    const pin = /^AT\+CPIN="?([^"]*)"?$/i.exec(cmd)
    if (pin) {
      if (pin[1] !== behaviour.pin) return say('\r\n+CME ERROR: 16\r\n')
      locked = false
      return final()
    }
    if (upper.startsWith('AT+CMGS')) {
      if (locked) return say('\r\n+CMS ERROR: 311\r\n')
      inBody = true
      return say('\r\n> ')
    }
    if (upper === 'AT+CGMI') return final('ACME')
    if (upper === 'AT+CGMM' || upper === 'AT+GMM') return final('SCRIPTED-MODEM')
    if (upper === 'AT+CGMR') return final('1.0')
    if (upper === 'AT+CGSN') return final('123456789012345')
    if (upper === 'AT+CSCA?') return final('+CSCA: "+491710760000",145')
    final()
  }

  port.on('data', (chunk: Buffer) => {
    raw.push(chunk)
    if (silent) return
    buf = Buffer.concat([buf, chunk])
    for (;;) {
      if (inBody) {
        const end = buf.findIndex((b) => b === 0x1a || b === 0x1b)
        if (end < 0) return
        const body = buf.subarray(0, end).toString('latin1')
        const cancelled = buf[end] === 0x1b
        if (echo) port.write(buf.subarray(0, end + 1))
        buf = buf.subarray(end + 1)
        inBody = false
        if (cancelled) {
          final()
          continue
        }
        bodies.push(body)
        if (behaviour.silentAfterBody) {
          silent = true
          return
        }
        if (behaviour.sendError !== undefined) say(`\r\n${behaviour.sendError}\r\n`)
        else final(`+CMGS: ${(mr = (mr + 1) % 256)}`)
        continue
      }
      const end = buf.indexOf(0x0d)
      if (end < 0) return
      const line = buf.subarray(0, end).toString('latin1').replace(/^\n+/, '')
      if (echo) port.write(buf.subarray(0, end + 1))
      buf = buf.subarray(end + 1)
      if (line.trim() === '') continue
      commands.push(line.trim())
      command(line)
      if (silent) return
    }
  })

  return {
    path,
    commands,
    bodies,
    raw: () => Buffer.concat(raw),
    reset(next: ModemBehaviour = {}) {
      behaviour = next
      commands.length = 0
      bodies.length = 0
      raw = []
      buf = Buffer.alloc(0)
      echo = true
      locked = next.pin !== undefined
      silent = false
      inBody = false
      mr = 0
    },
    async close() {
      await new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()))
      const exited = new Promise<void>((resolve) => (socat.exitCode !== null ? resolve() : socat.once('exit', () => resolve())))
      socat.kill()
      await exited
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** What {@link decodeSubmit} reads out of an SMS-SUBMIT PDU. */
export interface DecodedSubmit {
  /** Service centre from the SCA field ('' for length 00). */
  readonly sca: string
  /** Octets of the SCA field after its length octet. */
  readonly scaOctets: number
  /** PDU length without the SCA field: what AT+CMGS=<n> must say. */
  readonly tpduLength: number
  readonly first: number
  readonly phone: string
  readonly dcs: number
  readonly udl: number
  readonly udh: { ref: number; total: number; seq: number } | undefined
  readonly text: string
}

/**
 * GSM 03.38 default alphabet as code points, written independently of src/ (from the 23.038
 * table) so the decoder checks the encoder rather than sharing its mistakes.
 */
const GSM_CODEPOINTS = [
  0x40, 0xa3, 0x24, 0xa5, 0xe8, 0xe9, 0xf9, 0xec, 0xf2, 0xc7, 0x0a, 0xd8, 0xf8, 0x0d, 0xc5, 0xe5,
  0x394, 0x5f, 0x3a6, 0x393, 0x39b, 0x3a9, 0x3a0, 0x3a8, 0x3a3, 0x398, 0x39e, 0x1b, 0xc6, 0xe6, 0xdf, 0xc9,
  0x20, 0x21, 0x22, 0x23, 0xa4, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
  0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
  0xa1, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f,
  0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0xc4, 0xd6, 0xd1, 0xdc, 0xa7,
  0xbf, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
  0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0xe4, 0xf6, 0xf1, 0xfc, 0xe0,
]
const GSM_EXTENSION: Record<number, number> = { 0x0a: 0x0c, 0x14: 0x5e, 0x28: 0x7b, 0x29: 0x7d, 0x2f: 0x5c, 0x3c: 0x5b, 0x3d: 0x7e, 0x3e: 0x5d, 0x40: 0x7c, 0x65: 0x20ac }

function semiOctets(bytes: Buffer, digits: number): string {
  let out = ''
  for (const b of bytes) out += `${b & 0x0f}${b >> 4 === 0x0f ? '' : (b >> 4).toString(16)}`
  return out.slice(0, digits)
}

/** Decodes an SMS-SUBMIT PDU (with its SCA field) as a receiving modem would; asserts its lengths. */
export function decodeSubmit(hex: string): DecodedSubmit {
  const b = Buffer.from(hex, 'hex')
  if (b.toString('hex').toUpperCase() !== hex.toUpperCase()) throw new Error('not hex')
  let i = 0
  const scaOctets = b[i++]!
  const sca = scaOctets === 0 ? '' : `${b[i] === 0x91 ? '+' : ''}${semiOctets(b.subarray(i + 1, i + scaOctets), 2 * (scaOctets - 1))}`
  i += scaOctets
  const tpduLength = b.length - 1 - scaOctets
  const first = b[i++]!
  if ((first & 0x03) !== 0x01) throw new Error('not an SMS-SUBMIT')
  i++ // TP-MR
  const digits = b[i++]!
  const toa = b[i++]!
  const phone = `${toa === 0x91 ? '+' : ''}${semiOctets(b.subarray(i, i + Math.ceil(digits / 2)), digits)}`
  i += Math.ceil(digits / 2)
  i++ // TP-PID
  const dcs = b[i++]!
  const vpf = (first >> 3) & 0x03
  i += vpf === 2 ? 1 : vpf === 0 ? 0 : 7
  const udl = b[i++]!
  const ud = b.subarray(i)
  let udh: DecodedSubmit['udh']
  let headerOctets = 0
  if (first & 0x40) {
    headerOctets = ud[0]! + 1
    if (ud[1] === 0x00 && ud[2] === 0x03) udh = { ref: ud[3]!, total: ud[4]!, seq: ud[5]! }
  }
  let text: string
  if (dcs === 0x08) {
    if (ud.length !== udl) throw new Error(`UDL ${udl} but ${ud.length} octets`)
    text = Buffer.from(ud.subarray(headerOctets)).swap16().toString('utf16le')
  } else if (dcs === 0x00) {
    if (ud.length !== Math.ceil((udl * 7) / 8)) throw new Error(`UDL ${udl} septets but ${ud.length} octets`)
    const septets: number[] = []
    for (let s = 0; s < udl; s++) {
      const bit = s * 7
      septets.push((((ud[bit >> 3] ?? 0) | ((ud[(bit >> 3) + 1] ?? 0) << 8)) >> (bit & 7)) & 0x7f)
    }
    const chars: number[] = []
    const body = septets.slice(Math.ceil((headerOctets * 8) / 7))
    for (let s = 0; s < body.length; s++) {
      if (body[s] === 0x1b) chars.push(GSM_EXTENSION[body[++s]!] ?? 0x3f)
      else chars.push(GSM_CODEPOINTS[body[s]!]!)
    }
    text = String.fromCodePoint(...chars)
  } else {
    throw new Error(`unexpected DCS ${dcs}`)
  }
  return { sca, scaOctets, tpduLength, first, phone, dcs, udl, udh, text }
}

/** How a {@link wedgeablePorts} binding misbehaves; change it at any time. */
export interface Wedges {
  /** A write whose data this accepts never completes, and its bytes never reach the modem. */
  write?: ((data: Buffer) => boolean) | undefined
  /** `flush` (tcflush) never completes. */
  flush?: boolean | undefined
  /**
   * `close` lets go of the descriptor (as the Linux binding does before its close(2)) but does
   * not report completion until {@link WedgeablePorts.unwedge}: a driver draining unsent output.
   */
  close?: boolean | undefined
}

export interface WedgeablePorts {
  /** Pass to `createModemProvider` / `AtChannel.open`. */
  readonly factory: PortFactory
  /** Every port object made, oldest first. */
  readonly ports: SerialPort[]
  wedges: Wedges
  /** Calls that are stuck right now, by kind. */
  readonly stuck: { write: number; flush: number; close: number }
  /** `flush` calls so far (stuck or not). */
  readonly flushes: number
  /** Lets every stuck call complete (a wedged write fails, as when the device goes away). */
  unwedge(): void
}

/**
 * Real serial ports (the native binding, e.g. on the scripted modem's pty) whose binding can be
 * wedged: a write, the flush or the close that never completes, as a hung USB modem driver does.
 */
export function wedgeablePorts(initial: Wedges = {}): WedgeablePorts {
  const ports: SerialPort[] = []
  const release: Array<() => void> = []
  const stuck = { write: 0, flush: 0, close: 0 }
  let flushes = 0
  const hang = (kind: keyof typeof stuck) =>
    new Promise<void>((resolve, reject) => {
      stuck[kind]++
      release.push(() => {
        stuck[kind]--
        if (kind === 'write') reject(Object.assign(new Error('write canceled'), { canceled: true }))
        else resolve()
      })
    })
  const state: WedgeablePorts = {
    ports,
    wedges: initial,
    stuck,
    get flushes() {
      return flushes
    },
    factory: async (path, baudRate) => {
      const port = new SerialPort({ path, baudRate, autoOpen: false })
      ports.push(port)
      port.once('open', () => {
        const binding = port.port
        if (binding === undefined) return
        const write = binding.write.bind(binding)
        const flush = binding.flush.bind(binding)
        const close = binding.close.bind(binding)
        binding.write = (data) => (state.wedges.write?.(data) ? hang('write') : write(data))
        binding.flush = () => {
          flushes++
          return state.wedges.flush ? hang('flush') : flush()
        }
        binding.close = async () => {
          if (!state.wedges.close) return close()
          await close()
          await hang('close')
        }
      })
      return port
    },
    unwedge() {
      for (const fn of release.splice(0)) fn()
    },
  }
  return state
}
