/**
 * What may go out in AT text mode (AT+CMGF=1): the modem takes the text as typed characters, in
 * whatever character set it is set to, and a control character ends the command.
 */

/**
 * Characters whose code is the same in ASCII (AT+CSCS "IRA") and in the GSM default alphabet
 * (AT+CSCS "GSM"): letters, digits, space and the common punctuation. A text made only of these
 * reaches the handset unchanged in text mode whatever character set the modem is set to, and it
 * contains no control character (CR, Ctrl-Z, ESC) that could end the AT+CMGS command early.
 */
const TEXT_MODE_SAFE = /^[A-Za-z0-9 !"#%&'()*+,\-./:;<=>?]*$/

/** Longest text for one SMS in text mode (GSM default alphabet, no concatenation). */
export const TEXT_MODE_MAX = 160

/** True when `text` can go out in AT text mode unchanged and without ending the command early. */
export function fitsTextMode(text: string): boolean {
  return text.length <= TEXT_MODE_MAX && TEXT_MODE_SAFE.test(text)
}
