/**
 * Durability of SQLite commits without blocking the event loop.
 *
 * With `synchronous=FULL`, SQLite calls fsync on the WAL inside every COMMIT, on the thread that
 * runs it: the event loop, which then serves nothing for the length of the fsync (a quarter of a
 * loaded sidecar's time). Instead the store runs `synchronous=NORMAL` (SQLite itself syncs only
 * around checkpoints, so a checkpoint never loses a frame) and makes each commit durable here:
 * `fdatasync` of the WAL file in the libuv thread pool, one at a time, each one covering every
 * commit made before it started. Nobody is answered before their commit is on disk, so the
 * guarantee is FULL's (a committed counter advance survives a power cut), and commits that pile up
 * during one fsync share the next.
 *
 * After a failed fdatasync nothing is known about what reached the disk (Linux may even report a
 * later fsync as successful), so the store stops: every later operation fails until a restart.
 */
import { closeSync, fdatasync, openSync } from 'node:fs'

/** The fsync step, injectable for tests. @default node:fs `fdatasync` */
export type SyncFn = (fd: number, done: (err: Error | null) => void) => void

interface Waiter {
  readonly seq: number
  readonly ok: () => void
  readonly fail: (err: unknown) => void
}

/** Commit sequence numbers and the fsyncs that make them durable. */
export class WalSync {
  #committed = 0
  #synced = 0
  #syncing = false
  #fd: number | undefined
  #failure: Error | undefined
  readonly #waiters: Waiter[] = []

  /**
   * @param walPath the database's `-wal` file
   * @param failure builds the error callers get once a sync failed
   * @param sync the fsync step
   */
  constructor(
    private readonly walPath: string,
    private readonly failure: (cause: unknown) => Error,
    private readonly sync: SyncFn = fdatasync,
  ) {}

  /** The error every operation gets after a failed sync, if one failed. */
  get failed(): Error | undefined {
    return this.#failure
  }

  /** Records a commit and starts (or queues) its fsync; returns its sequence number. */
  committed(): number {
    const seq = ++this.#committed
    this.#kick()
    return seq
  }

  /** Resolves once commit `seq` (by default every commit so far) is on disk. */
  durable(seq = this.#committed): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure)
    if (seq <= this.#synced) return Promise.resolve()
    return new Promise((ok, fail) => this.#waiters.push({ seq, ok, fail }))
  }

  /** Waits for every commit to be durable, then closes the WAL file. */
  async close(): Promise<void> {
    try {
      await this.durable()
    } finally {
      if (this.#fd !== undefined) closeSync(this.#fd)
      this.#fd = undefined
    }
  }

  #kick(): void {
    if (this.#syncing || this.#failure || this.#synced >= this.#committed) return
    const target = this.#committed
    try {
      // Opened once the first commit has made the file; SQLite keeps it while a connection is open.
      this.#fd ??= openSync(this.walPath, 'r+')
    } catch (err) {
      this.#fail(err)
      return
    }
    this.#syncing = true
    this.sync(this.#fd, (err) => {
      this.#syncing = false
      if (err) return this.#fail(err)
      this.#synced = target
      let i = 0
      while (i < this.#waiters.length && (this.#waiters[i] as Waiter).seq <= target) i++
      for (const w of this.#waiters.splice(0, i)) w.ok()
      this.#kick()
    })
  }

  #fail(cause: unknown): void {
    this.#failure = this.failure(cause)
    for (const w of this.#waiters.splice(0)) w.fail(this.#failure)
  }
}
