/**
 * `sms-otp provider list` and `sms-otp provider test NAME --to NUMBER`: the configured providers
 * (never their config, which holds gateway credentials) and one real test SMS through one of them,
 * locally or through a running sidecar (`--url`, `/system/testProvider`). Numbers are masked.
 */
import type { Command } from 'commander'
import { describeError, isOtpError } from '../../errors.js'
import { maskPhone } from '../../phone/index.js'
import { CliError, emit, targetOptions, withTarget, type TargetOptions } from '../context.js'

/** One provider as `provider list` shows it. */
export interface ProviderRow {
  readonly name: string
  readonly class: string
  readonly timeout: number
  readonly default: boolean
}

/** What `provider test` reports. */
export interface ProviderTestResult {
  readonly provider: string
  /** The destination, masked. */
  readonly to: string
  readonly status: 'sent' | 'rejected' | 'unavailable' | 'error'
  readonly gatewayId?: string
  readonly reason?: string
  readonly ms: number
}

export function registerProvider(program: Command): void {
  const provider = program.command('provider').description('list and test SMS providers')
  targetOptions(provider.command('list').description('the configured providers (name, class, timeout, default; never their config)')).action(async (opts: TargetOptions) => {
    const rows = await withTarget(opts, async (target): Promise<ProviderRow[]> => {
      if (target.kind === 'local') return target.otp.providers.list().map((p) => ({ name: p.name, class: p.className, timeout: p.timeout, default: p.default }))
      const { value } = await target.admin.call<Record<string, { Class?: string; Timeout?: string; Default?: boolean }>>('/system/getProvider', { type: 'sms' })
      return Object.entries(value).map(([name, p]) => ({ name, class: String(p.Class ?? ''), timeout: Number(p.Timeout), default: p.Default === true }))
    })
    emit(opts, rows, () => (rows.length === 0 ? 'no providers' : rows.map((r) => `${r.name}${r.default ? ' (default)' : ''}  ${r.class}  timeout ${r.timeout}s`).join('\n')))
  })
  targetOptions(
    provider
      .command('test')
      .description('send ONE real test SMS through a provider and print the gateway answer')
      .argument('<name>', 'the provider')
      .requiredOption('--to <number>', 'the phone number to send the test SMS to'),
  ).action(async (name: string, opts: TargetOptions & { to: string }) => {
    const result = await testProvider(name, opts)
    emit(opts, result, () => {
      const what = result.status === 'sent' ? `sent${result.gatewayId === undefined ? '' : `, gateway message id ${result.gatewayId}`}` : `${result.status}: ${result.reason ?? ''}`
      return `provider ${result.provider} → ${result.to}: ${what} (${result.ms} ms)`
    })
    if (result.status !== 'sent') throw new CliError(`provider ${name}: test SMS not sent (${result.status})`)
  })
}

/** Sends the test SMS; a gateway failure is a result, a bad name or number a CliError. */
async function testProvider(name: string, opts: TargetOptions & { to: string }): Promise<ProviderTestResult> {
  const to = maskPhone(opts.to)
  return withTarget(opts, async (target) => {
    const started = performance.now()
    const ms = () => Math.round(performance.now() - started)
    if (target.kind === 'remote') {
      const { detail } = await target.admin.call('/system/testProvider', { type: 'sms', name, phone: opts.to })
      const status = detail?.status === 'sent' || detail?.status === 'rejected' || detail?.status === 'unavailable' ? detail.status : 'error'
      return { provider: name, to, status, ...text('gatewayId', detail?.gatewayId), ...text('reason', detail?.reason), ms: ms() }
    }
    try {
      const r = await target.otp.providers.test(name, opts.to)
      return { provider: name, to, ...r, ms: ms() }
    } catch (err) {
      // A deadline passed is an unavailable gateway; anything else (unknown provider, bad number) is the caller's.
      if (isOtpError(err, 'ERR_OTP_TIMEOUT')) return { provider: name, to, status: 'unavailable', reason: err.message, ms: ms() }
      throw new CliError(isOtpError(err) ? err.message : describeError(err))
    }
  })
}

function text<K extends string>(key: K, value: unknown): Partial<Record<K, string>> {
  return typeof value === 'string' && value !== '' ? ({ [key]: value } as Partial<Record<K, string>>) : {}
}
