/**
 * The GSM 03.38 (3GPP TS 23.038) default alphabet and its extension table, and the choice of
 * encoding for an SMS text. Used by the PDU encoder and by the text-mode safety check.
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

/**
 * Characters whose code is the same in ASCII (AT+CSCS "IRA") and in the GSM default alphabet
 * (AT+CSCS "GSM"): letters, digits, space and the common punctuation. A text made only of these
 * reaches the handset unchanged in text mode whatever character set the modem is set to, and it
 * contains no control character (CR, Ctrl-Z, ESC) that could end the AT+CMGS command early.
 */
const TEXT_MODE_SAFE = /^[A-Za-z0-9 !"#%&'()*+,\-./:;<=>?]*$/

/** The septets of `text` in the GSM default alphabet (extension characters as two septets), or undefined. */
export function gsmSeptets(text: string): number[] | undefined {
  const out: number[] = []
  for (const ch of text) {
    const basic = BASIC_INDEX.get(ch)
    if (basic !== undefined) {
      out.push(basic)
      continue
    }
    const ext = EXTENSION.get(ch)
    if (ext === undefined) return undefined
    out.push(0x1b, ext)
  }
  return out
}

/** Longest text for one SMS in text mode (GSM default alphabet, no concatenation). */
export const TEXT_MODE_MAX = 160

/** True when `text` can go out in AT text mode unchanged and without ending the command early. */
export function fitsTextMode(text: string): boolean {
  return text.length <= TEXT_MODE_MAX && TEXT_MODE_SAFE.test(text)
}
