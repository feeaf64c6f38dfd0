/**
 * A hard deadline for one provider operation. Providers are asked to honour their AbortSignal,
 * but a call that ignores it (a file system call that never settles — Node's recursive `mkdir`
 * under /proc spins forever — a third-party client that never times out) must not hold a PIN
 * request or an admin call open: the deadline answers anyway.
 */
import { OtpError } from '../errors.js'

/**
 * Runs `operation` with a signal that aborts after `ms` (or when `outer` aborts) and settles no
 * later than that: at the deadline it rejects with `ERR_OTP_TIMEOUT` (HTTP 504) even if the
 * operation is still running. Its timer and listener are removed as soon as it settles.
 * @example
 * const result = await withDeadline(60_000, (signal) => provider.send(msg, signal), 'provider send')
 */
export function withDeadline<T>(ms: number, operation: (signal: AbortSignal) => Promise<T>, what = 'the operation', outer?: AbortSignal): Promise<T> {
  const controller = new AbortController()
  return new Promise<T>((resolve, reject) => {
    let done = false
    const finish = (settle: () => void) => {
      if (done) return
      done = true
      clearTimeout(timer)
      outer?.removeEventListener('abort', onOuterAbort)
      settle()
    }
    const timer = setTimeout(() => {
      const err = new OtpError('ERR_OTP_TIMEOUT', `${what} did not finish within ${ms} ms`, { status: 504 })
      finish(() => reject(err))
      controller.abort(err)
    }, ms)
    const onOuterAbort = () => controller.abort(outer?.reason)
    if (outer?.aborted) controller.abort(outer.reason)
    else outer?.addEventListener('abort', onOuterAbort, { once: true })
    let running: Promise<T>
    try {
      running = operation(controller.signal)
    } catch (err) {
      finish(() => reject(err))
      return
    }
    running.then(
      (value) => finish(() => resolve(value)),
      (err: unknown) => finish(() => reject(err)),
    )
  })
}
