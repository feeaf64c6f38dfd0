/**
 * Argument parsers shared by the `sms-otp` commands (commander `argParser`s): each throws
 * commander's `InvalidArgumentError`, which the CLI reports with the option's name.
 */
import { InvalidArgumentError } from 'commander'

/** A TCP port, 0–65535. */
export function port(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535')
  return n
}

/** Whole seconds, 1–3600. */
export function seconds(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > 3600) throw new InvalidArgumentError('expected whole seconds from 1 to 3600')
  return n
}

/** A non-negative integer (limits, offsets). */
export function count(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a whole number (0 or more)')
  return n
}

/** Collects a repeatable option. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}
