/**
 * `sms-otp serve` as a real child process (the CLI through tsx), for tests that need what a user
 * runs: flags, stdout, signals.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface ServeProcess {
  readonly child: ChildProcess
  readonly url: string
  /** Everything printed to stdout so far. */
  stdout(): string
  /** SIGTERM, and resolves when the process has exited. */
  stop(): Promise<void>
}

/**
 * Starts `sms-otp serve ARGS` in `cwd` and resolves with its URL once it printed `listening on`
 * (and `ready`, when given, matches stdout too). Rejects with the output when it exits first.
 */
export async function startServeProcess(args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; ready?: RegExp }): Promise<ServeProcess> {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'serve', ...args], {
    cwd: options.cwd,
    env: { ...process.env, LOG_LEVEL: 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString()
  })
  const url = await new Promise<string>((ok, fail) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m && (options.ready === undefined || options.ready.test(out))) ok(m[1] as string)
    })
    child.once('exit', (code) => fail(new Error(`sms-otp exited with ${code}: ${out}${err}`)))
  })
  return {
    child,
    url,
    stdout: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((ok) => child.once('exit', ok))
      child.kill('SIGTERM')
      await exited
    },
  }
}
