/**
 * `npm run bench:memory`: resident memory of 1,000,000 open challenges in the memory store and in
 * the strategy's LRU handle home, each in a fresh process (`--expose-gc`), and what a flood past
 * the bound does (the oldest go, no error). Prints MB of RSS above the process's start.
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const N = Number(process.env.BENCH_CHALLENGES ?? 1_000_000)
const self = fileURLToPath(import.meta.url)
/** A 17-digit transaction id, distinct per i. */
const txid = (i: number): string => `1${String(i).padStart(16, '0')}`

async function measure(kind: 'store' | 'handles'): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined)
  gc()
  const before = process.memoryUsage().rss
  if (kind === 'store') {
    const { createMemoryStore } = await import('../src/stores/memory.js')
    const store = createMemoryStore({ maxChallenges: N })
    await store.open()
    const now = Date.now()
    for (let i = 0; i < N + N / 10; i++) {
      // Past N the oldest are evicted: the flood must neither throw nor grow memory.
      await store.challenges.create({ transactionId: txid(i), serial: `T${i % 100_000}`, counter: i, createdAt: now, expiresAt: now + 600_000, provider: 'gw' })
    }
    const oldest = await store.challenges.findOpen(txid(0), now)
    const newest = await store.challenges.findOpen(txid(N + N / 10 - 1), now)
    gc()
    const mb = (process.memoryUsage().rss - before) / 1e6
    console.log(JSON.stringify({ kind, challenges: N, flood: N / 10, rssMb: Math.round(mb), oldestEvicted: oldest.length === 0, newestKept: newest.length === 1 }))
  } else {
    const { handleHome } = await import('../src/login/pending.js')
    const home = handleHome({ max: N, ttlMs: 600_000 })
    const now = Date.now()
    let first: string | undefined
    for (let i = 0; i < N + N / 10; i++) {
      const h = home.put({}, { user: `user${i}`, realm: 'example', transactionId: txid(i), expiresAt: now + 300_000, resendAt: now + 30_000, attempts: 0, maskedPhone: '+49*******5678' })
      first ??= h
    }
    gc()
    const mb = (process.memoryUsage().rss - before) / 1e6
    console.log(JSON.stringify({ kind, challenges: N, flood: N / 10, rssMb: Math.round(mb), oldestEvicted: home.peek({ handle: first }) === undefined }))
  }
}

const kind = process.argv[2]
if (kind === 'store' || kind === 'handles') await measure(kind)
else {
  console.log(`\n${N.toLocaleString('en')} open challenges (+10 % flood past the bound), RSS above the process start; goal ≤ 300 MB\n`)
  for (const k of ['store', 'handles'] as const) {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', import.meta.resolve('tsx'), self, k], { encoding: 'utf8', maxBuffer: 1 << 20 })
    const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>
    console.log(`${(k === 'store' ? 'memory store (challenges)' : 'strategy LRU handle home').padEnd(30)} ${String(r.rssMb).padStart(5)} MB   oldest evicted: ${String(r.oldestEvicted)}${r.newestKept === undefined ? '' : `, newest kept: ${String(r.newestKept)}`}`)
  }
}
