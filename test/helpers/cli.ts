/**
 * Running the `sms-otp` command in tests: as a process (`node bin/sms-otp.js`, the way users run
 * it), under a pseudo-terminal (`script`), or in-process (the commander program, stdout captured).
 * Processes never inherit the developer's SMS_OTP_ENC_KEY or SMS_OTP_ADMIN_TOKEN.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { buildProgram } from '../../src/cli/program.js'

export const ROOT = join(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin/sms-otp.js')

/** What a CLI process printed and how it ended. */
export interface CliRun {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { SMS_OTP_ENC_KEY: _key, SMS_OTP_ADMIN_TOKEN: _token, ...inherited } = process.env
  return { ...inherited, ...extra }
}

const settle = (ok: (r: CliRun) => void) => (err: (Error & { code?: unknown }) | null, stdout: string, stderr: string): void =>
  ok({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })

/** Runs `sms-otp ARGS` as a process. */
export function cli(args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<CliRun> {
  return new Promise((ok) => {
    execFile(process.execPath, [BIN, ...args], { env: cleanEnv(env), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, settle(ok))
  })
}

/** Runs `sms-otp ARGS` under a pseudo-terminal (util-linux `script`): stdout and stderr arrive merged in `stdout`. */
export function cliTty(args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<CliRun> {
  const quote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`
  const cmd = [process.execPath, BIN, ...args].map(quote).join(' ')
  return new Promise((ok) => {
    execFile('script', ['-qfec', cmd, '/dev/null'], { env: cleanEnv(env), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, settle(ok))
  })
}

/** Runs the CLI in-process; resolves with what it printed on stdout and the error it ended with, if any. */
export async function runInProcess(args: readonly string[]): Promise<{ stdout: string; error?: Error }> {
  let stdout = ''
  const write = process.stdout.write.bind(process.stdout)
  // Strings only: the test runner reports through stdout too, in binary frames.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof chunk !== 'string') return (write as (c: Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest)
    stdout += chunk
    return true
  }) as typeof process.stdout.write
  try {
    await buildProgram().exitOverride().parseAsync(['node', 'sms-otp', ...args])
    return { stdout }
  } catch (error) {
    return { stdout, error: error as Error }
  } finally {
    process.stdout.write = write
  }
}

/** A temporary directory factory whose directories are removed after the file's tests. */
export function tempDirs(prefix: string): () => Promise<string> {
  const dirs: string[] = []
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))))
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), `sms-otp-${prefix}-`))
    dirs.push(dir)
    return dir
  }
}
