/**
 * FileSMSProvider: LinOTP's test helper, also selectable. Writes `<phone>:<message>` to
 * `here/file` (overwriting, as LinOTP does). Two additions for demos and local development:
 * `append` keeps every message (one per line) and `echo` also prints each SMS to the terminal.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { configBool, configString, requireString } from './config-values.js'
import type { ProviderClass, SendResult, SmsProvider } from './types.js'

export interface FileOptions {
  /** Resolved path of the outbox file. */
  readonly path: string
  /** Append one line per SMS instead of overwriting. @default false */
  readonly append: boolean
  /** Also print each SMS to standard output (demo mode). @default false */
  readonly echo: boolean
}

export const FileSmsProviderClass: ProviderClass<FileOptions> = {
  id: 'FileSMSProvider',
  parse(config) {
    const file = requireString(config, 'file')
    const here = configString(config, 'here') ?? '.'
    return Object.freeze({ path: resolve(here, file), append: configBool(config.append), echo: configBool(config.echo) })
  },
  create(options): SmsProvider {
    return {
      async send(msg): Promise<SendResult> {
        const line = `${msg.phone}:${msg.text}`
        try {
          await mkdir(dirname(options.path), { recursive: true })
          if (options.append) await appendFile(options.path, `${line}\n`, { mode: 0o600 })
          else await writeFile(options.path, line, { mode: 0o600 })
        } catch (err) {
          return { status: 'unavailable', reason: `Failed to open file '${options.path}': ${(err as NodeJS.ErrnoException).code ?? 'error'}` }
        }
        // The terminal is this provider's delivery channel in demo mode, not a log.
        if (options.echo) process.stdout.write(`[sms-otp outbox] SMS to ${msg.phone}: ${msg.text}\n`)
        return { status: 'sent' }
      },
    }
  },
}
