/** The services every part of the engine shares; built once by `createSmsOtp`. */
import type { Clock } from './clock.js'
import type { Secrets } from './crypto/secrets.js'
import type { Logger } from './logger.js'
import type { Failover } from './providers/failover.js'
import type { Settings } from './settings/index.js'
import type { Store } from './stores/types.js'

export interface Core {
  readonly store: Store
  readonly settings: Settings
  readonly secrets: Secrets
  readonly clock: Clock
  readonly failover: Failover
  readonly logger: Logger
}
