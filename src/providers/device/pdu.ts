/**
 * SMS-SUBMIT PDUs (3GPP TS 23.040 §9.2.2.2) for AT+CMGS in PDU mode: GSM 7-bit packed when the
 * text fits the default alphabet, UCS-2 otherwise, split into concatenated parts (8-bit reference
 * UDH, §9.2.3.24.1) when it does not fit one SMS.
 */
import { gsmSeptets } from '../gsm.js'

/** One SMS-SUBMIT ready for `AT+CMGS=<length>`. */
export interface SubmitPdu {
  /** Hex of the whole PDU, starting with the SCA length octet `00` (use the SIM's SMSC). */
  readonly hex: string
  /** TPDU length in octets: the PDU without the SCA octet, the value for `AT+CMGS=`. */
  readonly length: number
}

export interface PduOptions {
  /** Reference shared by the parts of one concatenated message (0–255). */
  readonly reference: number
  /**
   * Relative validity period octet (TP-VPF = relative); omitted by default (TP-VPF = none: the
   * SMSC's default validity applies).
   */
  readonly validityPeriod?: number
  /** Refuse texts that need more parts. @default 10 */
  readonly maxParts?: number
}

/** Thrown for a destination or text the encoder cannot carry; the message names no content. */
export class PduError extends Error {
  override readonly name = 'PduError'
}

const UDH_CONCAT_OCTETS = 6 // UDHL 05, IEI 00, IEDL 03, reference, total, sequence

/**
 * Encodes `text` for `phone` (`+` and digits only) as one or more SMS-SUBMIT PDUs.
 * @throws PduError for an unusable number or a text longer than `maxParts` SMS.
 * @example encodeSubmit('+46708251358', 'hellohello', { reference: 0 })[0].hex
 *   // '0001000B916407281553F800000AE8329BFD4697D9EC37'
 */
export function encodeSubmit(phone: string, text: string, options: PduOptions): SubmitPdu[] {
  const address = encodeAddress(phone)
  const maxParts = options.maxParts ?? 10
  const septets = gsmSeptets(text)
  const parts: Array<{ ud: Uint8Array; udl: number; dcs: number }> = []
  const header = (total: number, seq: number) =>
    total === 1 ? undefined : Uint8Array.of(0x05, 0x00, 0x03, options.reference & 0xff, total, seq)

  if (septets !== undefined) {
    const chunks = septets.length <= 160 ? [septets] : splitSeptets(septets, 160 - 7) // a 6-octet UDH takes 7 septets
    checkParts(chunks.length, maxParts)
    chunks.forEach((chunk, i) => {
      const udh = header(chunks.length, i + 1)
      parts.push({ ud: packSeptets(chunk, udh), udl: (udh === undefined ? 0 : 7) + chunk.length, dcs: 0x00 })
    })
  } else {
    const units = [...text] // code points, so a surrogate pair is never split
    const chunks = text.length <= 70 ? [units] : splitUnits(units, (140 - UDH_CONCAT_OCTETS) / 2)
    checkParts(chunks.length, maxParts)
    chunks.forEach((chunk, i) => {
      const udh = header(chunks.length, i + 1)
      const body = Buffer.from(chunk.join(''), 'utf16le').swap16() // UCS-2 is big-endian
      const ud = udh === undefined ? body : Buffer.concat([udh, body])
      parts.push({ ud, udl: ud.length, dcs: 0x08 })
    })
  }

  return parts.map(({ ud, udl, dcs }) => {
    const vp = options.validityPeriod
    // TP-MTI 01 (SMS-SUBMIT), TP-VPF 10 (relative) or 00, TP-UDHI when the parts carry a UDH
    const first = 0x01 | (vp === undefined ? 0 : 0x10) | (parts.length > 1 ? 0x40 : 0)
    const tpdu = Buffer.concat([
      Uint8Array.of(first, 0x00), // TP-MR 0: the modem assigns the reference
      address,
      Uint8Array.of(0x00, dcs), // TP-PID, TP-DCS
      vp === undefined ? new Uint8Array(0) : Uint8Array.of(vp & 0xff),
      Uint8Array.of(udl),
      ud,
    ])
    return Object.freeze({ hex: `00${tpdu.toString('hex').toUpperCase()}`, length: tpdu.length })
  })
}

function checkParts(count: number, max: number): void {
  if (count > max) throw new PduError(`the text needs ${count} SMS parts, more than the ${max} allowed`)
}

/** TP-DA: digit count, type of address (0x91 international, 0x81 unknown/ISDN), BCD semi-octets. */
export function encodeAddress(phone: string): Buffer {
  const match = /^(\+?)([0-9]{1,20})$/.exec(phone)
  if (!match) throw new PduError('the destination must be an optional + and 1 to 20 digits')
  const digits = match[2] as string
  const padded = digits.length % 2 === 1 ? `${digits}F` : digits
  const bcd = Buffer.alloc(padded.length / 2)
  for (let i = 0; i < padded.length; i += 2) bcd[i / 2] = parseInt(`${padded[i + 1]}${padded[i]}`, 16)
  return Buffer.concat([Uint8Array.of(digits.length, match[1] === '+' ? 0x91 : 0x81), bcd])
}

/**
 * Packs septets LSB first (§6.1.2.1.1). With a UDH the header octets come first, then fill bits
 * up to the next septet boundary, so the text starts on a septet an old phone can find.
 */
export function packSeptets(septets: readonly number[], udh?: Uint8Array): Buffer {
  const headerBits = udh === undefined ? 0 : udh.length * 8
  const fill = (7 - (headerBits % 7)) % 7
  const totalBits = headerBits + fill + septets.length * 7
  const out = Buffer.alloc(Math.ceil(totalBits / 8))
  if (udh !== undefined) out.set(udh, 0)
  let bit = headerBits + fill
  for (const s of septets) {
    for (let b = 0; b < 7; b++, bit++) {
      if ((s >> b) & 1) out[bit >> 3] = (out[bit >> 3] as number) | (1 << (bit & 7))
    }
  }
  return out
}

/** Splits septets into chunks of at most `size`, never between an escape and its character. */
function splitSeptets(septets: readonly number[], size: number): number[][] {
  const chunks: number[][] = []
  let i = 0
  while (i < septets.length) {
    let end = Math.min(i + size, septets.length)
    if (end < septets.length && septets[end - 1] === 0x1b) end -= 1
    chunks.push(septets.slice(i, end))
    i = end
  }
  return chunks
}

/** Splits code points into chunks of at most `size` UTF-16 units. */
function splitUnits(points: readonly string[], size: number): string[][] {
  const chunks: string[][] = [[]]
  let used = 0
  for (const p of points) {
    if (used + p.length > size) {
      chunks.push([])
      used = 0
    }
    ;(chunks[chunks.length - 1] as string[]).push(p)
    used += p.length
  }
  return chunks
}
