/**
 * Starts an example as a user runs it (`npx tsx examples/NAME/server.ts`): its own process, with
 * `PORT` and `DATA_DIR` in the environment, and reads the SMS outbox it writes
 * (`$DATA_DIR/sms-outbox.log`, one `<phone>:<otp>` line per SMS).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface ExampleProcess {
  readonly child: ChildProcess
  readonly port: number
  readonly url: string
  readonly dataDir: string
  /** stdout + stderr so far (for failure messages). */
  output(): string
  /** The SMS lines written so far, oldest first. */
  outbox(): { phone: string; otp: string }[]
  /** Waits until an SMS to `phone` newer than `after` (a count of lines seen before) arrives. */
  nextSms(phone: string, after: number, timeoutMs?: number): Promise<string>
  stop(): Promise<void>
}

/** A free loopback port (and, with `pair`, the one after it free as well). */
export async function freePort(pair = false): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((ok, fail) => {
      const s = createServer()
      s.once('error', fail)
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port
        s.close(() => ok(p))
      })
    })
    if (!pair || port >= 65535) return port
    const next = await new Promise<boolean>((ok) => {
      const s = createServer()
      s.once('error', () => ok(false))
      s.listen(port + 1, '127.0.0.1', () => s.close(() => ok(true)))
    })
    if (next) return port
  }
}

/**
 * Runs `examples/NAME/server.ts` with tsx and resolves once it answers HTTP on its port.
 * @param env extra environment (e.g. `OIDC_ISSUER`)
 */
export async function startExample(name: string, options: { env?: NodeJS.ProcessEnv; portPair?: boolean; readyPath?: string } = {}): Promise<ExampleProcess> {
  // A port found free can be taken by a parallel test before the example listens: try again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(name, options)
    } catch (err) {
      if (attempt >= 3 || !(err instanceof Error) || !err.message.includes('EADDRINUSE')) throw err
    }
  }
}

async function startOnce(name: string, options: { env?: NodeJS.ProcessEnv; portPair?: boolean; readyPath?: string }): Promise<ExampleProcess> {
  const port = await freePort(options.portPair ?? false)
  const dataDir = mkdtempSync(join(tmpdir(), `sms-otp-example-${name}-`))
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'examples', name, 'server.ts')], {
    cwd: root,
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`example ${name} exited with ${child.exitCode}:\n${out}`)
    try {
      await fetch(url + (options.readyPath ?? '/'), { redirect: 'manual' })
      break
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL')
        throw new Error(`example ${name} did not answer on ${url} within 60 s:\n${out}`)
      }
      await new Promise((r) => setTimeout(r, 200))
    }
  }
  const outboxFile = join(dataDir, 'sms-outbox.log')
  const outbox = (): { phone: string; otp: string }[] => {
    if (!existsSync(outboxFile)) return []
    return readFileSync(outboxFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const i = l.lastIndexOf(':')
        return { phone: l.slice(0, i), otp: l.slice(i + 1) }
      })
  }
  return {
    child,
    port,
    url,
    dataDir,
    output: () => out,
    outbox,
    async nextSms(phone, after, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs
      for (;;) {
        const hit = outbox().slice(after).find((m) => m.phone === phone)
        if (hit) return hit.otp
        if (Date.now() > end) throw new Error(`no SMS to ${phone} after line ${after}; outbox: ${JSON.stringify(outbox().map((m) => m.phone))}\n${out}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    },
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    },
  }
}
