/**
 * Listening and stopping, the same for every example: 127.0.0.1 only, a clear exit when the port
 * is taken, and SIGINT / SIGTERM close the server (open connections too), then the rest.
 */
import type { Server } from 'node:http'
import type { Express } from 'express'

/** Listens on 127.0.0.1:`port`; `close()` ends open connections too. */
export async function listenOnLoopback(app: Express, port: number): Promise<{ close(): Promise<void> }> {
  const server: Server = app.listen(port, '127.0.0.1')
  await new Promise<void>((ok, fail) => {
    server.once('listening', ok)
    server.once('error', fail)
  })
  return {
    close: () => new Promise<void>((ok) => {
      server.close(() => ok())
      server.closeAllConnections()
    }),
  }
}

/**
 * Serves an example's app until a signal: `ready` runs once it listens; on SIGINT / SIGTERM the
 * server closes, then `close` (engine, demo provider, …), and the process exits.
 */
export async function serveExample(app: Express, port: number, hooks: { ready(): void; close(): Promise<unknown> }): Promise<void> {
  let listening: { close(): Promise<void> }
  try {
    listening = await listenOnLoopback(app, port)
  } catch (err) {
    console.error(`cannot listen on 127.0.0.1:${port}: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  }
  hooks.ready()
  let stopping = false
  const stop = async (): Promise<void> => {
    if (stopping) return
    stopping = true
    await listening.close()
    await hooks.close()
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stop().then(() => process.exit(0), (err: unknown) => {
        console.error(err)
        process.exit(1)
      })
    })
  }
}
