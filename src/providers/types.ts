import type { Logger } from '../logger.js'
import type { ProviderOrigin, ResourceContext } from './resources.js'

/** One SMS to deliver. `phone` has already been through MSISDN / SUPPRESS_PREFIX. */
export interface SmsMessage {
  /** Destination number as the gateway should see it. Never log it unmasked. */
  readonly phone: string
  /** Full SMS text. Contains the OTP: never log it. */
  readonly text: string
  /** Transaction id of the challenge this SMS belongs to (for receipts and gateway references). */
  readonly transactionId: string
}

/**
 * What a provider reports about one send.
 * - `sent`: the gateway accepted the message.
 * - `rejected`: the gateway refused it; retrying elsewhere will not help (bad number, bad credentials,
 *   gateway said FAIL). Ends the failover loop, like LinOTP's "provider returned false".
 * - `unavailable`: the gateway could not be reached (refused, timed out, 5xx on connect); the
 *   dispatcher blocks this provider for a back-off period and tries the next one.
 *
 * `reason` is for the audit and logs: it must not contain the SMS text or the full phone number.
 */
export type SendResult =
  | { readonly status: 'sent'; readonly gatewayId?: string }
  | { readonly status: 'rejected'; readonly reason: string }
  | { readonly status: 'unavailable'; readonly reason: string }

/** A configured provider instance. Built from a LinOTP class identifier and its JSON config. */
export interface SmsProvider {
  /** Delivers one message. Must honour `signal` (abort = give up, report unavailable). */
  send(msg: SmsMessage, signal: AbortSignal): Promise<SendResult>
  /** Optional connection check for `/system/testProvider`. */
  test?(signal: AbortSignal): Promise<SendResult>
  /** Releases pools, binds, ports. Idempotent. */
  close?(): Promise<void>
}

/** What a provider class receives when it is instantiated. */
export interface ProviderContext {
  /** Provider name, for log lines. */
  readonly name: string
  readonly logger: Logger
  /** Origin and resource policy of the definition (network destinations are judged with it). @default trusted (local), no allow-lists */
  readonly resources?: ResourceContext
}

/**
 * A provider class: parses and validates its configuration once (throwing `ConfigError` with a
 * message that names the key at fault), then builds instances. No I/O in `create`.
 */
export interface ProviderClass<Options = unknown> {
  /** Canonical short identifier, e.g. `HttpSMSProvider`. */
  readonly id: string
  /**
   * Validates the parsed JSON config (already merged with the provider-level attributes). Paths,
   * programs and literal destinations are judged against `resources` (see `resources.ts`) before
   * any file is touched. @throws ConfigError, or ResourceError (`ERR_OTP_RESOURCE_NOT_ALLOWED`)
   */
  parse(config: Record<string, unknown>, warn: (message: string) => void, resources?: ResourceContext): Options
  create(options: Options, ctx: ProviderContext): SmsProvider
}

/** A stored provider definition (LinOTP `SMSProvider.NAME*` keys). */
export interface ProviderRecord {
  readonly name: string
  /** Class identifier exactly as the admin gave it (any LinOTP form). */
  readonly className: string
  /** The config JSON text as given (secrets inside; stored encrypted). */
  readonly config: string
  /** OTP validity in seconds for SMS sent through this provider (Decision 1). @default 120 */
  readonly timeout: number
  /** Who defined it: `admin` (the admin HTTP API) is held to the resource allow-lists. @default 'local' */
  readonly origin?: ProviderOrigin
}
