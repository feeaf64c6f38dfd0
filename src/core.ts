/** The services every part of the engine shares; built once by `createSmsOtp`. */
import type { Clock } from './clock.js'
import type { Secrets } from './crypto/secrets.js'
import type { Logger } from './logger.js'
import type { Failover } from './providers/failover.js'
import type { Settings } from './settings/index.js'
import type { Store } from './stores/types.js'
import type { Users } from './users/realms.js'

export interface Core {
  readonly store: Store
  readonly settings: Settings
  readonly secrets: Secrets
  readonly clock: Clock
  readonly failover: Failover
  readonly logger: Logger
  /** User directories (realms of resolvers): `otppin=password` checks the directory password here. */
  readonly users: Users
}
