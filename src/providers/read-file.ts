/**
 * The one way providers read a file named in their config (a CA file, a client certificate, a
 * gnokiirc). `readFileSync` on a FIFO or a character device blocks the whole event loop until a
 * writer appears or the device answers — forever, and no deadline can fire while the loop is
 * blocked. A FIFO or device is never a valid certificate or gnokiirc, so the file is opened
 * without blocking (O_NONBLOCK), judged on its open descriptor (fstat: a regular file, not larger
 * than a cap) and only then read. Judging the descriptor, not the path, leaves no gap in which
 * the path could be swapped for a FIFO after the check; the path is judged before the open as
 * well, so a device is not even opened.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, statSync, type Stats } from 'node:fs'
import { ConfigError } from '../errors.js'

/** Larger than any certificate chain or gnokiirc. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024

export interface ReadRegularFileOptions {
  /** Refuse a final symbolic link (ELOOP): for paths of admin-defined providers, already resolved by realpath. @default false */
  readonly noFollow?: boolean
  /** @default {@link MAX_CONFIG_FILE_BYTES} (1 MiB) */
  readonly maxBytes?: number
}

/**
 * Reads a regular file as UTF-8 without ever blocking on a FIFO or device.
 * @throws ConfigError naming `key` when the path is not a regular file (`CONFIGFILE: '/dev/ttyS0'
 *   is not a file (a device)`) or is larger than `maxBytes`; the file system's own error (with its
 *   `code`, e.g. ENOENT, EACCES, ELOOP) when it cannot be opened or read, for the caller to word.
 * @example
 * const pem = readRegularFile('/etc/ssl/gateway-ca.pem', 'SERVER_CERTIFICATE')
 */
export function readRegularFile(path: string, key: string, options: ReadRegularFileOptions = {}): string {
  const maxBytes = options.maxBytes ?? MAX_CONFIG_FILE_BYTES
  // Judged by the path first too: opening a device can itself act (a serial port raises DTR).
  const before = (options.noFollow === true ? lstatSync : statSync)(path)
  if (!before.isFile() && !before.isSymbolicLink()) throw new ConfigError(`${key}: '${path}' is not a file (${kind(before)})`)
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (options.noFollow === true ? constants.O_NOFOLLOW : 0))
  try {
    const info = fstatSync(fd)
    if (!info.isFile()) throw new ConfigError(`${key}: '${path}' is not a file (${kind(info)})`)
    if (info.size > maxBytes) throw new ConfigError(`${key}: '${path}' is larger than ${maxBytes} bytes`)
    // Read to the end, but never past the cap: the file may grow while it is read.
    const buffer = Buffer.alloc(maxBytes + 1)
    let length = 0
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null)
      if (n === 0) break
      length += n
    }
    if (length > maxBytes) throw new ConfigError(`${key}: '${path}' is larger than ${maxBytes} bytes`)
    return buffer.subarray(0, length).toString('utf8')
  } finally {
    closeSync(fd)
  }
}

function kind(info: Stats): string {
  if (info.isDirectory()) return 'a directory'
  if (info.isFIFO()) return 'a FIFO'
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device'
  if (info.isSocket()) return 'a socket'
  return 'not a regular file'
}
