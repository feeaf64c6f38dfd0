/**
 * RFC 4515 escaping of an assertion value, so a login can never change the shape of an LDAP
 * filter: `*)(uid=*` becomes `\2a\29\28uid=\2a`, a literal that matches no one.
 */

/**
 * Escapes `*`, `(`, `)`, `\`, NUL and other control characters as `\XX` (hex of the UTF-8 byte).
 * @example escapeFilterValue('*)(uid=*') // '\\2a\\29\\28uid=\\2a'
 */
export function escapeFilterValue(value: string): string {
  // eslint-disable-next-line no-control-regex -- NUL and control characters are exactly what must be escaped
  return value.replace(/[*()\\\x00-\x1f\x7f]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}
