/** Wraps a store once so that every call is timed into `sms_otp_store_operation_duration_seconds`. */
import type { Store } from '../stores/types.js'

/** Receives one timing per store call. */
export type StoreTimer = (op: string, seconds: number) => void

/**
 * A store whose `tokens`, `challenges` and `settings` methods report their duration (settled or
 * failed) under `op` = `<part>.<method>`. `open` and `close` pass straight through.
 */
export function instrumentStore(store: Store, timer: StoreTimer): Store {
  return {
    tokens: timed('tokens', store.tokens, timer),
    challenges: timed('challenges', store.challenges, timer),
    settings: timed('settings', store.settings, timer),
    open: () => store.open(),
    close: () => store.close(),
  }
}

function timed<T extends object>(part: string, target: T, timer: StoreTimer): T {
  const out: Record<string, unknown> = {}
  // Own and prototype methods alike; each bound to the original object.
  for (let o: object | null = target; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key === 'constructor' || key in out) continue
      const value = (target as Record<string, unknown>)[key]
      if (typeof value !== 'function') continue
      const fn = value as (...args: unknown[]) => unknown
      const op = `${part}.${key}`
      out[key] = (...args: unknown[]): unknown => {
        const started = performance.now()
        const done = (): void => timer(op, (performance.now() - started) / 1000)
        const result = fn.apply(target, args)
        if (result instanceof Promise) return result.finally(done)
        done()
        return result
      }
    }
  }
  return out as T // every method of T is copied above, wrapped with the same signature
}
