/**
 * SMS text encoding for SMPP: GSM 03.38 default alphabet (data_coding 0) when every character of
 * the text is in it, else UCS-2 (UTF-16BE, data_coding 8). Texts longer than one SMS are split
 * into concatenated parts with a 6-octet UDH (IEI 0x00, 8-bit reference), as handsets expect.
 *
 * GSM-7 is sent unpacked, one septet per octet: that is what SMPP SMSCs expect in `short_message`
 * for data_coding 0 (packing happens on the air interface).
 */

import { GSM7_PART, GSM7_SINGLE, UCS2_PART, UCS2_SINGLE, charSeptets, decodeGsmSeptets, gsmSeptets } from '../gsm.js'

export { GSM7_PART, GSM7_SINGLE, UCS2_PART, UCS2_SINGLE }
/** The UDH's part counter is one octet. */
export const MAX_PARTS = 255

/** A text ready for `submit_sm`. */
export interface EncodedSms {
  readonly encoding: 'gsm7' | 'ucs2'
  /** SMPP data_coding: 0 (SMSC default alphabet, GSM 03.38) or 8 (UCS-2). */
  readonly dataCoding: 0 | 8
  /** SMPP esm_class: 0x40 (UDH indicator) for concatenated parts, else 0. */
  readonly esmClass: 0 | 0x40
  /** The complete `short_message` octets of each part, UDH included when there are several. */
  readonly parts: readonly Buffer[]
}

/**
 * The text as unpacked GSM 03.38 septets, or undefined when a character is outside the default
 * alphabet and its extension table.
 * @example encodeGsm7('a€') // <Buffer 61 1b 65>
 */
export function encodeGsm7(text: string): Buffer | undefined {
  const septets = gsmSeptets(text)
  return septets === undefined ? undefined : Buffer.from(septets)
}

/** Decodes unpacked septets (the inverse of {@link encodeGsm7}); unknown escapes decode as a space. */
export function decodeGsm7(septets: Uint8Array): string {
  return decodeGsmSeptets(septets)
}

/** Septets the text needs in GSM 03.38 (extension characters count 2), or undefined if it does not fit. */
export function gsm7Length(text: string): number | undefined {
  return encodeGsm7(text)?.length
}

/** The 6-octet concatenation UDH: length 5, IEI 0x00 (8-bit reference), IE length 3, ref, total, seq. */
export function concatUdh(reference: number, total: number, seq: number): Buffer {
  return Buffer.from([0x05, 0x00, 0x03, reference & 0xff, total, seq])
}

/**
 * Encodes a text into one or more `short_message` payloads.
 * @param reference the concatenation reference shared by all parts (0-255); unused for one part.
 * @throws RangeError when the text needs more than {@link MAX_PARTS} parts.
 */
export function encodeSms(text: string, reference: number): EncodedSms {
  const gsm = encodeGsm7(text)
  if (gsm !== undefined) {
    if (gsm.length <= GSM7_SINGLE) return Object.freeze({ encoding: 'gsm7', dataCoding: 0, esmClass: 0, parts: Object.freeze([gsm]) })
    return concatenated('gsm7', splitGsm7(text), reference)
  }
  const units = utf16be(text)
  if (units.length <= UCS2_SINGLE * 2) return Object.freeze({ encoding: 'ucs2', dataCoding: 8, esmClass: 0, parts: Object.freeze([units]) })
  return concatenated('ucs2', splitUcs2(units), reference)
}

function concatenated(encoding: 'gsm7' | 'ucs2', chunks: Buffer[], reference: number): EncodedSms {
  if (chunks.length > MAX_PARTS) throw new RangeError(`text needs ${chunks.length} SMS parts, at most ${MAX_PARTS} are possible`)
  const parts = chunks.map((chunk, i) => Buffer.concat([concatUdh(reference, chunks.length, i + 1), chunk]))
  return Object.freeze({ encoding, dataCoding: encoding === 'gsm7' ? 0 : 8, esmClass: 0x40, parts: Object.freeze(parts) })
}

/** Splits at character boundaries, so an escape pair never straddles two parts. */
function splitGsm7(text: string): Buffer[] {
  const chunks: Buffer[] = []
  let current: number[] = []
  for (const ch of text) {
    const septets = charSeptets(ch) as readonly number[] // the caller checked that the text is GSM
    if (current.length + septets.length > GSM7_PART) {
      chunks.push(Buffer.from(current))
      current = []
    }
    current.push(...septets)
  }
  if (current.length > 0) chunks.push(Buffer.from(current))
  return chunks
}

/** Splits UTF-16BE octets into parts of 67 code units, never between the two halves of a surrogate pair. */
function splitUcs2(units: Buffer): Buffer[] {
  const chunks: Buffer[] = []
  let start = 0
  while (start < units.length) {
    let end = Math.min(start + UCS2_PART * 2, units.length)
    if (end < units.length) {
      const last = units.readUInt16BE(end - 2)
      const next = units.readUInt16BE(end)
      if (last >= 0xd800 && last <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) end -= 2
    }
    chunks.push(units.subarray(start, end))
    start = end
  }
  return chunks
}

/** UTF-16BE octets of a string (UCS-2 on the wire; characters beyond the BMP as surrogate pairs). */
function utf16be(text: string): Buffer {
  return Buffer.from(text, 'utf16le').swap16()
}
