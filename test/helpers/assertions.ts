/** Small helpers the provider suites share. */
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { ConfigError } from '../../src/errors.js'

/** `fn` throws a ConfigError whose message equals `message` (string) or matches it (RegExp). */
export function assertConfigError(fn: () => unknown, message: RegExp | string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`)
    if (typeof message === 'string') assert.equal(err.message, message)
    else assert.match(err.message, message)
    return true
  })
}

/** A loopback port nothing listens on (for "connection refused" cases). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/**
 * A send that gave up because the gateway did not answer in time. Two timers guard a reply (the
 * transport's overall read deadline and undici's headers timeout, both set from the provider's
 * timeout); which one fires first depends on scheduling, so either reason is the right outcome.
 */
export function assertReadTimeout(result: unknown): void {
  assert.deepEqual(Object.keys(result as object).sort(), ['reason', 'status'])
  const r = result as { status: string; reason: string }
  assert.equal(r.status, 'unavailable')
  assert.match(r.reason, /^no reply within the (read )?timeout \((ETIMEDOUT|UND_ERR_HEADERS_TIMEOUT)\)$/)
}
