/**
 * Store wrappers for concurrency tests.
 *
 * The memory and SQLite stores answer synchronously inside each call, so concurrent callers in a
 * test never interleave between calls. A networked backend (postgres, redis) yields between every
 * call: `yieldingStore` makes any store do the same (each call resolves after a random number of
 * macrotask turns, before and after the real call), which is what compare-and-set, reserve and
 * consume logic must survive.
 */
import type { Store } from '../../src/stores/types.js'

export const turn = (): Promise<void> => new Promise<void>((ok) => setImmediate(ok))

async function randomTurns(): Promise<void> {
  for (let i = Math.floor(Math.random() * 3); i >= 0; i--) await turn()
}

function yielding<T extends object>(obj: T): T {
  return new Proxy(obj, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver) as unknown
      if (typeof v !== 'function') return v
      return async (...args: unknown[]) => {
        await randomTurns()
        const r = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args)
        await randomTurns()
        return r
      }
    },
  })
}

/** `inner`, with every token, challenge and settings call yielding to the event loop before and after. */
export function yieldingStore(inner: Store): Store {
  return { tokens: yielding(inner.tokens), challenges: yielding(inner.challenges), settings: yielding(inner.settings), open: () => inner.open(), close: () => inner.close() }
}

/** A barrier for `n` async callers: each `await wait()` resolves once all `n` have arrived. */
export function barrier(n: number): () => Promise<void> {
  let arrived = 0
  let release: () => void = () => undefined
  const all = new Promise<void>((ok) => (release = ok))
  return async () => {
    if (++arrived === n) release()
    await all
  }
}
