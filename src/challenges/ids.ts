import { randomInt } from 'node:crypto'

/**
 * A transaction id: `length` random decimal digits (12 to 17, LinOTP `TransactionIdLength`),
 * first digit 1-9, from node:crypto.
 */
export function newTransactionId(length = 17): string {
  let id = String(randomInt(1, 10))
  while (id.length < length) id += String(randomInt(0, 10))
  return id
}

/** Accepted shape of a transaction id in requests: digits with an optional `.NN` sub id. */
export const TRANSACTION_ID = /^[1-9][0-9]{0,19}(\.[0-9]{1,3})?$/

/** Sub id for the n-th token (1-based) of a multi-token trigger: `<base>.01`. */
export function subTransactionId(base: string, n: number): string {
  return `${base}.${String(n).padStart(2, '0')}`
}
