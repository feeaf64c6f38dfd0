/**
 * The GSM 03.38 (3GPP TS 23.038) default alphabet and its extension table, and what a text costs
 * in SMS parts. Shared by the providers that encode texts themselves (SMPP, the modem's PDU mode)
 * and by the request-text cap of the engine.
 */

/** Default alphabet, index = septet value. 0x1B is the escape to the extension table. */
const BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà'

/** Extension table: character → septet that follows the 0x1B escape. */
const EXTENSION: ReadonlyMap<string, number> = new Map([
  ['\f', 0x0a], ['^', 0x14], ['{', 0x28], ['}', 0x29], ['\\', 0x2f],
  ['[', 0x3c], ['~', 0x3d], [']', 0x3e], ['|', 0x40], ['€', 0x65],
])

const BASIC_INDEX: ReadonlyMap<string, number> = new Map(
  [...BASIC].map((ch, i) => [ch, i] as const).filter(([ch]) => ch !== '\x1b'),
)

/** The 128 characters of the default alphabet (index 0x1B is the escape, not a character). */
export const GSM_BASIC_ALPHABET: string = BASIC

const EXTENSION_CHAR: ReadonlyMap<number, string> = new Map([...EXTENSION].map(([ch, code]) => [code, ch]))

/** Septets in one SMS without a UDH. */
export const GSM7_SINGLE = 160
/** Septets per part of a concatenated SMS (160 minus the 6-octet UDH = 7 septets). */
export const GSM7_PART = 153
/** UCS-2 characters (UTF-16 code units) in one SMS: 140 octets. */
export const UCS2_SINGLE = 70
/** UCS-2 code units per part of a concatenated SMS: (140 - 6) / 2. */
export const UCS2_PART = 67

/** The septets of one character (two for an extension character), or undefined when it is not GSM. */
export function charSeptets(ch: string): readonly number[] | undefined {
  const basic = BASIC_INDEX.get(ch)
  if (basic !== undefined) return [basic]
  const ext = EXTENSION.get(ch)
  return ext === undefined ? undefined : [0x1b, ext]
}

/** The septets of `text` in the GSM default alphabet (extension characters as two septets), or undefined. */
export function gsmSeptets(text: string): number[] | undefined {
  const out: number[] = []
  for (const ch of text) {
    const septets = charSeptets(ch)
    if (septets === undefined) return undefined
    out.push(...septets)
  }
  return out
}

/** Decodes unpacked septets (the inverse of {@link gsmSeptets}); unknown escapes decode as a space. */
export function decodeGsmSeptets(septets: Uint8Array): string {
  let out = ''
  for (let i = 0; i < septets.length; i++) {
    const code = septets[i] as number
    if (code === 0x1b) out += EXTENSION_CHAR.get(septets[++i] ?? -1) ?? ' '
    else out += BASIC[code & 0x7f]
  }
  return out
}

/**
 * SMS parts a text needs: GSM 03.38 when every character fits (160 septets, 153 per part of a
 * longer message), else UCS-2 (70 code units, 67 per part).
 */
export function smsParts(text: string): number {
  const septets = gsmSeptets(text)?.length
  if (septets !== undefined) return septets <= GSM7_SINGLE ? 1 : Math.ceil(septets / GSM7_PART)
  return text.length <= UCS2_SINGLE ? 1 : Math.ceil(text.length / UCS2_PART)
}
