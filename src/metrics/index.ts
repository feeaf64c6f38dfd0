/**
 * Prometheus metrics of one engine (prom-client). Each {@link createMetrics} has a Registry of its
 * own, never prom-client's global one, so two engines in one process do not collide. Labels carry
 * provider names, endpoint names, outcomes and store operation names only: never a user, serial,
 * phone number, transaction id or OTP.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { AttemptResult, FailoverObserver } from '../providers/failover.js'

/** What one `/validate/*` request came to. */
export type ValidateOutcome = 'accepted' | 'rejected' | 'challenge' | 'error'

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Also collect prom-client's default process metrics (CPU, memory, event loop, GC) into this registry. @default false */
  readonly defaultMetrics?: boolean | undefined
}

/** Where the scrape-time gauges read from; set once by the engine ({@link SmsOtpMetrics.bind}). */
export interface MetricsSources {
  /** Open challenges now (`store.challenges.countOpen`). */
  readonly openChallenges: () => Promise<number>
  /** Every configured provider name (so a provider not backing off shows 0). */
  readonly providers: () => readonly string[]
  /** Providers inside a back-off period now. */
  readonly blockedProviders: () => readonly string[]
}

/** The metrics of one engine. Pass it to `createSmsOtp({ metrics })`. */
export interface SmsOtpMetrics extends FailoverObserver {
  /** The engine's own registry: `await registry.metrics()` is the text a scrape answers. */
  readonly registry: Registry
  /** Counts one `/validate/*` request. `endpoint`: `check`, `simplecheck`, `smspin`, `check_t`, `check_s`. */
  validate(endpoint: string, outcome: ValidateOutcome): void
  /** Records one store call (`op`: `tokens.get`, `challenges.issue`, …) that took `seconds`. */
  storeOperation(op: string, seconds: number): void
  /** Connects the scrape-time gauges to the engine; called by `createSmsOtp`. */
  bind(sources: MetricsSources): void
}

const PREFIX = 'sms_otp_'

/**
 * Creates the metrics with a fresh Registry.
 * @example
 * const metrics = createMetrics({ defaultMetrics: true })
 * const otp = await createSmsOtp({ metrics, ... })
 * res.type(metrics.registry.contentType).send(await metrics.registry.metrics())
 */
export function createMetrics(options: MetricsOptions = {}): SmsOtpMetrics {
  const registry = new Registry()
  const registers = [registry]
  let sources: MetricsSources | undefined
  const sent = new Counter({
    name: `${PREFIX}sms_sent_total`, help: 'SMS send attempts by provider and result (sent, rejected, unavailable, timeout)',
    labelNames: ['provider', 'result'] as const, registers,
  })
  const duration = new Histogram({
    name: `${PREFIX}sms_send_duration_seconds`, help: 'Duration of one send attempt through one provider',
    labelNames: ['provider'] as const, buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers,
  })
  const failovers = new Counter({
    name: `${PREFIX}failovers_total`, help: 'Sends that moved on from one provider (unavailable or backing off) to the next',
    labelNames: ['from', 'to'] as const, registers,
  })
  new Gauge({
    name: `${PREFIX}provider_backoff`, help: '1 while the provider is inside a back-off period, else 0',
    labelNames: ['provider'] as const, registers,
    collect() {
      this.reset() // a deleted provider disappears
      if (!sources) return
      const blocked = new Set(sources.blockedProviders())
      for (const name of new Set([...sources.providers(), ...blocked])) this.set({ provider: name }, blocked.has(name) ? 1 : 0)
    },
  })
  const validate = new Counter({
    name: `${PREFIX}validate_requests_total`, help: '/validate requests by endpoint and outcome (accepted, rejected, challenge, error)',
    labelNames: ['endpoint', 'outcome'] as const, registers,
  })
  new Gauge({
    name: `${PREFIX}open_challenges`, help: 'Challenges open now (SMS sent, not yet answered or expired)', registers,
    async collect() {
      if (sources) this.set(await sources.openChallenges())
    },
  })
  const store = new Histogram({
    name: `${PREFIX}store_operation_duration_seconds`, help: 'Duration of one store call by operation',
    labelNames: ['op'] as const, buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers,
  })
  if (options.defaultMetrics === true) collectDefaultMetrics({ register: registry, prefix: PREFIX })
  return {
    registry,
    attempt(provider: string, result: AttemptResult, seconds: number) {
      sent.inc({ provider, result })
      duration.observe({ provider }, seconds)
    },
    failover(from: string, to: string) {
      failovers.inc({ from, to })
    },
    validate(endpoint: string, outcome: ValidateOutcome) {
      validate.inc({ endpoint, outcome })
    },
    storeOperation(op: string, seconds: number) {
      store.observe({ op }, seconds)
    },
    bind(next: MetricsSources) {
      sources = next
    },
  }
}

export { instrumentStore } from './store.js'
